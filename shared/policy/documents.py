"""Policy documents on disk: the document-kind registry, reading YAML files, schema errors with lines.

Every amlguard policy file is YAML with `apiVersion: amlguard/v1` and a top-level `kind:`. Each
kind registers itself with `register_document_kind(name, schema_fn, loader)`: amlguard.policy
registers `AuditRules` and `PolicyTest`; the monitoring and alerting areas register
`MonitorRules` and `AlertRouting` from their own modules, imported when a file of that kind is
first read (so loading an audit pack does not import them). jsonschema checks structure; each
error is mapped back to file, line and field through the line map of shared/yamlsource.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from amlguard.errors import PolicyError
from amlguard.policy.operators import show
from amlguard.registry import Registry
from amlguard.yamlsource import Duplicate, LocatedDocument, YamlSourceError, load_documents

__all__ = [
    "API_VERSION",
    "DOCUMENT_KINDS",
    "DocumentKind",
    "PolicyDocument",
    "Problem",
    "document_kind",
    "prune_cache",
    "read_documents",
    "register_document_kind",
    "schema_errors",
    "schema_problems",
    "validate_documents",
]

API_VERSION = "amlguard/v1"
Problem = tuple[str | None, int | None, str, str]  # (file, line, field path, message)

# kinds registered by other areas' modules, imported on first use (they import this module)
_KIND_OWNERS: dict[str, str] = {
    "MonitorRules": "amlguard.monitor.rules",
    "AlertRouting": "amlguard.alerts.config",
}


@dataclass(frozen=True, slots=True)
class DocumentKind:
    """A kind of policy document: its JSON Schema and a loader that checks meaning.

    `loader(document, file)` returns the parsed object and raises PolicyError (with every
    problem: file, line, field, message) when the document is well-formed but wrong.
    """

    name: str
    schema_fn: Callable[[], dict[str, Any]]
    loader: Callable[[LocatedDocument, str], Any] | None = None
    # the loader copes with schema-invalid documents, so its checks of meaning run (and are
    # reported) even when the structure is wrong
    tolerant: bool = False


DOCUMENT_KINDS: Registry[DocumentKind] = Registry("policy document kind")


def register_document_kind(name: str, schema_fn: Callable[[], dict[str, Any]],
                           loader: Callable[[LocatedDocument, str], Any] | None = None, *,
                           tolerant: bool = False) -> None:
    """Make `kind: <name>` files known to `amlguard policy validate`; a taken name is a ValueError.

    `schema_fn()` gives the JSON Schema of one document; `loader(document, file)` checks its
    meaning and raises PolicyError listing every problem. With `tolerant`, the loader also runs
    on documents the schema rejected (it must skip what it cannot read).
    """
    DOCUMENT_KINDS.add(name, DocumentKind(name, schema_fn, loader, tolerant))
    _VALID_DOCUMENTS.clear()  # the kind's schema may have changed


def document_kind(name: str) -> DocumentKind | None:
    """The registered kind `name`, importing the module that registers it on first use."""
    if name not in DOCUMENT_KINDS and name in _KIND_OWNERS:
        importlib.import_module(_KIND_OWNERS[name])
    kind: DocumentKind | None = DOCUMENT_KINDS.get(name)
    return kind


@dataclass(slots=True)
class PolicyDocument:
    """One YAML document of a policy file."""

    file: str
    index: int
    doc: LocatedDocument

    @property
    def kind(self) -> str | None:
        value = self.doc.value
        kind = value.get("kind") if isinstance(value, dict) else None
        return kind if isinstance(kind, str) else None


def _policy_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = [p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    # hidden folders (.git, .venv) are never policy
    return sorted(p for p in files if not any(part.startswith(".") for part in p.relative_to(path).parts))


def _parse(data: bytes, cache_dir: Path | None, written: list[Path]) -> list[LocatedDocument]:
    """`load_documents` of a policy file's text, remembered under `cache_dir` by a digest of its
    bytes and of the parser (amlguard, PyYAML and Python versions, yamlsource's file): a CLI run
    that finds every file there parses none, a fifth of a small audit's time. What JSON cannot
    give back exactly (a key that is not a string) is not remembered; a broken entry is parsed
    again. An entry written is added to `written`."""
    if cache_dir is None:
        return load_documents(_text(data))
    entry = cache_dir / "parsed" / hashlib.sha256(_parser_stamp() + data).hexdigest()
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        return [LocatedDocument(value, line, lines, [Duplicate(*d) for d in duplicates])
                for value, line, lines, duplicates in json.loads(entry.read_bytes())]
    documents = load_documents(_text(data))
    plain = [[d.value, d.line, d.lines, [[u.path, u.first_line, u.line] for u in d.duplicates]] for d in documents]
    with contextlib.suppress(OSError, ValueError, TypeError):
        text = json.dumps(plain)
        if json.loads(text) == plain:
            entry.parent.mkdir(parents=True, exist_ok=True)
            partial = entry.with_name(f"{entry.name}.{os.getpid()}")
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, entry)  # whole or not at all, whatever runs beside
            written.append(entry)
    return documents


CACHE_ENTRIES = 2000  # per cache folder: every pack version a user audits with leaves entries


def prune_cache(folder: Path) -> None:
    """Keep a cache folder of amlguard's to CACHE_ENTRIES files: past that, the least recently
    written half goes (asked after a run that wrote to it, which a run with a known pack is not)."""
    with contextlib.suppress(OSError):
        entries = list(os.scandir(folder))
        if len(entries) > CACHE_ENTRIES:
            entries.sort(key=lambda e: e.stat().st_mtime_ns)
            for stale in entries[:len(entries) // 2]:
                with contextlib.suppress(OSError):
                    os.unlink(stale.path)


def _text(data: bytes) -> str:
    """The file's text as `Path.read_text` gives it (universal newlines)."""
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


@functools.cache
def _parser_stamp() -> bytes:
    from amlguard import __version__, yamlsource

    source = os.stat(yamlsource.__file__)
    return f"{__version__} {yaml.__version__} {sys.version} {source.st_mtime_ns} {source.st_size}\n".encode()


def read_documents(path: str | Path, *, problems: list[Problem], cache_dir: Path | None = None,
                   others: list[PolicyDocument] | None = None) -> list[PolicyDocument]:
    """Every amlguard document under `path` (a file or a folder, recursively).

    A document is an amlguard document when it has `apiVersion` or `kind`; any other mapping (an
    Azure ML resource used as a test fixture, a monitor schedule) is skipped, or appended to
    `others` when given. Unreadable YAML and a wrong apiVersion go to `problems`. With
    `cache_dir`, each file's parse is remembered there (see `_parse`).
    """
    root = Path(path)
    if not root.exists():
        problems.append((str(root), None, "", "no such file or folder; pass the folder holding the policy "
                                              "YAML (e.g. policies/)"))
        return []
    out: list[PolicyDocument] = []
    written: list[Path] = []
    for file in _policy_files(root):
        name = str(file)
        try:
            docs = _parse(file.read_bytes(), cache_dir, written)
        except UnicodeDecodeError:
            problems.append((name, None, "", "not UTF-8 text"))
            continue
        except OSError as exc:
            problems.append((name, None, "", f"cannot read: {exc.strerror or exc}"))
            continue
        except YamlSourceError as exc:
            problems.append((name, exc.line, "", str(exc)))
            continue
        for index, doc in enumerate(docs):
            value = doc.value
            if not isinstance(value, dict):
                continue
            if "apiVersion" not in value and "kind" not in value:
                if others is not None:
                    others.append(PolicyDocument(name, index, doc))
                continue
            if value.get("apiVersion") != API_VERSION:
                got = f"got {show(value.get('apiVersion'))}" if "apiVersion" in value else "it is missing"
                problems.append((name, doc.line_of("apiVersion"), "apiVersion",
                                 f"expected '{API_VERSION}' ({got})"))
                continue
            # a key given twice would silently drop a rule or a parameter: the pack is refused
            problems.extend((name, dup.line, dup.path, dup.message()) for dup in doc.duplicates)
            document = PolicyDocument(name, index, doc)
            # a kind nobody reads would vanish from every loader that picks its own kind out of
            # the folder (`kind: AuditRule` took its rules with it): it is refused here, once
            if document.kind not in _known_kinds():
                problems.append(_kind_problem(document))
                continue
            out.append(document)
    if written:  # once per folder read, not per file: pruning lists the whole cache folder
        prune_cache(written[0].parent)
    return out


def _kind_problem(document: PolicyDocument) -> Problem:
    """What is wrong with a document's `kind:`: missing, not text, or not a known kind."""
    kind_name, value = document.kind, document.doc.value
    if kind_name is None:
        got = f" (got {show(value.get('kind'))})" if "kind" in value else ""
        return (document.file, document.doc.line_of("kind"), "kind",
                f"expected the document kind, one of {', '.join(_known_kinds())}{got}")
    close = difflib.get_close_matches(kind_name, _known_kinds(), n=1)
    suggestion = f" (did you mean '{close[0]}'?)" if close else ""
    return (document.file, document.doc.line_of("kind"), "kind",
            f"unknown kind '{kind_name}'{suggestion}; expected one of {', '.join(_known_kinds())}")


def _expected_text(schema: dict[str, Any]) -> str | None:
    hint = schema.get("x-expected")
    return hint if isinstance(hint, str) else None


_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
               "array": "a list", "object": "a mapping", "null": "null"}


