"""Opt-in remediation: actions a policy rule names (`effect: remediate`), dry run by default,
with a max-resources brake and a record of who changed what, when, before and after.

The runner's names load on first use: the policy loader checks every `remediate:` block against
`actions` on each load, and the runner (ARM clients, planning) is for runs that remediate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amlguard.lazy import lazy_getattr
from amlguard.remediation.actions import ACTIONS, Action, ApplyResult, ArmWriter, register, zero_traffic

if TYPE_CHECKING:
    from amlguard.remediation.runner import (
        PlannedAction,
        RemediationRecord,
        annotate,
        apply,
        arm_clients,
        brake_reason,
        default_actor,
        parse_max_resources,
        plan,
        remediate,
        remediate_from_args,
    )

__all__ = ["ACTIONS", "Action", "ApplyResult", "ArmWriter", "PlannedAction", "RemediationRecord",
           "annotate", "apply", "arm_clients", "brake_reason", "default_actor",
           "parse_max_resources", "plan", "register", "remediate", "remediate_from_args", "zero_traffic"]
_RUNNER = ("PlannedAction", "RemediationRecord", "annotate", "apply", "arm_clients", "brake_reason", "default_actor",
           "parse_max_resources", "plan", "remediate", "remediate_from_args")
__getattr__ = lazy_getattr(__name__, dict.fromkeys(_RUNNER, "runner"), globals())
