"""ARM deployment templates: the resources a template declares, as ARM objects ready for the ARM
converter, with `[parameters('x')]` and `[variables('y')]` resolved from the template's defaults
or the parameters file beside it (`<name>.parameters.json`).

What it reads: `resources` (a list, or languageVersion 2.0's symbolic-name object), child
resources nested in a resource's own `resources` (type and name joined to the parent's),
inline nested deployments (`Microsoft.Resources/deployments` with `properties.template`), a
`copy` loop as one resource with the loop recorded, `condition` false as not deployed. What it
evaluates: string, number and boolean literals, parameters(), variables(), concat(), format(),
toLower(), toUpper(), string(), int(), bool(), if(), equals(), not(), and(), or(), empty(),
length(), coalesce(), createArray(), createObject(), property access and indexing. Any other
function (resourceGroup(), resourceId(), uniqueString(), reference(), copyIndex() ...) leaves
the value opaque: its text is kept as written and the path is reported as a placeholder.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Declared", "Expansion", "Opaque", "expand", "has_opaque", "is_template", "opaque_as_text",
           "parameters_beside"]

_DEPTH = 50  # nested deployments / variable chains deeper than this are not followed


@dataclass(frozen=True, slots=True)
class Opaque:
    """A value amlguard cannot know before deployment; `text` is the expression as written."""

    text: str


@dataclass(slots=True)
class Declared:
    """One resource a template declares: the ARM object with values resolved as far as they can
    be, its line, the lines of its own dotted paths, and the texts of the values left opaque."""

    obj: dict[str, Any]
    line: int | None
    lines: dict[str, int]
    opaque: set[str] = field(default_factory=set)
    loop: dict[str, Any] | None = None  # a copy loop: {"name", "count"}


@dataclass(slots=True)
class Expansion:
    """Every resource the template declares (any type), and what could not be read."""

    resources: list[Declared] = field(default_factory=list)
    problems: list[tuple[int | None, str]] = field(default_factory=list)


def is_template(value: Any) -> bool:
    """True for an ARM deployment template (a `resources` list or symbolic-name object beside a
    deploymentTemplate `$schema` or a `contentVersion`)."""
    if not isinstance(value, dict) or not isinstance(value.get("resources"), (list, dict)):
        return False
    schema = value.get("$schema")
    return (isinstance(schema, str) and "deploymenttemplate" in schema.lower()) or "contentVersion" in value


def parameters_beside(path: str) -> tuple[dict[str, Any], str | None, str | None]:
    """Parameter values from the parameters file next to a template (`main.parameters.json` for
    `main.json`, `azuredeploy.parameters.json` for `azuredeploy.json`): (values, its path, problem)."""
    stem, _ = os.path.splitext(path)
    candidate = f"{stem}.parameters.json"
    if not os.path.isfile(candidate):
        return {}, None, None
    try:
        with open(candidate, encoding="utf-8-sig") as handle:
            data = json.load(handle)
    except (OSError, ValueError, RecursionError) as exc:
        return {}, candidate, f"the parameters file {os.path.basename(candidate)} beside it cannot be read ({exc}); " \
                              "the template's defaults were used"
    params = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(params, dict):
        return {}, candidate, None
    values = {}
    for name, entry in params.items():
        if isinstance(entry, dict) and "value" in entry:
            values[str(name).lower()] = entry["value"]
        elif isinstance(entry, dict) and "reference" in entry:  # a Key Vault secret: never read
            values[str(name).lower()] = Opaque(f"[reference to a Key Vault secret for {name}]")
    return values, candidate, None


# ----------------------------------------------------------------------------- expressions
class _Unknown(Exception):
    """Raised inside evaluation when a part of an expression cannot be known."""


_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][\w]*)"
                    r"|(?P<punct>[(),.\[\]]))")


def _tokens(text: str, spans: list[tuple[int, int]] | None = None) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            if text[pos:].strip():
                raise _Unknown
            break
        pos = match.end()
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        if spans is not None:
            spans.append(match.span(kind))
    return out


def _top_arguments(body: str) -> tuple[str, list[str]] | None:
    """(function name, argument texts) of `name(a, b, ...)` spanning all of `body`, else None."""
    spans: list[tuple[int, int]] = []
    try:
        tokens = _tokens(body, spans)
    except _Unknown:
        return None
    if len(tokens) < 3 or tokens[0][0] != "name" or tokens[1] != ("punct", "(") or tokens[-1] != ("punct", ")"):
        return None
    args, depth, start = [], 0, spans[1][1]
    for (kind, text), (begin, end) in zip(tokens[1:], spans[1:], strict=True):
        if kind == "punct" and text in "([":
            depth += 1
        elif kind == "punct" and text in ")]":
            depth -= 1
            if depth == 0:
                args.append(body[start:begin].strip())
                if (begin, end) != spans[-1]:
                    return None  # `f(a).b`: not a plain call
        elif kind == "punct" and text == "," and depth == 1:
            args.append(body[start:begin].strip())
            start = end
    return tokens[0][1].lower(), [a for a in args if a]


class _Scope:
    """Parameters and variables of one template (or an inner-scope nested deployment)."""

    def __init__(self, template: Mapping[str, Any], given: Mapping[str, Any], depth: int = 0) -> None:
        self.depth = depth
        self.params: dict[str, Any] = {}
        declared = template.get("parameters")
        for name, spec in (declared if isinstance(declared, dict) else {}).items():
            key = str(name).lower()
            if key in given:
                self.params[key] = given[key]
            elif isinstance(spec, dict) and "defaultValue" in spec:
                self.params[key] = spec["defaultValue"]
            else:
                self.params[key] = Opaque(f"[parameters('{name}')]")
        raw_vars = template.get("variables")
        self.variables = {str(k).lower(): v for k, v in raw_vars.items()} if isinstance(raw_vars, dict) else {}
        self._resolved: dict[str, Any] = {}
        self._resolving: set[str] = set()

    def parameter(self, name: str) -> Any:
        value = self.params.get(name.lower(), _MISSING)
        if value is _MISSING or isinstance(value, Opaque):
            raise _Unknown
        return self.value(value)

    def variable(self, name: str) -> Any:
        key = name.lower()
        if key in self._resolved:
            return self._resolved[key]
        if key not in self.variables or key in self._resolving or len(self._resolving) > _DEPTH:
            raise _Unknown
        self._resolving.add(key)
        try:
            value = self.value(self.variables[key])
        finally:
            self._resolving.discard(key)
        if has_opaque(value):
            raise _Unknown
        self._resolved[key] = value
        return value

    def value(self, value: Any) -> Any:
        """`value` with every expression in it evaluated (Opaque where it cannot be)."""
        if isinstance(value, str):
            return self.expression(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def expression(self, text: str) -> Any:
        stripped = text.strip()
        if not (stripped.startswith("[") and stripped.endswith("]")) or stripped.startswith("[["):
            return text[1:] if stripped.startswith("[[") else text  # `[[` escapes a literal bracket
        try:
            tokens = _tokens(stripped[1:-1])
            result, pos = self._expr(tokens, 0)
            if pos != len(tokens):
                raise _Unknown
            return result
        except (_Unknown, IndexError, TypeError, ValueError, KeyError, RecursionError):
            return Opaque(self._partial(stripped[1:-1]) or text)

    def _partial(self, body: str) -> str | None:
        """concat() / format() with some arguments unknown, as text with each unknown argument left
        as `[expression]`: `[format('{0}/ci-{1}', parameters('ws'), copyIndex())]` reads
        `ws-prod/ci-[copyIndex()]`, so a resource's name still says its workspace."""
        call = _top_arguments(body)
        if call is None or call[0] not in ("concat", "format"):
            return None
        parts = []
        for arg in call[1]:
            value = self.expression(f"[{arg}]")
            parts.append(f"[{arg}]" if isinstance(value, (Opaque, dict, list)) else _text(value))
        if call[0] == "concat":
            return "".join(parts)
        return re.sub(r"\{(\d+)\}", lambda m: parts[1 + int(m.group(1))] if 1 + int(m.group(1)) < len(parts)
                      else m.group(0), parts[0]) if parts else None

    # -- a small recursive-descent evaluator ---------------------------------------------
    def _expr(self, tokens: list[tuple[str, str]], pos: int) -> tuple[Any, int]:
        kind, text = tokens[pos]
        if kind == "str":
            value: Any = text[1:-1].replace("''", "'")
            pos += 1
        elif kind == "num":
            value, pos = (float(text) if "." in text else int(text)), pos + 1
        elif kind == "name" and pos + 1 < len(tokens) and tokens[pos + 1] == ("punct", "("):
            args, pos = self._args(tokens, pos + 2)
            value = self._call(text.lower(), args)
        elif kind == "name" and text.lower() in ("true", "false", "null"):
            value, pos = {"true": True, "false": False, "null": None}[text.lower()], pos + 1
        else:
            raise _Unknown
        while pos < len(tokens) and tokens[pos] in (("punct", "."), ("punct", "[")):
            if tokens[pos] == ("punct", "."):
                prop = tokens[pos + 1][1]
                value = next(v for k, v in value.items() if str(k).lower() == prop.lower())
                pos += 2
            else:
                index, pos = self._expr(tokens, pos + 1)
                if tokens[pos] != ("punct", "]"):
                    raise _Unknown
                value = value[index] if isinstance(value, list) else next(
                    v for k, v in value.items() if str(k).lower() == str(index).lower())
                pos += 1
        if isinstance(value, Opaque):
            raise _Unknown
        return value, pos

    def _args(self, tokens: list[tuple[str, str]], pos: int) -> tuple[list[Any], int]:
        args: list[Any] = []
        if tokens[pos] == ("punct", ")"):
            return args, pos + 1
        while True:
            value, pos = self._expr(tokens, pos)
            args.append(value)
            if tokens[pos] == ("punct", ")"):
                return args, pos + 1
            if tokens[pos] != ("punct", ","):
                raise _Unknown
            pos += 1

    def _call(self, name: str, args: list[Any]) -> Any:
        if name == "parameters":
            return self.parameter(str(args[0]))
        if name == "variables":
            return self.variable(str(args[0]))
        function = _FUNCTIONS.get(name)
        if function is None:
            raise _Unknown  # resourceGroup(), resourceId(), uniqueString(), reference(), copyIndex() ...
        return function(*args)


