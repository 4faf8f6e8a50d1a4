"""Read YAML (and JSON) into plain Python values plus a map of dotted paths to source lines.

Both the resource inventory and the policy loader need "which line is this field on" so that
errors and findings point at the line to change. PyYAML's C parser builds the node tree; one
walk turns nodes into values and records each key's line. Values are the YAML 1.1 scalars a
`safe_load` would give, except that timestamps stay strings (nothing here needs datetimes and
azure-ai-ml treats them as strings too).
"""

from __future__ import annotations

import json
import operator
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

try:  # the C parser is several times faster; fall back quietly where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = ["ALIAS_LIMIT", "DEPTH_LIMIT", "NODE_LIMIT", "TEXT_NODE_LIMIT", "YAML_TEXT_LIMIT", "Duplicate",
           "LocatedDocument", "YamlSourceError", "load_documents", "load_json", "parse_scalar", "too_deep"]


class YamlSourceError(ValueError):
    """The text is not YAML; carries the 1-based line and column of the problem."""

    def __init__(self, message: str, line: int | None, column: int | None = None) -> None:
        self.line = line
        self.column = column
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A mapping key given twice: its dotted path, the line of the first and of the second."""

    path: str
    first_line: int
    line: int

    def message(self) -> str:
        return (f"duplicate key {self.path!r} on line {self.line} (first on line {self.first_line}); "
                "only the last value is read: delete one of them")


@dataclass(slots=True)
class LocatedDocument:
    """One YAML document: its value, its first line, the line of every mapping key, and any
    keys given twice (the value holds the last, as PyYAML's does)."""

    value: Any
    line: int
    lines: dict[str, int] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)

    def line_of(self, path: str) -> int:
        """Line of `path`, else of its nearest present parent, else of the document."""
        parts = path.split(".")
        while parts:
            found = self.lines.get(".".join(parts))
            if found is not None:
                return found
            parts.pop()
        return self.line


_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_QUOTED = frozenset(("'", '"', "|", ">"))
_MAX_DEPTH = 200
_CACHE_LIMIT = 50_000
_CACHEABLE_LENGTH = 64
_tags: dict[str, str] = {}

# Anchors and aliases (`&x` / `*x`) let a 1 KB file expand into billions of values ("billion
# laughs"); libyaml composes them as shared nodes, so the cost is all in building values. No
# Azure ML resource or policy document comes near this many values; a document that expands
# past it is refused, with the line of the alias that crossed the limit.
NODE_LIMIT = 100_000
# ...and no more than this many times may a document reuse an anchored block (`*name`).
ALIAS_LIMIT = 10_000
# libyaml composes a whole document into nodes before any value is built (~3 us and ~300 bytes
# a node: 6 MB of `[1,1,...]` took 15 s and 880 MB). Azure ML resource and policy files are a few
# KB (the largest of the real-world corpus is under 64 KB), so a text is refused before it is
# composed when it is longer than YAML_TEXT_LIMIT or, counted by the parser alone (~1 us a node,
# only for texts over _COUNT_FROM), holds more than TEXT_NODE_LIMIT nodes.
YAML_TEXT_LIMIT = 8 * 1024 * 1024
TEXT_NODE_LIMIT = 100_000
_COUNT_FROM = 256 * 1024

# libyaml's composer recurses on the C stack and crashes the process (not an exception) near
# 30,000 levels; text nested deeper than this is refused before PyYAML sees it.
DEPTH_LIMIT = 1000
_BRACKET = re.compile(r"[\[\]{}]")
_COMPACT = re.compile(r"^[ \t]*((?:[-?][ \t]+)+)", re.MULTILINE)  # "- - - x": one level per dash


_COLLECTION_TAGS = {MappingNode: "tag:yaml.org,2002:map", SequenceNode: "tag:yaml.org,2002:seq"}


