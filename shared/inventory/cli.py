"""`amlguard inventory PATH...`: show what the file inventory reads, field by field.

For policy authors: the canonical fields a rule can name, their values after normalisation,
the line each comes from, which values are Azure defaults and which hold placeholders.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from amlguard.inventory.files import load_paths
from amlguard.model import Resource

__all__ = ["resource_json", "run"]


_SHOWN = ("id", "kind", "name", "compute_type", "workspace", "subscription_id", "resource_group", "endpoint_name",
          "origin", "live", "source", "line", "fields", "lines")


def resource_json(resource: Resource) -> dict[str, Any]:
    """Everything the engine sees of one resource, as JSON-ready data."""
    out = {name: getattr(resource, name) for name in _SHOWN}
    out["defaulted"], out["templated"] = sorted(resource.defaulted), sorted(resource.templated)
    return out


def _flatten(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        out: list[tuple[str, Any]] = []
        for key, item in value.items():
            out.extend(_flatten(item, f"{path}.{key}" if path else str(key)))
        return out
    return [(path, value)]


def _table(resources: list[Resource], out: TextIO) -> None:
    for res in resources:
        compute = f" ({res.compute_type})" if res.compute_type else ""
        out.write(f"{res.kind}{compute}  {res.name}  {res.id}\n  {res.source}:{res.line}\n")
        for path, value in _flatten(res.fields):
            marks = []
            if path in res.defaulted:
                marks.append("azure default")
            if path in res.templated:
                marks.append("placeholder")
            note = f"  [{', '.join(marks)}]" if marks else ""
            where = res.lines.get(path)
            out.write(f"    {path} = {json.dumps(value, default=str)}"
                      f"{f'  (line {where})' if where else ''}{note}\n")
        out.write("\n")


def run(argv: list[str]) -> int:
    """Entry point of `amlguard inventory`; 0 when everything was read, 1 with diagnostics (a file
    not read, a path named that holds nothing to audit), 2 on usage errors (a path that does not exist)."""
    parser = argparse.ArgumentParser(prog="amlguard inventory", description=__doc__)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (YAML, ARM / az ml JSON)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors; keep that code, do not exit here
        return int(exc.code or 0)
    missing = [path for path in args.paths if not os.path.exists(path)]
    if missing:  # a usage error, as in `amlguard audit`: nothing was read
        print(f"amlguard inventory: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    result = load_paths(args.paths)
    if args.format == "json":
        json.dump({"resources": [resource_json(r) for r in result.resources],
                   "diagnostics": [d.to_json() for d in result.diagnostics]}, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        _table(result.resources, sys.stdout)
        for diag in result.diagnostics:
            sys.stdout.write(f"{diag.source}{f':{diag.line}' if diag.line else ''}: {diag.message}\n")
        sys.stdout.write(f"{len(result.resources)} resources, {len(result.diagnostics)} diagnostics\n")
    return 1 if result.diagnostics else 0
