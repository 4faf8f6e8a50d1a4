"""Regenerate policies/schema/amlguard-policy.schema.json and the generated parts of policies/README.md.

Run `python -m amlguard.policy.gen_docs [POLICIES_DIR]` after changing an operator, a value type or
a rule of the default pack; tests/policy/test_schema.py fails until the committed files match.
"""

from __future__ import annotations

import sys
from pathlib import Path

from amlguard.policy.loader import default_policies_dir, load_pack
from amlguard.policy.schema import write_generated


def main(argv: list[str] | None = None) -> int:
    """Write the generated files; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else default_policies_dir()
    for path in write_generated(target, load_pack(target).rules):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
