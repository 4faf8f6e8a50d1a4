"""The typed seams: AlertManager and StateStore provide every member of the Protocols other
areas are typed with, with the same parameters (names, kinds, defaults)."""

from __future__ import annotations

import inspect

import pytest

from amlguard.alerts import AlertFacade, AlertManager, StateStore, StateStoreProtocol


def _members(protocol: type) -> list[str]:
    return [name for name, value in vars(protocol).items() if inspect.isfunction(value) and not name.startswith("_")]


@pytest.mark.parametrize(("protocol", "implementation"), [(AlertFacade, AlertManager),
                                                          (StateStoreProtocol, StateStore)])
def test_implementation_matches_protocol(protocol: type, implementation: type) -> None:
    members = _members(protocol)
    assert len(members) >= 10
    for name in members:
        wanted = inspect.signature(getattr(protocol, name))
        actual = inspect.signature(getattr(implementation, name))
        assert [(p.name, p.kind, p.default) for p in actual.parameters.values()] == [
            (p.name, p.kind, p.default) for p in wanted.parameters.values()], name
        assert actual.return_annotation == wanted.return_annotation, name


def test_manager_has_the_due_listener_attribute(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from amlguard.alerts import open_store

    with open_store(tmp_path) as store:
        assert AlertManager(store).on_due is None