def _describe_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "null" if value is None else type(value).__name__


def _leaf_error(error: Any) -> Any:
    """For anyOf/oneOf failures, the most telling error among the alternatives."""
    from jsonschema.exceptions import best_match

    while error.validator in ("anyOf", "oneOf") and error.context:
        if isinstance(error.schema, dict) and error.schema.get("x-expected"):
            break  # the alternatives' own words are less clear than the hint written for them
        # skip the `{param: name}` alternative when the value is clearly not a reference
        relevant = [e for e in error.context if "param" not in (e.schema.get("required") or [])]
        error = best_match(relevant or error.context)
    return error


def _message(error: Any) -> tuple[str, str]:
    """(extra path suffix, message naming what was expected) for one jsonschema error."""
    error = _leaf_error(error)
    schema = error.schema if isinstance(error.schema, dict) else {}
    hint = _expected_text(schema)
    validator = error.validator
    instance = error.instance
    if validator == "additionalProperties":
        allowed = list((schema.get("properties") or {}).keys())
        extras = [k for k in instance if k not in allowed] if isinstance(instance, dict) else []
        key = str(extras[0]) if extras else ""
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        suggestion = f" (did you mean '{close[0]}'?)" if close else ""
        expected = hint or ("one of " + ", ".join(allowed))
        return key, f"unknown field '{key}'{suggestion}; expected {expected}"
    if validator == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else str(error.message)
        return missing, f"required field '{missing}' is missing" + (f"; {hint}" if hint else "")
    if validator == "enum":
        return "", f"expected one of {', '.join(str(v) for v in error.validator_value)} (got {show(instance)})"
    if validator == "const":
        return "", f"expected {show(error.validator_value)} (got {show(instance)})"
    if validator == "type":
        wanted = error.validator_value
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        words = " or ".join(_TYPE_WORDS.get(n, n) for n in names)
        return "", f"expected {hint or words} (got {_describe_type(instance)} {show(instance)})"
    if validator == "pattern":
        return "", f"expected {hint or 'text matching ' + error.validator_value} (got {show(instance)})"
    if validator == "format":
        return "", f"expected {hint or 'a valid ' + str(error.validator_value)} (got {show(instance)})"
    if validator in ("minItems", "minProperties"):
        return "", f"expected {hint or 'at least ' + str(error.validator_value) + ' entries'}"
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength"):
        return "", f"expected {hint or error.message}"
    if validator == "uniqueItems":
        return "", "expected every entry once (the list has duplicates)"
    return "", (f"expected {hint} (got {show(instance)})" if hint else error.message)


