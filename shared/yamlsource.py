"""Read YAML into plain Python values plus a map of dotted paths to source lines.

Both the resource inventory and the policy loader need "which line is this field on" so that
errors and findings point at the line to change. PyYAML's C parser builds the node tree; one
walk turns nodes into values and records each key's line. Values are the YAML 1.1 scalars a
`safe_load` would give, except that timestamps stay strings (nothing here needs datetimes and
azure-ai-ml treats them as strings too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

try:  # the C parser is several times faster; fall back quietly where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = ["LocatedDocument", "YamlSourceError", "load_documents", "parse_scalar"]


class YamlSourceError(ValueError):
    """The text is not YAML; carries the 1-based line and column of the problem."""

    def __init__(self, message: str, line: int | None, column: int | None = None) -> None:
        self.line = line
        self.column = column
        super().__init__(message)


@dataclass(slots=True)
class LocatedDocument:
    """One YAML document: its value, its first line, and the line of every mapping key."""

    value: Any
    line: int
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, path: str) -> int:
        """Line of `path`, else of its nearest present parent, else of the document."""
        parts = path.split(".")
        while parts:
            found = self.lines.get(".".join(parts))
            if found is not None:
                return found
            parts.pop()
        return self.line


class _Builder(_Loader):  # type: ignore[misc,valid-type]
    """Loader whose constructor we bypass; only its C parser/composer is used."""


_BOOL = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}
_RESOLVER = yaml.resolver.Resolver()


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


def _build(node: yaml.Node, path: str, lines: dict[str, int], depth: int = 0) -> Any:
    if depth > 200:
        raise YamlSourceError("YAML nesting deeper than 200 levels", node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        return parse_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        out_list = []
        for index, item in enumerate(node.value):
            child = f"{path}.{index}" if path else str(index)
            lines[child] = item.start_mark.line + 1
            out_list.append(_build(item, child, lines, depth + 1))
        return out_list
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`
                merged = _build(value_node, path, lines, depth + 1)
                for item in merged if isinstance(merged, list) else [merged]:
                    if isinstance(item, dict):
                        for k, v in item.items():
                            out.setdefault(k, v)
                continue
            key = _build(key_node, path, lines, depth + 1)
            if isinstance(key, (list, dict)):
                key = str(key)
            child = f"{path}.{key}" if path else str(key)
            lines[child] = key_node.start_mark.line + 1
            out[key] = _build(value_node, child, lines, depth + 1)
        return out
    return None  # pragma: no cover - PyYAML has only the three node kinds


def load_documents(text: str) -> list[LocatedDocument]:
    """Parse every document in `text`; raises YamlSourceError with the line of the problem.

    A leading BOM and CRLF line ends are accepted. Empty documents are skipped.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    loader = _Builder(text)
    documents: list[LocatedDocument] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[str, int] = {}
            value = _build(node, "", lines)
            documents.append(LocatedDocument(value, node.start_mark.line + 1, lines))
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
