"""`amlguard policy validate DIR` and `amlguard policy test DIR` (exit 0 ok, 1 test failures or a field no
targeted kind has, 2 invalid)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from amlguard.config import Settings
from amlguard.errors import AmlguardError, ConfigError, render_problems
from amlguard.policy.loader import validate_dir
from amlguard.policy.testing import format_results, run_policy_tests

__all__ = ["add_policy_arguments", "pack_roots", "run", "settings_from_args"]


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the pack flags of an audit-like command: which packs (`--policies PATH` repeatable,
    `--no-default-policies`), which of their rules (`--rule`, `--skip-rule`), `--param NAME=VALUE`
    and `--environment NAME`. Defaults are None, so a project config file can fill them in."""
    group = parser.add_argument_group("policy pack")
    group.add_argument("--policies", action="append", metavar="PATH",
                       help="a policy pack (folder or file) to load beside the bundled one; repeatable; a rule "
                            "id defined by two packs is an error")
    group.add_argument("--no-default-policies", action="store_true", default=None,
                       help="leave the bundled pack (or AMLGUARD_POLICIES) out: only the --policies packs")
    group.add_argument("--rule", action="append", metavar="ID_OR_GLOB",
                       help="audit only the rules matching ID_OR_GLOB (e.g. AMLG-NET-*); repeatable")
    group.add_argument("--skip-rule", action="append", metavar="ID_OR_GLOB",
                       help="leave out the rules matching ID_OR_GLOB; repeatable")
    group.add_argument("--param", action="append", metavar="NAME=VALUE",
                       help="set a rule parameter for this run (NAME for every rule declaring it, or "
                            "RULE-ID.NAME); lists as a,b or [a, b]; repeatable")
    group.add_argument("--environment", metavar="NAME",
                       help="select the policy overrides written for this environment "
                            "(default: $AMLGUARD_ENVIRONMENT)")


def settings_from_args(args: argparse.Namespace, settings: Settings) -> Settings:
    """`settings` with what --param and --environment say (flags win over app settings)."""
    changes: dict[str, Any] = {}
    if getattr(args, "environment", None):
        changes["environment"] = args.environment
    if getattr(args, "param", None):
        changes["parameters"] = tuple(args.param)
    return dataclasses.replace(settings, **changes) if changes else settings


def pack_roots(args: argparse.Namespace, settings: Settings) -> list[Path]:
    """The packs an audit loads (with `amlguard.service.pipeline.load_policy_pack`, as every
    trigger does): the base pack (`settings.policies_dir`: bundled, or AMLGUARD_POLICIES) unless
    --no-default-policies, with every --policies pack beside it, each once. Then `select_rules`
    applies --rule / --skip-rule. Raises ConfigError when that leaves no pack."""
    roots = [] if args.no_default_policies else [settings.policies_dir]
    roots += [Path(p) for p in args.policies or ()]
    if not roots:
        raise ConfigError("--no-default-policies leaves no policy pack: add one with --policies PATH")
    return list({os.path.realpath(root): root for root in roots}.values())  # the bundled pack named again


def run(argv: list[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Entry point of `amlguard policy ...`; returns the exit code."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = argparse.ArgumentParser(prog="amlguard policy", description="Validate and test amlguard policies.")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="check every policy file under DIR against the schema")
    validate.add_argument("dir", metavar="DIR", help="policy folder or file (e.g. policies/)")
    test = sub.add_parser("test", help="run the PolicyTest files under DIR")
    test.add_argument("dir", metavar="DIR", help="folder holding PolicyTest files (e.g. policies/)")
    test.add_argument("--policies", metavar="DIR", help="policy pack to test (default: DIR or the nearest parent)")
    test.add_argument("-v", "--verbose", action="store_true", help="list passing expectations too")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    try:
        if args.command == "validate":
            problems = validate_dir(args.dir)
            if problems:
                print(render_problems(problems), file=out)
                print(f"{len(problems)} problem(s); the policy folder is refused as a whole", file=err)
                return 2
            from amlguard.policy.fieldcheck import unknown_fields

            warnings = unknown_fields(args.dir)
            if warnings:  # valid policy that cannot do what it says: exit 1, so CI notices
                print(render_problems(warnings), file=out)
                print(f"{args.dir}: policy files are valid, with {len(warnings)} warning(s)", file=err)
                return 1
            print(f"{args.dir}: policy files are valid", file=out)
            return 0
        results, problems = run_policy_tests(args.dir, policies=args.policies)
    except AmlguardError as exc:
        print(f"error: {exc}", file=err)
        return 2
    if problems:
        print(render_problems(problems), file=out)
        return 2
    if not results:
        print(f"{args.dir}: no PolicyTest files found", file=err)
        return 2
    print(format_results(results, verbose=args.verbose), file=out)
    return 0 if all(r.ok for r in results) else 1
