"""The alert store and manager the service is wired with satisfy the Protocols it is typed with."""

from __future__ import annotations

import inspect

import pytest

from amlguard.alerts import AlertManager, StateStore
from amlguard.service.ports import AlertSink, AuditStore


def _methods(protocol: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in vars(protocol).items()
            if callable(member) and not name.startswith("_")}


@pytest.mark.parametrize(("protocol", "implementation"), [(AuditStore, StateStore), (AlertSink, AlertManager)])
def test_implementation_has_every_method_with_the_same_parameters(protocol: type, implementation: type) -> None:
    wanted = _methods(protocol)
    assert wanted  # the protocol declares methods, so the comparison below means something
    for name, signature in wanted.items():
        member = getattr(implementation, name, None)
        assert member is not None, f"{implementation.__name__} has no {name}"
        have = inspect.signature(member).parameters
        for param in signature.parameters.values():
            assert param.name in have, f"{implementation.__name__}.{name} lacks parameter {param.name}"
            assert have[param.name].kind == param.kind, f"{implementation.__name__}.{name}({param.name}) kind"