def schema_errors(value: Any, schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(dotted field path, message naming what was expected) of every structural problem of
    `value` against `schema`, each once: the words every kind of policy file reports them in."""
    from jsonschema import Draft202012Validator, FormatChecker

    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    found: dict[tuple[str, str], None] = {}
    for error in validator.iter_errors(value):
        suffix, message = _message(error)
        parts = [str(p) for p in _leaf_error(error).absolute_path]
        if suffix:
            parts.append(suffix)
        found[".".join(parts), message] = None
    return list(found)


def schema_problems(document: PolicyDocument, schema: dict[str, Any]) -> list[Problem]:
    """Every structural problem of `document` against `schema`, with file, line and field."""
    return [(document.file, document.doc.line_of(path) if path else document.doc.line, path, message)
            for path, message in schema_errors(document.doc.value, schema)]


# documents (by kind and the repr of their value) that passed the schema: the service reloads
# a pack when any file changes, and `policy test` loads it once per parameter set, so the same
# unchanged documents come back; repr tells 'x' from a date and keeps key order, so an entry is
# only ever reused for an identical value
_VALID_DOCUMENTS: set[tuple[str, str]] = set()
_VALID_DOCUMENTS_MAX = 512


def _schema_problems_unless_known_valid(document: PolicyDocument, kind_name: str,
                                        schema_fn: Callable[[], dict[str, Any]]) -> list[Problem]:
    key = (kind_name, repr(document.doc.value))
    if key in _VALID_DOCUMENTS:
        return []
    found = schema_problems(document, schema_fn())
    if not found and len(_VALID_DOCUMENTS) < _VALID_DOCUMENTS_MAX:
        _VALID_DOCUMENTS.add(key)
    return found


def validate_documents(documents: Iterable[PolicyDocument], problems: list[Problem]
                       ) -> list[tuple[PolicyDocument, Any]]:
    """Schema-check and load each document by its kind; returns (document, loaded) for good ones."""
    good: list[tuple[PolicyDocument, Any]] = []
    for document in documents:
        kind_name = document.kind
        kind = document_kind(kind_name) if kind_name is not None else None
        if kind_name is None or kind is None:  # read_documents refuses these; a kind may be unregistered since
            problems.append(_kind_problem(document))
            continue
        found = _schema_problems_unless_known_valid(document, kind_name, kind.schema_fn)
        if found:
            problems.extend(found)
            if kind.tolerant and kind.loader is not None:
                try:
                    kind.loader(document.doc, document.file)
                except PolicyError as exc:
                    reported = {(p[0], p[2]) for p in found}
                    problems.extend(p for p in exc.problems if (p[0], p[2]) not in reported)
            continue
        if kind.loader is None:
            good.append((document, None))
            continue
        try:
            good.append((document, kind.loader(document.doc, document.file)))
        except PolicyError as exc:
            problems.extend(exc.problems)
    return good


def _known_kinds() -> list[str]:
    return sorted(set(DOCUMENT_KINDS) | set(_KIND_OWNERS))