class _Builder(_Loader):
    """Loader whose constructor we bypass; only its C parser/composer is used.

    PyYAML's resolver runs a list of regexes in Python for every plain scalar, keys included;
    plain-scalar tags are cached because keys such as `name` or `port` repeat across files.
    The composer calls the resolver three times per node; with no path resolvers registered
    (safe loading registers none) two of those calls do nothing, so they are C no-ops here
    instead of Python calls (a tenth of the parse time of a small file).
    """

    descend_resolver = staticmethod(operator.is_)  # type: ignore[assignment]  # (parent, index) -> ignored
    ascend_resolver = staticmethod(tuple)  # type: ignore[assignment]  # () -> ignored

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode:
            if not implicit[0]:  # quoted or block scalar without a tag
                return _STR
            tag = _tags.get(value)
            if tag is None:
                tag = _plain_tag(value)
                if len(value) <= _CACHEABLE_LENGTH and len(_tags) < _CACHE_LIMIT:
                    _tags[value] = tag
            return tag
        return _COLLECTION_TAGS[kind]


def _plain_tag(value: str) -> str:
    """The tag PyYAML's Resolver gives a plain scalar (the same regexes, in the same order)."""
    table = _Builder.yaml_implicit_resolvers
    resolvers = table.get(value[0] if value else "", []) + table.get(None, [])
    for tag, regexp in resolvers:
        if regexp.match(value):
            return str(tag)
    return _STR


def _line_of_offset(text: str, offset: int) -> int:
    return text.count("\n", 0, max(offset, 0)) + 1


def too_deep(text: str) -> int | None:
    """Line where nesting passes DEPTH_LIMIT, or None (cheap when the text is shallow)."""
    if (text.count("[") + text.count("{") + text.count("- ") + text.count("? ")) <= DEPTH_LIMIT:
        return None
    compact = max((m.group(1).count("-") + m.group(1).count("?") for m in _COMPACT.finditer(text)), default=0)
    depth = 0
    for match in _BRACKET.finditer(text):  # quotes ignored: may overestimate, never underestimates
        if match.group() in "[{":
            depth += 1
            if depth + compact > DEPTH_LIMIT:
                return _line_of_offset(text, match.start())
        elif depth:
            depth -= 1
    if compact > DEPTH_LIMIT:
        found = next(m for m in _COMPACT.finditer(text)
                     if m.group(1).count("-") + m.group(1).count("?") == compact)
        return _line_of_offset(text, found.start())
    return None


def _crowded(text: str) -> int | None:
    """Line where the text passes TEXT_NODE_LIMIT nodes (scalars, aliases, collections), counted
    from parser events without composing anything, or None (or None when it does not parse: the
    composer then says where)."""
    parser = _Loader(text)
    count = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, _NODE_EVENTS):
                count += 1
                if count > TEXT_NODE_LIMIT:
                    mark = event.start_mark
                    return int(mark.line) + 1 if mark is not None else 1
    except yaml.YAMLError:
        return None
    finally:
        parser.dispose()
    return None


_NODE_EVENTS = (yaml.ScalarEvent, yaml.AliasEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)
_BOOL = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}


def parse_scalar(node: yaml.ScalarNode) -> Any:
    """Turn a scalar node into bool / int / float / None / str like YAML 1.1 safe_load."""
    tag = node.tag
    value = node.value
    if tag == "tag:yaml.org,2002:str" or node.style in ("'", '"', "|", ">"):
        return value
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return _BOOL.get(value.lower(), value)
    if tag == "tag:yaml.org,2002:int":
        text = value.replace("_", "")
        try:
            if text.startswith(("0x", "-0x", "+0x")):
                return int(text, 16)
            if text.startswith("0b"):
                return int(text[2:], 2)
            if len(text) > 1 and text.startswith("0") and text.isdigit():
                return int(text, 8)
            if ":" in text:  # sexagesimal 1:30 -> 90
                total = 0
                for part in text.lstrip("+-").split(":"):
                    total = total * 60 + int(part)
                return -total if text.startswith("-") else total
            return int(text)
        except ValueError:
            return value
    if tag == "tag:yaml.org,2002:float":
        text = value.replace("_", "").lower()
        if text in (".inf", "+.inf"):
            return float("inf")
        if text == "-.inf":
            return float("-inf")
        if text == ".nan":
            return float("nan")
        try:
            return float(text)
        except ValueError:
            return value
    return value  # timestamps, custom tags, anything else: keep the text