_MISSING = object()


def _concat(*args: Any) -> Any:
    if args and all(isinstance(a, list) for a in args):
        return [item for a in args for item in a]
    return "".join(_text(a) for a in args)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"  # ARM's string(true)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _format(template: str, *args: Any) -> str:
    return re.sub(r"\{(\d+)\}", lambda m: _text(args[int(m.group(1))]), template)


def _equals(a: Any, b: Any) -> bool:
    return a.lower() == b.lower() if isinstance(a, str) and isinstance(b, str) else bool(a == b)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "concat": _concat, "format": _format, "tolower": lambda s: str(s).lower(), "toupper": lambda s: str(s).upper(),
    "string": _text, "int": lambda v: int(v),
    "bool": lambda v: str(v).lower() == "true" if isinstance(v, str) else bool(v),
    "if": lambda c, a, b: a if c else b, "equals": _equals, "not": lambda v: not v,
    "and": lambda *v: all(v), "or": lambda *v: any(v), "empty": lambda v: not v, "length": len,
    "coalesce": lambda *v: next((x for x in v if x is not None), None), "createarray": lambda *v: list(v),
    "createobject": lambda *v: dict(zip(v[0::2], v[1::2], strict=True)),
    "true": lambda: True, "false": lambda: False, "null": lambda: None,
}


