"""Opt-in remediation: actions a policy rule names (`effect: remediate`), dry run by default,
with a max-resources brake and a record of who changed what, when, before and after."""

from amlguard.remediation.actions import (
    ACTIONS,
    Action,
    ApplyResult,
    ArmWriter,
    register,
    zero_traffic,
)
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
