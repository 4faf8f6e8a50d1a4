"""A bounded Bicep reader: the `resource` declarations of a .bicep file as ARM objects (type, name,
location, identity, sku, tags, properties ...) with the line of every property, `param` defaults
and `var` values resolved, string interpolation evaluated where its parts are known.

Why not pycep-parser (Apache-2.0, a dev dependency for Checkov; measured with 0.4.1): its JSON
gives an identifier reference and a string literal of the same text alike (`name: wsName` and
`name: 'wsName'` both become "wsName"); it keeps a line per resource, not per property; it stops
at the first error where this reader notes the line and reads on; it refuses syntax the tests
read (a ternary over lines, lambdas, `import`, `type`, `func`, quotes inside `${}`); and it would
make lark a core dependency, with ~0.5 s to load its grammar and ~0.24 s to parse
infra/main.bicep (~6 ms here). The syntax tree comes from amlguard.inventory.bicep_syntax; this
module evaluates it.

Read: `param` (defaults; a `<name>.parameters.json` beside the file overrides them), `var`,
`resource` (with `existing`, `parent:`, nested child resources, `if (...)` conditions and `for`
loops as one resource with the loop noted), `module` / `output` / `type` / `func` / `import` /
`metadata` / `targetScope` (parsed and set aside). Evaluated: literals, strings with `${...}`,
param and var references, `<resource>.name`, property access and indexing, `!`, `-`,
comparisons, `&&`, `||`, `??`, the ternary, and toLower / toUpper / concat / format / string /
int / bool / empty / length / contains / union. Anything else (resourceGroup(), uniqueString(),
resourceId(), `<resource>.id`, loop variables ...) stays opaque: the expression text is kept and
the field reported as a placeholder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from amlguard.inventory.armtemplate import Declared, Expansion, Opaque, has_opaque, opaque_as_text
from amlguard.inventory.bicep_syntax import BicepError, BicepFile, Node, ResourceDecl, parse_bicep

__all__ = ["BicepError", "read_bicep", "read_bicepparam"]


# ----------------------------------------------------------------------------- evaluation
class _Unknown(Exception):
    """A value that cannot be known before deployment."""


@dataclass(slots=True)
class _ResourceRef:
    resource: ResourceDecl


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return "null" if value is None else str(value)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "tolower": lambda s: str(s).lower(), "toupper": lambda s: str(s).upper(),
    "concat": lambda *a: [x for v in a for x in v] if a and all(isinstance(v, list) for v in a)
    else "".join(_text(v) for v in a),
    "format": lambda t, *a: re.sub(r"\{(\d+)\}", lambda m: _text(a[int(m.group(1))]), str(t)),
    "string": _text, "int": lambda v: int(v), "bool": lambda v: str(v).lower() == "true" if isinstance(v, str)
    else bool(v), "empty": lambda v: not v, "length": len, "contains": lambda c, v: v in c,
    "union": lambda *a: {k: v for d in a for k, v in d.items()} if all(isinstance(d, dict) for d in a)
    else list(dict.fromkeys(x for v in a for x in v)),
}


# What a Bicep expression can raise on values that are not what it expects (`1/0`, `'a' < 1`,
# `x[5]` past the end, a reference cycle): like a reference to a runtime value, it cannot be known.
_CANNOT_KNOW = (_Unknown, TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, RecursionError)


def _property(body: Node, key: str) -> Node | None:
    """The value of the property `key` of an object node, or None."""
    return next((item for name, item, _ in body.args[0] if name == key), None)


_NOT_READ = frozenset({"parent", "dependsOn", "scope"})  # a resource body's keys that say where, not how


class _Evaluator:
    def __init__(self, parsed: BicepFile, given: Mapping[str, Any]) -> None:
        self.file = parsed
        self.given = {k.lower(): v for k, v in given.items()}
        self.symbols = {r.symbol: r for r in parsed.resources}
        self._cache: dict[str, Any] = {}
        self._busy: set[str] = set()

    def value(self, node: Node, path: str = "", lines: dict[str, int] | None = None, opaque: set[str] | None = None
              ) -> Any:
        """The node's value; an unknowable part makes the value Opaque (its text recorded)."""
        try:
            if node.kind == "obj":
                out: dict[str, Any] = {}
                for raw_key, item, line in node.args[0]:
                    key = raw_key if isinstance(raw_key, str) else self.key(raw_key)
                    if not path and lines is not None and key in _NOT_READ:
                        continue
                    child = f"{path}.{key}" if path else key
                    if lines is not None:
                        lines[child] = line
                    out[key] = self.value(item, child, lines, opaque)
                return out
            if node.kind == "arr":
                items = []
                for index, item in enumerate(node.args[0]):
                    child = f"{path}.{index}" if path else str(index)
                    if lines is not None:
                        lines[child] = item.line
                    items.append(self.value(item, child, lines, opaque))
                return items
            return self.known(node)
        except _CANNOT_KNOW:
            text = self.shown(node)
            if opaque is not None:
                opaque.add(text)
            return Opaque(text)

    def shown(self, node: Node) -> str:
        """An unknowable value as Bicep would interpolate it: `${expr}`, and a string with its known
        parts as text (`${machineLearning}/cluster001`); never mistaken for a literal."""
        if node.kind != "str":
            return f"${{{node.src}}}"
        out = []
        for part in node.args:
            if isinstance(part, str):
                out.append(part)
                continue
            try:
                out.append(_text(self._plain(self.known(part))))
            except _CANNOT_KNOW:
                out.append(f"${{{part.src}}}")
        return "".join(out)

    def key(self, node: Node) -> str:
        """An interpolated property name: its text once known, else as written."""
        try:
            return _text(self._plain(self.known(node)))
        except _CANNOT_KNOW:
            return node.src.strip("'")

    def known(self, node: Node) -> Any:
        """The node's value, or _Unknown."""
        kind, args = node.kind, node.args
        if kind == "lit":
            return args[0]
        if kind == "str":
            return "".join(p if isinstance(p, str) else _text(self._plain(self.known(p))) for p in args)
        if kind == "ref":
            return self.reference(args[0])
        if kind == "member":
            target = self.known(args[0]) if args[0].kind != "ref" or args[0].args[0] not in self.symbols \
                else _ResourceRef(self.symbols[args[0].args[0]])
            if isinstance(target, _ResourceRef):
                if args[1] == "name" and target.resource.body is not None:
                    return self._plain(self.resource_name(target.resource))
                raise _Unknown  # .id, .properties...: known only once deployed
            if isinstance(target, dict) and args[1] in target:
                return target[args[1]]
            raise _Unknown
        if kind == "index":
            target, index = self.known(args[0]), self.known(args[1])
            return target[index]
        if kind == "call":
            if args[0] is not None and args[0].kind == "ref" and args[0].args[0] not in ("sys", "az"):
                raise _Unknown  # a method on a resource (listKeys()...) or a user namespace
            function = _FUNCTIONS.get(str(args[1]).lower())
            if function is None:
                raise _Unknown
            return function(*(self._plain(self.known(a)) for a in args[2]))
        if kind == "unary":
            value = self.known(args[1])
            return (not value) if args[0] == "!" else -value
        if kind == "binary":
            return self.binary(args[0], args[1], args[2])
        if kind == "ternary":
            condition = self.known(args[0])
            if not isinstance(condition, bool):
                raise _Unknown
            return self.known(args[1] if condition else args[2])
        if kind in ("obj", "arr"):
            value = self.value(node)
            if has_opaque(value):
                raise _Unknown
            return value
        raise _Unknown

    def binary(self, op: str, left: Node, right: Node) -> Any:
        if op == "??":
            value = self.known(left)
            return value if value is not None else self.known(right)
        a, b = self.known(left), self.known(right)
        if op in ("==", "!=", "=~", "!~"):
            folded = op in ("=~", "!~") and isinstance(a, str) and isinstance(b, str)
            same = a.lower() == b.lower() if folded else a == b
            return same if op in ("==", "=~") else not same
        operations: dict[str, Callable[[Any, Any], Any]] = {
            "&&": lambda x, y: bool(x and y), "||": lambda x, y: bool(x or y), "<": lambda x, y: x < y,
            ">": lambda x, y: x > y, "<=": lambda x, y: x <= y, ">=": lambda x, y: x >= y, "+": lambda x, y: x + y,
            "-": lambda x, y: x - y, "*": lambda x, y: x * y, "/": lambda x, y: x // y, "%": lambda x, y: x % y}
        return operations[op](a, b)

    def reference(self, name: str) -> Any:
        if name in self._cache:
            return self._cache[name]
        if name in self._busy:
            raise _Unknown
        self._busy.add(name)
        try:
            if name in self.file.params:
                default, secure = self.file.params[name]
                if secure:
                    raise _Unknown  # a secure parameter is never read
                if name.lower() in self.given:
                    value = self.given[name.lower()]
                elif default is not None:
                    value = self.known(default)
                else:
                    raise _Unknown
            elif name in self.file.variables:
                value = self.known(self.file.variables[name])
            else:
                raise _Unknown  # a loop variable, a resource symbol as a value, a function's parameter
        finally:
            self._busy.discard(name)
        if isinstance(value, Opaque):
            raise _Unknown
        self._cache[name] = value
        return value

    def resource_name(self, res: ResourceDecl) -> Any:
        """The full ARM name: the parent's name and this one's, joined by '/'."""
        assert res.body is not None
        own = _property(res.body, "name")
        if own is None:
            raise _Unknown
        name = self.known(own)
        parent = self.parent_of(res)
        if parent is not None:
            return f"{self._plain(self.resource_name(parent))}/{name}"
        return name

    def parent_of(self, res: ResourceDecl) -> ResourceDecl | None:
        if res.parent is not None:
            return self.symbols.get(res.parent)
        if res.body is None:
            return None
        ref = _property(res.body, "parent")
        if ref is None:
            return None
        if ref.kind != "ref" or ref.args[0] not in self.symbols:
            raise _Unknown
        return self.symbols[ref.args[0]]

    @staticmethod
    def _plain(value: Any) -> Any:
        if has_opaque(value):
            raise _Unknown
        return value


def read_bicep(text: str, *, parameters: Mapping[str, Any] | None = None) -> Expansion:
    """Every resource a Bicep file declares (`existing` ones left out), as ARM objects with their
    lines and opaque values, and the lines this reader could not read (Expansion.problems).
    Raises BicepError when the file cannot be tokenised at all."""
    parsed = parse_bicep(text)
    evaluator = _Evaluator(parsed, parameters or {})
    out = Expansion(problems=[(line, message) for line, message in parsed.problems])
    for res in parsed.resources:
        if res.existing or res.body is None:
            continue
        opaque: set[str] = set()
        lines: dict[str, int] = {}
        if res.condition is not None:
            condition = evaluator.value(res.condition)
            if condition is False:
                continue
        body = evaluator.value(res.body, "", lines, opaque)
        if not isinstance(body, dict):
            continue
        try:
            name: Any = evaluator.resource_name(res)
        except _CANNOT_KNOW:
            name_node = _property(res.body, "name")
            name = evaluator.shown(name_node) if name_node is not None else res.symbol
            parent_ref = _property(res.body, "parent")
            parent = res.parent or (parent_ref.args[0] if parent_ref is not None and parent_ref.kind == "ref" else None)
            owner_body = evaluator.symbols[parent].body if parent in evaluator.symbols else None
            if owner_body is not None:
                owner = _property(owner_body, "name")
                name = f"{evaluator.shown(owner) if owner is not None else parent}/{name}"
            opaque.update(part for part in name.split("/") if "${" in part)
        obj = {k: opaque_as_text(v, opaque) for k, v in body.items()}
        obj["name"], obj["type"] = opaque_as_text(name, opaque), res.type
        loop = {"for": res.loop} if res.loop else None
        out.resources.append(Declared(obj, res.line, lines, opaque, loop))
    return out


def read_bicepparam(text: str) -> dict[str, Any]:
    """The values a `.bicepparam` file gives (`param name = <value>`), those that are known."""
    parsed = parse_bicep(text)
    evaluator = _Evaluator(parsed, {})
    values: dict[str, Any] = {}
    for name, (node, _secure) in parsed.params.items():
        if node is not None:
            value = evaluator.value(node)
            if not has_opaque(value):
                values[name.lower()] = value
    return values