class _Budget:
    """Values left to build in one document and alias expansions left (aliases repeat a block:
    the same node met again), and the duplicate keys met."""

    __slots__ = ("aliases", "built", "duplicates", "left")

    def __init__(self) -> None:
        self.left = NODE_LIMIT
        self.aliases = ALIAS_LIMIT
        self.built: set[int] = set()  # ids of the collection nodes built so far
        self.duplicates: list[Duplicate] = []

    def spend(self, count: int, node: Any) -> None:
        if id(node) in self.built:
            self.aliases -= 1
            if self.aliases < 0:
                raise YamlSourceError(
                    f"YAML document uses more than {ALIAS_LIMIT:,} alias expansions (the last one repeats the "
                    f"block anchored on line {node.start_mark.line + 1}): write the values out or use fewer "
                    "aliases", node.start_mark.line + 1)
        else:
            self.built.add(id(node))
        self.left -= count
        if self.left < 0:
            if self.aliases < ALIAS_LIMIT:
                raise YamlSourceError(
                    f"YAML expands to more than {NODE_LIMIT:,} values (anchors and aliases, `&name` / `*name`, "
                    "repeat the same block): write the values out or use fewer aliases", node.start_mark.line + 1)
            raise YamlSourceError(
                f"YAML document holds more than {NODE_LIMIT:,} values (the limit for one document): no Azure ML "
                "resource or policy comes near it; split the file", node.start_mark.line + 1)


def _build(node: Any, path: str, lines: dict[str, int], depth: int, budget: _Budget) -> Any:
    if depth > _MAX_DEPTH:
        raise YamlSourceError(f"YAML nesting deeper than {_MAX_DEPTH} levels", node.start_mark.line + 1)
    kind = node.__class__
    if kind is ScalarNode:
        if node.tag == _STR or node.style in _QUOTED:
            return node.value
        return parse_scalar(node)
    budget.spend(len(node.value), node)
    if kind is MappingNode:
        out: dict[Any, Any] = {}
        prefix = f"{path}." if path else ""
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:  # `<<: *anchor`
                merged = _build(value_node, path, lines, depth + 1, budget)
                for item in merged if isinstance(merged, list) else [merged]:
                    if isinstance(item, dict):
                        for k, v in item.items():
                            out.setdefault(k, v)
                continue
            key = _build(key_node, path, lines, depth + 1, budget)
            if isinstance(key, (list, dict)):
                key = str(key)
            child = f"{prefix}{key}"
            line = key_node.start_mark.line + 1
            if key in out and child in lines:
                # YAML says keys are unique; PyYAML keeps the last one silently, which can turn
                # `auth_mode: key` into a pass further down the file. The value stays PyYAML's (the
                # last); the reader decides whether this document matters enough to say so.
                budget.duplicates.append(Duplicate(child, lines[child], line))
            lines[child] = line
            out[key] = _build(value_node, child, lines, depth + 1, budget)
        return out
    if kind is SequenceNode:
        items = []
        prefix = f"{path}." if path else ""
        for index, item in enumerate(node.value):
            child = f"{prefix}{index}"
            lines[child] = item.start_mark.line + 1
            items.append(_build(item, child, lines, depth + 1, budget))
        return items
    return None  # pragma: no cover - PyYAML has only the three node kinds


