"""The pre-commit hook (.pre-commit-hooks.yaml): audit the staged Azure ML YAML / JSON / Bicep.

pre-commit names every staged file that matches the hook's pattern: workflows, conda
environments and other YAML among them. Those are skipped as inside a folder (quietly); a file that
looks like an Azure ML resource but cannot be read still fails the hook, as in `amlguard audit`.

`python -m amlguard.ci.precommit [--audit-option=VALUE...] FILE...` (pre-commit appends the files).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["azure_ml_files", "main", "split_arguments"]


def azure_ml_files(files: Sequence[str]) -> list[str]:
    """The files amlguard reads resources from, or that hold an Azure ML resource it cannot read
    (a diagnostic with a line: broken YAML with a `$schema`, say); unreadable files stay too."""
    from amlguard.inventory import load_paths

    kept = []
    for name in files:
        result = load_paths([name])
        if (result.resources or result.errors or any(d.line for d in result.diagnostics)
                or not os.access(name, os.R_OK)):
            kept.append(name)
    return kept


def split_arguments(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """pre-commit runs `entry`, then the hook's `args`, then the files: options are the words that
    start with `-` (written `--fail-on=medium`, one word each), files the rest (or all after `--`)."""
    if "--" in args:
        cut = list(args).index("--")
        return list(args[:cut]), list(args[cut + 1:])
    return [a for a in args if a.startswith("-")], [a for a in args if not a.startswith("-")]


def main(argv: Sequence[str] | None = None) -> int:
    from amlguard.cli import main as cli_main

    options, files = split_arguments(sys.argv[1:] if argv is None else argv)
    if not files:
        return 0
    kept = azure_ml_files(files)
    if not kept:
        print(f"amlguard: none of the {len(files)} staged file(s) is an Azure ML resource; nothing to audit")
        return 0
    return cli_main(["audit", *options, *kept])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