def has_opaque(value: Any) -> bool:
    """True when `value` is, or holds, an Opaque value."""
    if isinstance(value, Opaque):
        return True
    if isinstance(value, dict):
        return any(has_opaque(v) for v in value.values())
    if isinstance(value, list):
        return any(has_opaque(v) for v in value)
    return False


def opaque_as_text(value: Any, opaque: set[str]) -> Any:
    """The evaluated value with each Opaque replaced by its text (collected in `opaque`)."""
    if isinstance(value, Opaque):
        opaque.add(value.text)
        return value.text
    if isinstance(value, dict):
        return {k: opaque_as_text(v, opaque) for k, v in value.items()}
    if isinstance(value, list):
        return [opaque_as_text(v, opaque) for v in value]
    return value


# ----------------------------------------------------------------------------- resources
def _sub_lines(lines: Mapping[str, int], prefix: str) -> dict[str, int]:
    start = prefix + "."
    return {path[len(start):]: line for path, line in lines.items() if path.startswith(start)}


def _entries(resources: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(resources, list):
        yield from ((str(i), r) for i, r in enumerate(resources))
    elif isinstance(resources, dict):  # languageVersion 2.0: symbolic name -> resource
        yield from ((str(k), r) for k, r in resources.items())


def expand(template: Mapping[str, Any], lines: Mapping[str, int] | None = None, *,
           parameters: Mapping[str, Any] | None = None) -> Expansion:
    """Every resource `template` declares, values resolved (`parameters` from a parameters file,
    keys in lower case), with per-resource lines taken from `lines` (the template's dotted paths)."""
    out = Expansion()
    _walk(template, dict(lines or {}), "", _Scope(template, {k.lower(): v for k, v in (parameters or {}).items()}),
          out, parent=None)
    return out


def _walk(template: Mapping[str, Any], lines: dict[str, int], base: str, scope: _Scope, out: Expansion,
          parent: tuple[str, str] | None) -> None:
    resources_path = f"{base}resources" if parent is None else base.rstrip(".")
    container = template.get("resources") if parent is None else template
    for key, res in _entries(container):
        path = f"{resources_path}.{key}"
        if not isinstance(res, dict):
            continue
        line = lines.get(path)
        if res.get("existing") is True:
            continue  # declared elsewhere; referenced only
        opaque: set[str] = set()
        condition = scope.value(res["condition"]) if "condition" in res else True
        if condition is False:
            continue
        rtype = opaque_as_text(scope.value(res.get("type")), opaque)
        name = opaque_as_text(scope.value(res.get("name")), opaque)
        if parent is not None and isinstance(rtype, str) and "/" not in rtype:
            rtype, name = f"{parent[0]}/{rtype}", f"{parent[1]}/{name}"  # a child resource's short type and name
        obj = {k: opaque_as_text(scope.value(v), opaque) for k, v in res.items()
               if k not in ("type", "name", "resources", "condition", "copy")}
        obj["type"], obj["name"] = rtype, name
        loop = None
        if isinstance(res.get("copy"), dict):
            count = opaque_as_text(scope.value(res["copy"].get("count")), opaque)
            loop = {"name": res["copy"].get("name"), "count": count}
        out.resources.append(Declared(obj, line, _sub_lines(lines, path), opaque, loop))
        if isinstance(res.get("resources"), (list, dict)) and isinstance(rtype, str) and isinstance(name, str):
            _walk(res["resources"], lines, f"{path}.resources.", scope, out, parent=(rtype, name))
        nested = (res.get("properties") or {}).get("template") if isinstance(res.get("properties"), dict) else None
        if isinstance(rtype, str) and rtype.lower() == "microsoft.resources/deployments" and isinstance(nested, dict):
            _nested(res, nested, lines, path, scope, out)


def _nested(res: Mapping[str, Any], nested: Mapping[str, Any], lines: dict[str, int], path: str, scope: _Scope,
            out: Expansion) -> None:
    """An inline nested deployment: inner scope takes its parameters from the deployment's
    `parameters` (evaluated outside); outer scope sees the enclosing template's."""
    if scope.depth >= _DEPTH:
        out.problems.append((lines.get(path), "nested deployments deeper than "
                                              f"{_DEPTH} levels are not read"))
        return
    props = res.get("properties") or {}
    options = props.get("expressionEvaluationOptions") if isinstance(props, dict) else None
    inner = isinstance(options, dict) and str(options.get("scope", "")).lower() == "inner"
    if inner:
        given = {}
        raw = props.get("parameters")
        for pname, entry in (raw if isinstance(raw, dict) else {}).items():
            if isinstance(entry, dict) and "value" in entry:
                given[str(pname).lower()] = scope.value(entry["value"])
        child = _Scope(nested, given, scope.depth + 1)
    else:
        child = scope
    _walk(nested, lines, f"{path}.properties.template.", child, out, parent=None)