def load_documents(text: str) -> list[LocatedDocument]:
    """Parse every document in `text`; raises YamlSourceError with the line of the problem.

    A leading BOM and CRLF line ends are accepted. Empty documents are skipped. Text longer than
    YAML_TEXT_LIMIT or nested deeper than DEPTH_LIMIT is refused before parsing (libyaml would
    crash the process on deep nesting); a document that expands past NODE_LIMIT values or
    ALIAS_LIMIT alias expansions (alias bombs) is refused; repeated keys are
    listed in `LocatedDocument.duplicates` for the reader to report.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if len(text) > YAML_TEXT_LIMIT:
        raise YamlSourceError(f"YAML text over {YAML_TEXT_LIMIT // (1024 * 1024)} MB (the limit for one file): split "
                              "it into one file per resource, or export it as JSON (`-o json`)",
                              _line_of_offset(text, YAML_TEXT_LIMIT))
    deep = too_deep(text)
    if deep is None and len(text) > _COUNT_FROM:
        crowded = _crowded(text)
        if crowded is not None:
            raise YamlSourceError(f"YAML text holds more than {TEXT_NODE_LIMIT:,} values (the limit for one file, "
                                  f"passed on line {crowded}): split it into one file per resource, or export it "
                                  "as JSON (`-o json`)", crowded)
    if deep is not None:
        raise YamlSourceError(f"not valid YAML: nested deeper than {DEPTH_LIMIT} levels", deep)
    loader = _Builder(text)
    documents: list[LocatedDocument] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[str, int] = {}
            budget = _Budget()
            value = _build(node, "", lines, 0, budget)
            if value is not None:  # an empty document (or a bare `~`) holds nothing to read
                documents.append(LocatedDocument(value, node.start_mark.line + 1, lines, budget.duplicates))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlSourceError(f"not valid YAML: {problem}", line, column) from exc
    except yaml.YAMLError as exc:
        raise YamlSourceError(f"not valid YAML: {exc}", None) from exc
    except RecursionError as exc:
        raise YamlSourceError("YAML nesting too deep", None) from exc
    finally:
        loader.dispose()
    return documents


_JSON_SPACE = re.compile(r"[ \t\n\r]*")
# json's own C scanners (what json.loads runs), for strings and for any other scalar
_scan_string: Any = json.decoder.scanstring  # type: ignore[attr-defined]
_scan_scalar: Any = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[attr-defined]


def load_json(text: str) -> LocatedDocument:
    """Parse JSON exactly as `json.loads` does, in one pass that also records the line of every
    object key and array item. Raises ValueError (or RecursionError) on invalid JSON; json.loads
    then says what is wrong. Strings, numbers and literals go through json's own C scanner;
    only objects and arrays are walked here."""
    lines: dict[str, int] = {}
    duplicates: list[Duplicate] = []
    where = [0, 1]  # the last offset whose line is known, and that line (offsets only grow)
    match_space = _JSON_SPACE.match

    def space(pos: int) -> int:  # past any whitespace at `pos`
        found = match_space(text, pos)
        return found.end() if found else pos

    def line_at(offset: int) -> int:
        where[1] += text.count("\n", where[0], offset)
        where[0] = offset
        return where[1]

    def value(pos: int, path: str, depth: int) -> tuple[Any, int]:
        opener = text[pos:pos + 1]
        if opener not in ("{", "["):
            try:
                scalar: tuple[Any, int] = _scan_scalar(text, pos)
            except StopIteration as exc:
                raise ValueError("expected a value") from exc
            return scalar
        if depth > _MAX_DEPTH:
            raise RecursionError
        is_object, closer = opener == "{", "}" if opener == "{" else "]"
        out: Any = {} if is_object else []
        prefix = f"{path}." if path else ""
        pos = space(pos + 1)
        if text[pos:pos + 1] == closer:
            return out, pos + 1
        while True:
            line = line_at(pos)
            if is_object:
                if text[pos:pos + 1] != '"':
                    raise ValueError("expected a key")
                key, pos = _scan_string(text, pos + 1)
                pos = space(pos)
                if text[pos:pos + 1] != ":":
                    raise ValueError("expected ':'")
                pos = space(pos + 1)
            else:
                key = len(out)
            child = f"{prefix}{key}"
            if is_object and key in out:  # json.loads keeps the last, silently
                duplicates.append(Duplicate(child, lines[child], line))
            lines[child] = line
            item, pos = value(pos, child, depth + 1)
            if is_object:
                out[key] = item
            else:
                out.append(item)
            pos = space(pos)
            char, pos = text[pos:pos + 1], space(pos + 1)
            if char == closer:
                return out, pos
            if char != ",":
                raise ValueError(f"expected ',' or '{closer}'")

    start = space(0)
    first = line_at(start)
    result, end = value(start, "", 0)
    if space(end) != len(text):
        raise ValueError("extra data after the JSON value")
    return LocatedDocument(result, first, lines, duplicates)
