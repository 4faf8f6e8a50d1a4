"""Policy language, engine and default pack loader: load, validate, compile, evaluate, exempt.

Public surface: `load_pack` gives a compiled `PolicyPack` whose `evaluate` turns resources into
findings; `validate_dir` and `run` implement `amlguard policy validate|test`; operators,
value types and document kinds register themselves (see policies/README.md).
"""

from amlguard.policy import testing as _testing  # noqa: F401 - registers kind: PolicyTest
from amlguard.policy.cli import add_policy_arguments, pack_roots, run, settings_from_args
from amlguard.policy.documents import register_document_kind
from amlguard.policy.engine import Exemption, Override, Parameter, PolicyPack, Rule
from amlguard.policy.loader import default_policies_dir, load_pack, parse_param_args, select_rules, validate_dir
from amlguard.policy.operators import register
from amlguard.policy.valuetypes import register_value_type

__all__ = ["Exemption", "Override", "Parameter", "PolicyPack", "Rule", "add_policy_arguments", "default_policies_dir",
           "load_pack", "pack_roots", "parse_param_args", "register", "register_document_kind",
           "register_value_type", "run", "select_rules", "settings_from_args", "validate_dir"]
