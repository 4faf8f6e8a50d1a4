"""The JSON report (DESIGN.md contract 2): one resource / finding / diagnostic per line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from json import encoder as _encoder
from typing import Any

from amlguard.model import AuditReport, Finding

from ._common import ACTIONABLE, json_default

__all__ = ["json_chunks", "render_json"]

_CHUNK = 2048  # records per piece

# (markers, default, encode string, indent, key separator, item separator, sort keys, skip keys,
# allow NaN): what `JSONEncoder(ensure_ascii=False, default=json_default).iterencode` passes.
# `JSONEncoder.encode` would build a new C encoder per call, most of its cost on a small record.
_MAKE = getattr(_encoder, "c_make_encoder", None)
_ONE = _MAKE(None, json_default, _encoder.encode_basestring, None, ": ", ", ", False, False, True) if _MAKE else None


def _encode(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, default=json_default)`."""
    if _ONE is None:  # pragma: no cover - CPython always has the accelerator
        return json.dumps(value, ensure_ascii=False, default=json_default)
    return "".join(_ONE(value, 0))


class _Escaped(dict[str, str]):
    """String -> its JSON text, escaped on first use; a key that is not a str raises TypeError."""

    def __missing__(self, key: str) -> str:
        self[key] = text = _encoder.encode_basestring(key)
        return text


def _finding_encoder() -> Callable[[Finding], str]:
    """`_encode(finding.to_json())`, at about a third of the cost for the usual finding.

    A report repeats the same few strings (rule, status, title, remediation, a message per rule
    and value, a resource's id and source per rule): each is escaped once and the line is put
    together from the pieces. A finding with anything else (an exemption, a remediation record,
    a value of an unexpected type) is encoded from `to_json()`, the one definition of the record.
    """
    e = _Escaped()
    tails: dict[tuple[str, str | None, str], str] = {}  # (title, field, remediation) -> `, "title": ...}`

    def encode(f: Finding) -> str:
        line = f.line
        if f.exemption or f.changed_by or f.remediation_action or not (line is None or type(line) is int):
            return _encode(f.to_json())
        try:
            key = (f.title, f.field, f.remediation if f.status in ACTIONABLE else "")
            tail = tails.get(key)
            if tail is None:  # the optional keys in to_json's order, present when not empty
                rest = _encode({k: v for k, v in zip(("title", "field", "remediation"), key, strict=True) if v})
                tail = tails[key] = "}" if rest == "{}" else ", " + rest[1:]
            source = f.source
            return (f'{{"rule": {e[f.rule]}, "resource": {e[f.resource]}, "status": {e[f.status]}, '
                    f'"severity": {e[f.severity]}, "message": {e[f.message]}, '
                    f'"source": {"null" if source is None else e[source]}, '
                    f'"line": {"null" if line is None else line}{tail}')
        except TypeError:  # a value that is not a string, or not hashable
            return _encode(f.to_json())

    return encode


def _records(lines: Iterable[str]) -> Iterator[str]:
    """A JSON list laid out one record per line, in chunks of a few thousand records."""
    lines = iter(lines)
    chunk = ",\n    ".join(islice(lines, _CHUNK))
    if not chunk:
        yield "[]"
        return
    yield "[\n    " + chunk
    while chunk := ",\n    ".join(islice(lines, _CHUNK)):
        yield ",\n    " + chunk
    yield "\n  ]"


def json_chunks(report: AuditReport) -> Iterator[str]:
    """`render_json(report)` in pieces of some hundred kB, for writing a large report without
    holding it, and copies of it, whole in memory (the 5,000-file estate's report is 23 MB)."""
    yield f'{{\n  "summary": {_encode(report.summary())},\n  "resources": '
    yield from _records(_encode(r.summary()) for r in report.resources)
    yield ',\n  "findings": '
    yield from _records(map(_finding_encoder(), report.findings))
    yield ',\n  "diagnostics": '
    yield from _records(_encode(d.to_json()) for d in report.diagnostics)
    yield "\n}\n"


def render_json(report: AuditReport) -> str:
    """Contract-2 JSON: `AuditReport.to_json()` in contract key order, one resource / finding /
    diagnostic per line, newline-terminated.

    `indent=` would switch json to its pure-Python encoder (about 5x slower on 50,000 findings);
    encoding each record on one line with the C encoder and laying the lists out by hand keeps
    the output readable and diffable at the speed of compact JSON.
    """
    return "".join(json_chunks(report))
