"""Infrastructure as code in the file inventory: the Azure ML resources an ARM template or a Bicep
file declares become Resources like any ARM object (same converter, same rules), with the file and
line of each property; what cannot be known before deployment is kept as written and reported as a
placeholder. Also says, for a file named on the command line that gave nothing to audit, what it
was read as and why nothing came out of it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from amlguard.inventory.arm import build_from_arm
from amlguard.inventory.armtemplate import Declared, Expansion, expand, is_template, parameters_beside
from amlguard.inventory.bicep import BicepError, read_bicep, read_bicepparam
from amlguard.inventory.recognize import arm_kind
from amlguard.inventory.templates import string_paths

if TYPE_CHECKING:
    from amlguard.inventory.walk import File
    from amlguard.model import Resource

Diagnose = Callable[[int | None, str], None]  # (line, message): a diagnostic about the file being read

__all__ = ["read_bicep_file", "read_template", "why_nothing"]

_AML = "microsoft.machinelearningservices"


def _resources(file: File, declared: Iterable[Declared]) -> list[Resource]:
    out = []
    for item in declared:
        if arm_kind(item.obj) is None:
            continue
        resource = build_from_arm(item.obj, source=file.display, lines=item.lines, line=item.line)
        if resource is None:
            continue
        if item.loop:  # one resource stands for the loop's copies
            resource.fields["copy_loop"] = item.loop
        if item.opaque:
            paths = string_paths(resource.fields, item.opaque.__contains__)
            if item.obj.get("name") in item.opaque or resource.name in item.opaque:
                paths.add("name")  # e.g. `tpl-[copyIndex()]`, `${prefix}-ci`: known only at deployment
            resource.templated = frozenset(paths)
        out.append(resource)
    return out


def _parameters(file: File) -> tuple[dict[str, Any], str | None, str | None]:
    return parameters_beside(file.path) if file.root else ({}, None, None)


def read_template(file: File, value: dict[str, Any], lines: dict[str, int] | None,
                  diagnose: Diagnose) -> list[Resource]:
    """The Azure ML resources an ARM deployment template declares, not yet finished."""
    values, _, problem = _parameters(file)
    if problem:
        diagnose(None, problem)
    expansion = expand(value, lines, parameters=values)
    _report(diagnose, expansion, "template")
    return _resources(file, expansion.resources)


def read_bicep_file(file: File, text: str, diagnose: Diagnose) -> list[Resource]:
    """The Azure ML resources a Bicep file declares, not yet finished; what it cannot read becomes
    a diagnostic with its line when the file declares Azure ML resources (else it is not ours)."""
    ours = _AML in text.lower()
    values, _, problem = _parameters(file)
    values.update(_bicepparam(file))
    try:
        expansion = read_bicep(text, parameters=values)
    except BicepError as exc:
        if ours:
            diagnose(exc.line, f"cannot read this Bicep file: {exc} (line {exc.line}); amlguard reads param, var "
                               "and resource declarations: check the syntax there (`az bicep build` says the same)")
        return []
    if ours:
        if problem:
            diagnose(None, problem)
        _report(diagnose, expansion, "Bicep file")
    return _resources(file, expansion.resources)


def _bicepparam(file: File) -> dict[str, Any]:
    """`param x = <value>` lines of the `<name>.bicepparam` beside a Bicep file, values known."""
    stem, _ = os.path.splitext(file.path)
    path = f"{stem}.bicepparam"
    if not file.root or not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return read_bicepparam(handle.read())
    except (OSError, UnicodeDecodeError, BicepError):
        return {}


def _report(diagnose: Diagnose, expansion: Expansion, what: str) -> None:
    for line, message in expansion.problems:
        diagnose(line, f"this part of the {what} was not read: {message}")


def why_nothing(path: str) -> str | None:
    """What a file named on the command line was read as and why it gave nothing to audit, when
    that is more than "no Azure ML resource in it": an ARM template or Bicep file without Azure ML
    resources (or one that cannot be read), a parameters file, a `$schema` of another kind."""
    lower = path.lower()
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read(4 * 1024 * 1024)
    except (OSError, UnicodeDecodeError):
        return None
    if lower.endswith(".bicep"):
        try:
            expansion = read_bicep(text)
        except BicepError as exc:
            return f"read as Bicep, but it cannot be read: {exc} (line {exc.line})"
        return _none_of_ours("Bicep file", expansion)
    if lower.endswith(".bicepparam"):
        return "read as a Bicep parameters file: it holds values for a Bicep file, not resources; name the .bicep file"
    value: Any = None
    if lower.endswith(".json"):
        try:
            value = json.loads(text)
        except ValueError:
            return None
    if isinstance(value, dict) and "deploymentparameters" in str(value.get("$schema", "")).lower():
        return ("read as an ARM parameters file: it holds values for a template, not resources; name the template "
                "(amlguard reads the parameters file beside it)")
    if is_template(value):
        return _none_of_ours("ARM template", expand(value))
    return None


def _none_of_ours(what: str, expansion: Expansion) -> str:
    types = sorted({str(d.obj.get("type")) for d in expansion.resources})
    problems = "; ".join(f"line {line}: {message}" for line, message in expansion.problems[:3])
    unread = f" (not read: {problems})" if problems else ""
    if not types:
        return f"read as an {what}, but it declares no resource{unread}" if what.startswith("ARM") else \
            f"read as a {what}, but it declares no resource{unread}"
    article = "an" if what.startswith("ARM") else "a"
    return (f"read as {article} {what}: it declares {len(expansion.resources)} resource(s) of type "
            f"{', '.join(types[:8])}{' ...' if len(types) > 8 else ''}, none an Azure ML resource amlguard audits "
            f"(workspaces, endpoints, deployments, computes, registries, serverless endpoints, datastores, "
            f"environments){unread}")
