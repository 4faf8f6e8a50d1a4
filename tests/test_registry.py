"""The one registry every extension point uses: registration order, and a taken name refused."""

from __future__ import annotations

from typing import Any

import pytest

from amlguard.alerts.notifiers import base as notifiers
from amlguard.monitor.signals import SIGNALS, register_signal
from amlguard.policy.documents import DOCUMENT_KINDS, register_document_kind
from amlguard.policy.operators import OPERATORS
from amlguard.policy.valuetypes import VALUE_TYPES
from amlguard.registry import Registry
from amlguard.remediation.actions import ACTIONS
from amlguard.remediation.actions import register as register_action


def test_registry_keeps_registration_order_and_refuses_a_taken_name() -> None:
    widgets: Registry[int] = Registry("widget")
    widgets.add("b", 2)
    widgets.add("a", 1)
    assert list(widgets) == ["b", "a"] and widgets["a"] == 1
    with pytest.raises(ValueError, match=r"widget 'a' is registered twice \(1 and 3\); give one of them another"):
        widgets.add("a", 3)
    assert widgets["a"] == 1


@pytest.mark.parametrize(("registry", "what"), [
    (OPERATORS, "operator"), (VALUE_TYPES, "value type"), (DOCUMENT_KINDS, "policy document kind"),
    (SIGNALS, "monitor signal"), (ACTIONS, "remediation action"), (notifiers._REGISTRY, "notifier"),
])
def test_every_extension_point_is_a_registry(registry: Registry[Any], what: str) -> None:
    notifiers.notifier_kinds()  # imports the built-in notifiers
    assert isinstance(registry, Registry) and registry.what == what and registry


def test_registering_a_built_in_name_again_is_refused() -> None:
    with pytest.raises(ValueError, match="policy document kind 'PolicyTest' is registered twice"):
        register_document_kind("PolicyTest", dict)
    taken = SIGNALS["latency_p95"]
    with pytest.raises(ValueError, match="monitor signal 'latency_p95' is registered twice"):
        register_signal(taken)
    with pytest.raises(ValueError, match="remediation action 'tag' is registered twice"):
        register_action("tag")(ACTIONS["tag"])
    with pytest.raises(ValueError, match="notifier 'teams' is registered twice"):
        notifiers.register("teams")(notifiers.notifier_kinds()["teams"])
