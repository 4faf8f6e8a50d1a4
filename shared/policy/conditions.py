"""Compile condition trees (allOf / anyOf / not / field leaves / count) into fast predicates.

A condition is compiled once per parameter set into a tree of nodes whose `fn(resource)` is a
closure: no dict is interpreted per resource. `explain(resource)` runs only for failures and
says what is wrong in words (`public_network_access is 'enabled'; expected 'disabled'`).

Condition grammar (documented in docs/policy.md):
  {allOf: [cond, ...]} | {anyOf: [cond, ...]} | {not: cond}
  {field|tag|value|count: ..., <operator>: operand, value_type?, default?, case_sensitive?}
Operands may be parameter references: `{param: name}`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from amlguard.model import Resource
from amlguard.policy.operators import OPERATORS, Operator, show
from amlguard.policy.valuetypes import VALUE_TYPES, Clock

__all__ = [
    "LOGIC_KEYS",
    "MODIFIER_KEYS",
    "RESOURCE_ATTRIBUTES",
    "SUBJECT_KEYS",
    "CompileContext",
    "Node",
    "compile_condition",
    "generate",
    "is_param_ref",
]

LOGIC_KEYS = ("allOf", "anyOf", "not")
SUBJECT_KEYS = ("field", "tag", "value", "count")
MODIFIER_KEYS = ("value_type", "default", "case_sensitive")
# `field: compute_type` etc. read the Resource's own attributes, not `fields`
RESOURCE_ATTRIBUTES = frozenset({"kind", "id", "name", "compute_type", "workspace", "endpoint_name",
                                 "origin", "live", "source", "subscription_id", "resource_group"})
# operators that make sense on a count
_COUNT_OPERATORS = frozenset({"equals", "notEquals", "in", "notIn", "less", "lessOrEquals", "greater",
                              "greaterOrEquals"})
_MISSING: Any = object()
_CLOCK_TYPES = frozenset({"age", "expiration"})  # their words change with the clock: never memoised


def is_param_ref(value: Any) -> bool:
    """True for `{param: name}`."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("param"), str)


@dataclass(slots=True)
class CompileContext:
    """What compiling needs: parameter values, the shared clock, problems found so far.

    `mode` is `resource` (rule conditions), `item` (a count's where-clause: fields are relative
    to the array item) or `scope` (override `when`: a tag falls back to the workspace's tags).
    """

    params: Mapping[str, Any]
    clock: Clock
    workspace_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    mode: str = "resource"
    problems: list[tuple[str, str]] = field(default_factory=list)  # (dotted path, message)
    params_used: set[str] = field(default_factory=set)

    def error(self, path: str, message: str) -> Node:
        self.problems.append((path, message))
        return _Const(True)


class Node:
    """A compiled condition: `fn(subject) -> bool`; `explain` and `summary` are for messages."""

    __slots__ = ("fn",)
    fn: Callable[[Any], bool]

    def explain(self, subject: Any, negate: bool = False) -> tuple[str | None, str]:
        """(field path or None, why the condition does not hold — or holds, when `negate`)."""
        raise NotImplementedError

    def summary(self) -> str:
        raise NotImplementedError

    def fields(self) -> list[str]:
        """Dotted field paths the condition reads (for line numbers and placeholder notes)."""
        return []

    def code(self) -> tuple[str, dict[str, Any]]:
        """The condition as a Python expression over `r`, with the names it needs.

        Generated leaves inline their comparison; anything else calls its own `fn`.
        """
        name = f"_n{next(_UNIQUE)}"
        return f"{name}(r)", {name: self.fn}

    def reads_resource(self) -> bool:
        return bool(self.fields())


class _Const(Node):
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value
        self.fn = (lambda s: True) if value else (lambda s: False)

    def code(self) -> tuple[str, dict[str, Any]]:
        return ("True" if self.value else "False"), {}

    def explain(self, subject: Any, negate: bool = False) -> tuple[str | None, str]:
        return None, "always " + ("true" if self.value else "false")

    def summary(self) -> str:
        return "true" if self.value else "false"


def _join(children: list[Node], operator: str) -> tuple[str, dict[str, Any]]:
    names: dict[str, Any] = {}
    exprs = []
    for child in children:
        expr, more = child.code()
        exprs.append(expr)
        names.update(more)
    return "(" + operator.join(exprs) + ")", names


def _negated(desc: str) -> str:
    return desc[4:] if desc.startswith("not ") else f"not {desc}"


class _AllOf(Node):
    __slots__ = ("children",)

    def __init__(self, children: list[Node]) -> None:
        self.children = children
        fns = [c.fn for c in children]
        if len(fns) == 1:
            self.fn = fns[0]
        elif len(fns) == 2:
            a, b = fns
            self.fn = lambda s: a(s) and b(s)
        elif len(fns) == 3:
            a, b, c = fns
            self.fn = lambda s: a(s) and b(s) and c(s)
        else:
            self.fn = lambda s: all(f(s) for f in fns)

    def code(self) -> tuple[str, dict[str, Any]]:
        return _join(self.children, " and ")

    def explain(self, subject: Any, negate: bool = False) -> tuple[str | None, str]:
        if not negate:
            for child in self.children:
                if not child.fn(subject):
                    return child.explain(subject)
            return None, "all conditions hold"
        first = next(iter(self.fields()), None)
        return first, f"all of ({self.summary()}) hold; expected at least one not to"

    def summary(self) -> str:
        return " and ".join(c.summary() for c in self.children)

    def fields(self) -> list[str]:
        return [f for c in self.children for f in c.fields()]


class _AnyOf(Node):
    __slots__ = ("children",)

    def __init__(self, children: list[Node]) -> None:
        self.children = children
        fns = [c.fn for c in children]
        if len(fns) == 1:
            self.fn = fns[0]
        elif len(fns) == 2:
            a, b = fns
            self.fn = lambda s: a(s) or b(s)
        else:
            self.fn = lambda s: any(f(s) for f in fns)

    def code(self) -> tuple[str, dict[str, Any]]:
        return _join(self.children, " or ")

    def explain(self, subject: Any, negate: bool = False) -> tuple[str | None, str]:
        if negate:
            for child in self.children:
                if child.fn(subject):
                    return child.explain(subject, negate=True)
            return None, "no condition holds"
        # explain the branches about the resource; a branch on a parameter alone ("the allow
        # list is empty") only adds noise to the message
        about = [c for c in self.children if c.reads_resource()] or self.children
        reasons = [c.explain(subject) for c in about]
        first = next((f for f, _ in reasons if f), None)
        if len(reasons) == 1:
            return first, reasons[0][1]
        return first, "none of the alternatives holds: " + "; or ".join(m for _, m in reasons)

    def summary(self) -> str:
        return "(" + " or ".join(c.summary() for c in self.children) + ")"

    def fields(self) -> list[str]:
        return [f for c in self.children for f in c.fields()]


class _Not(Node):
    __slots__ = ("child",)

    def __init__(self, child: Node) -> None:
        self.child = child
        inner = child.fn
        self.fn = lambda s: not inner(s)

    def code(self) -> tuple[str, dict[str, Any]]:
        expr, names = self.child.code()
        return f"(not {expr})", names

    def explain(self, subject: Any, negate: bool = False) -> tuple[str | None, str]:
        return self.child.explain(subject, not negate)

    def summary(self) -> str:
        return f"not ({self.child.summary()})"

    def fields(self) -> list[str]:
        return self.child.fields()


def _walk(value: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
        if value is None:
            return None
    return value


def _field_getter(path: str, mode: str) -> Callable[[Any], Any]:
    """A closure reading `path` from a Resource (or from an array item in `item` mode)."""
    if mode == "item":
        if path in ("@", "."):
            return lambda item: item
        parts = tuple(path.split("."))
        return lambda item: _walk(item, parts)
    if path in RESOURCE_ATTRIBUTES:
        attr = path
        return lambda r: getattr(r, attr)
    parts = tuple(path.split("."))
    if len(parts) == 1:
        key = parts[0]
        return lambda r: r.fields.get(key)
    if len(parts) == 2:
        a, b = parts

        def get2(r: Resource) -> Any:
            v = r.fields.get(a)
            return v.get(b) if isinstance(v, dict) else _walk(v, (b,)) if v is not None else None

        return get2
    return lambda r: _walk(r.fields, parts)


def _defaulted(resource: Any, path: str) -> bool:
    """True when the inventory filled `path` (or a parent of it) from the Azure default."""
    defaulted = getattr(resource, "defaulted", None)
    if not defaulted:
        return False
    return any(path == d or path.startswith(d + ".") for d in defaulted)


def _tag_getter(name: str, fallback: dict[str, dict[str, str]] | None) -> Callable[[Any], Any]:
    folded = name.casefold()

    def lookup(tags: Any) -> Any:
        if not isinstance(tags, dict) or not tags:
            return None
        if name in tags:
            return tags[name]
        for key, value in tags.items():  # Azure tag names are case-insensitive
            if isinstance(key, str) and key.casefold() == folded:
                return value
        return None

    if fallback is None:
        return lambda r: lookup(r.fields.get("tags"))

    def with_workspace(r: Resource) -> Any:
        value = lookup(r.fields.get("tags"))
        if value is None and r.workspace:
            value = lookup(fallback.get(r.workspace))
        return value

    return with_workspace


class _Leaf(Node):
    """One comparison: subject (field / tag / value / count), optional value_type, operator."""

    __slots__ = (
        "clock",
        "default",
        "desc",
        "detail",
        "expected",
        "expr",
        "get",
        "label",
        "memo",
        "op",
        "param_name",
        "path",
        "value_conv",
        "vt_name",
    )

    def __init__(self, *, op: Operator, expected: Any, case_sensitive: bool, get: Callable[[Any], Any],
                 label: str, path: str | None, value_type: str | None, default: Any, clock: Clock,
                 presence_ok: bool, param_name: str | None, field_parts: tuple[str, ...] | None = None,
                 tag_name: str | None = None) -> None:
        self.op = op
        self.expected = expected
        self.get = get
        self.label = label
        self.path = path
        self.vt_name = value_type
        self.value_conv = VALUE_TYPES[value_type].convert if value_type else None
        self.default = default
        self.clock = clock
        self.param_name = param_name
        self.desc = op.describe(expected)
        self.memo: dict[Any, tuple[str | None, str]] = {}
        pred = op.build(expected, case_sensitive)
        conv = self.value_conv
        fused = _fuse(op.name, expected, case_sensitive, field_parts, tag_name, path, default, conv, clock,
                      pred, presence_ok) if field_parts or tag_name else None
        self.expr: tuple[str, dict[str, Any]] | None = fused
        if fused is not None:
            namespace = generate(f"<amlguard condition {path} {op.name}>",
                                 f"def fused(r):\n    f = r.fields\n    return {fused[0]}\n", fused[1])
            self.fn = namespace["fused"]
        elif op.presence:
            fieldpath = path or ""
            if presence_ok:
                self.fn = lambda s: pred(get(s) is not None and not _defaulted(s, fieldpath))
            else:
                self.fn = lambda s: pred(get(s) is not None)
        elif conv is None and default is _MISSING:
            self.fn = lambda s: pred(get(s))
        else:
            has_default = default is not _MISSING

            def check(s: Any) -> bool:
                value = get(s)
                if value is None and has_default:
                    value = default
                if conv is not None:
                    value = conv(value, clock)
                return pred(value)

            self.fn = check

    def code(self) -> tuple[str, dict[str, Any]]:
        return self.expr if self.expr is not None else Node.code(self)

    def _value(self, subject: Any) -> tuple[Any, Any, bool, bool]:
        raw = self.get(subject)
        from_default = False
        if raw is None and self.default is not _MISSING:
            raw, from_default = self.default, True
        elif self.path and raw is not None and _defaulted(subject, self.path):
            from_default = True
        converted = self.value_conv(raw, self.clock) if self.value_conv else raw
        return raw, converted, raw is None, from_default

    def explain(self, subject: Any, negate: bool = False) -> tuple[str | None, str]:
        # the words depend only on the value and how it was obtained: memoise per distinct value
        # (a sweep explains the same "is 'enabled'" thousands of times)
        raw = self.get(subject)
        absent = raw is None
        from_default = self.path is not None and not absent and _defaulted(subject, self.path)
        try:
            key: Any = (type(raw), raw, from_default, negate)
            cached = self.memo.get(key)
        except TypeError:  # unhashable (a list or mapping value)
            key, cached = None, None
        if cached is None:
            cached = self._explain(subject, negate)
            if key is not None and len(self.memo) < 256 and self.vt_name not in _CLOCK_TYPES:
                self.memo[key] = cached
        return cached

    def _explain(self, subject: Any, negate: bool) -> tuple[str | None, str]:
        desc = self.desc
        if negate:
            desc = _negated(desc)
        raw, converted, absent, from_default = self._value(subject)
        if self.op.presence:
            if absent or from_default:
                said = f"{self.label} is not set"
                if from_default:
                    said += f"; Azure defaults it to {_bare(raw)}"
            else:
                said = f"{self.label} is set to {show(raw)}"
            return self.path, f"{said}; expected it {desc}"
        if absent:
            said = f"{self.label} is not set"
        elif from_default:
            said = f"{self.label} is not set; Azure defaults it to {_bare(raw)}"
        else:
            said = f"{self.label} is {show(raw)}"
        if self.value_conv is not None and not absent and converted != raw:
            said += f" ({self.vt_name}: {show(converted)})"
        message = f"{said}; expected {desc}"
        if self.op.detail is not None and not negate:
            detail = self.op.detail(converted, self.expected)
            if detail:
                message += f" ({detail})"
        return self.path, message

    def summary(self) -> str:
        vt = f" as {self.vt_name}" if self.vt_name else ""
        return f"{self.label}{vt} {self.op.name} {show(self.expected)}"

    def fields(self) -> list[str]:
        return [self.path] if self.path else []


# ---------------------------------------------------------------------------------- fusion
# A leaf on a resource field or tag compiles to generated code: read the field, apply the default
# and value type, compare, as ONE Python expression. `fn(r)` runs it for one resource (one call
# instead of three nested closures); the engine splices the expressions of every rule of a
# kind into one comprehension and evaluates all of them in a single pass over the resources.
_NUMERIC = {"less": "<", "lessOrEquals": "<=", "greater": ">", "greaterOrEquals": ">="}
_UNIQUE = itertools.count()


def _fused_test(op: str, expected: Any, case_sensitive: bool) -> str | None:
    """The comparison as a Python expression over the value expression {V} (the operand is {E})."""
    number = "isinstance(v := {V}, (int, float)) and not isinstance(v, bool) and "
    if op in ("equals", "notEquals"):
        if isinstance(expected, str):
            # normalised sources already give the canonical text: try the plain comparison first
            test = ("isinstance(v := {V}, str) and str.__str__(v) == {E}" if case_sensitive
                    else "(v := {V}) == {E} or isinstance(v, str) and v.casefold() == {E}")
        elif isinstance(expected, bool):
            test = "({V}) is {E}"
        elif isinstance(expected, (int, float)):
            test = number + "v == {E}"
        else:
            return None
        return test if op == "equals" else f"not ({test})"
    if op in ("in", "notIn") and isinstance(expected, list) and expected and not case_sensitive \
            and all(isinstance(e, str) for e in expected):
        test = "isinstance(v := {V}, str) and (v in {E} or v.casefold() in {E})"
        return test if op == "in" else f"not ({test})"
    if op in _NUMERIC and isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return number + f"v {_NUMERIC[op]} {{E}}"
    return None


def _tag_ci(tags: dict[Any, Any], folded: str) -> Any:
    for key, value in tags.items():  # Azure tag names are case-insensitive
        if isinstance(key, str) and key.casefold() == folded:
            return value
    return None


SHARED_NAMES: dict[str, Any] = {"_walk": _walk, "_defaulted": _defaulted, "_tag_ci": _tag_ci}


def _fuse(op: str, expected: Any, case_sensitive: bool, parts: tuple[str, ...] | None, tag: str | None,
          path: str | None, default: Any, conv: Any, clock: Clock, pred: Callable[[Any], bool],
          presence_ok: bool) -> tuple[str, dict[str, Any]] | None:
    """The leaf as ONE Python expression over `r` plus the names it uses, or None.

    The expression reads the resource as `r` and its fields mapping as `f`. Names are unique
    per leaf, so that expressions of many rules can share one generated function (the engine
    evaluates every rule of a kind in one comprehension); the scratch variables v, t, x are
    assigned before each use.
    """
    # nothing from a policy file is ever pasted into the source: field names, tag names and
    # operands are bound as names (`bind`), so a hostile policy cannot inject code
    prefix = f"_l{next(_UNIQUE)}_"
    names: dict[str, Any] = {}

    def bind(name: str, value: Any) -> str:
        names[prefix + name] = value
        return prefix + name

    if tag is not None:
        read = (f"((x if (x := t.get({bind('TAG', tag)})) is not None else _tag_ci(t, {bind('TAGF', tag.casefold())})) "
                f"if type(t := f.get('tags')) is dict and t else None)")
    elif parts is not None and len(parts) == 1:
        read = f"f.get({bind('P0', parts[0])})"
    elif parts is not None and len(parts) == 2:
        p0, p1 = bind("P0", parts[0]), bind("P1", parts[1])
        read = f"(v.get({p1}) if type(v := f.get({p0})) is dict else None if v is None else _walk(v, ({p1},)))"
    elif parts is not None:
        read = f"_walk(f, {bind('PARTS', parts)})"
    else:
        return None
    if op == "exists":
        if not isinstance(expected, bool):
            return None
        # `_defaulted` asks "is the path, or a parent of it, among the defaulted paths": the same
        # as "do the defaulted paths meet the path's prefixes", which a set answers in C
        pieces = (path or "").split(".")
        prefixes = frozenset(".".join(pieces[:n]) for n in range(1, len(pieces) + 1))
        test = (f"(v := {read}) is not None and not (r.defaulted and not r.defaulted.isdisjoint("
                f"{bind('PREFIXES', prefixes)}))" if presence_ok else f"{read} is not None")
        return (f"({test})" if expected else f"(not ({test}))"), names
    value = read
    if default is not _MISSING:
        value = f"({bind('D', default)} if (v := {value}) is None else v)"
    if conv is not None:
        value = f"{bind('CONV', conv)}({value}, {bind('CLOCK', clock)})"
    template = _fused_test(op, expected, case_sensitive)
    if template is None:
        return f"{bind('PRED', pred)}({value})", names
    operand = (frozenset(e.casefold() for e in expected) if op in ("in", "notIn")
               else expected.casefold() if isinstance(expected, str) and not case_sensitive
               else str.__str__(expected) if isinstance(expected, str) else expected)
    return "(" + template.replace("{V}", value).replace("{E}", bind("E", operand)) + ")", names


_CODE_CACHE: dict[tuple[str, str], Any] = {}


# the per-leaf and per-node names (`_l12_E`, `_n7`) come from a process-wide counter
_NUMBERED_NAME = re.compile(r"\b_(?:l\d+_|n\d+\b)")


def _renumbered(body: str, names: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """`body` and `names` with the counter-numbered names renumbered in order of appearance.

    The counter keeps names unique, but it makes every compile of the same rules produce a new
    text; renumbered, an unchanged pack gives the same text and hits the code cache.
    """
    mapping: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        token = match.group(0)
        new = mapping.get(token)
        if new is None:
            new = mapping[token] = f"_g{len(mapping)}" + ("_" if token.endswith("_") else "")
        return new

    body = _NUMBERED_NAME.sub(rename, body)
    return body, {_NUMBERED_NAME.sub(rename, name, count=1): value for name, value in names.items()}


def generate(source_name: str, body: str, names: dict[str, Any]) -> dict[str, Any]:
    """Compile generated code with its names; returns the namespace holding its functions.

    The code object is cached by its text (values are bound as names, never written into the
    text), so reloading an unchanged pack, or another pack with the same rules, compiles nothing.
    """
    body, names = _renumbered(body, names)
    key = (source_name, body)
    code = _CODE_CACHE.get(key)
    if code is None:
        code = compile(body, source_name, "exec")
        if len(_CODE_CACHE) < 4096:
            _CODE_CACHE[key] = code
    namespace = dict(SHARED_NAMES)
    namespace.update(names)
    exec(code, namespace)
    return namespace


def _bare(value: Any) -> str:
    return str.__str__(value) if isinstance(value, str) else show(value)


def compile_condition(spec: Any, path: str, ctx: CompileContext) -> Node:
    """Compile one condition mapping found at dotted `path`; problems go to `ctx.problems`."""
    if not isinstance(spec, dict) or not spec:
        return ctx.error(path, f"expected a condition mapping ({', '.join(LOGIC_KEYS)} or field/tag/value/"
                               f"count with an operator), got {show(spec)}")
    logic = [k for k in LOGIC_KEYS if k in spec]
    if logic:
        if len(spec) != 1:
            others = ", ".join(str(k) for k in spec if k != logic[0])
            return ctx.error(path, f"'{logic[0]}' must stand alone in its mapping; move {others} into "
                                   f"a condition inside it")
        key = logic[0]
        body = spec[key]
        if key == "not":
            return _Not(compile_condition(body, f"{path}.not", ctx))
        if not isinstance(body, list) or not body:
            return ctx.error(f"{path}.{key}", "expected a non-empty list of conditions")
        children = [compile_condition(c, f"{path}.{key}.{i}", ctx) for i, c in enumerate(body)]
        return _AllOf(children) if key == "allOf" else _AnyOf(children)
    return _compile_leaf(spec, path, ctx)


def _resolve(value: Any, path: str, ctx: CompileContext) -> tuple[Any, str | None]:
    if is_param_ref(value):
        name = value["param"]
        if name not in ctx.params:
            known = ", ".join(sorted(ctx.params)) or "none declared"
            ctx.problems.append((f"{path}.param", f"unknown parameter '{name}'; the rule declares: {known}"))
            return None, name
        ctx.params_used.add(name)
        return ctx.params[name], name
    return value, None


def _compile_leaf(spec: dict[str, Any], path: str, ctx: CompileContext) -> Node:
    unknown = [k for k in spec if k not in OPERATORS and k not in SUBJECT_KEYS and k not in MODIFIER_KEYS]
    if unknown:
        return ctx.error(f"{path}.{unknown[0]}", f"unknown key '{unknown[0]}'; expected an operator "
                                                 f"({', '.join(OPERATORS)}) or one of "
                                                 f"{', '.join(SUBJECT_KEYS + MODIFIER_KEYS + LOGIC_KEYS)}")
    ops = [k for k in spec if k in OPERATORS]
    subjects = [k for k in spec if k in SUBJECT_KEYS]
    if len(subjects) != 1:
        found = f"found {', '.join(subjects)}" if subjects else "found none"
        return ctx.error(path, f"expected exactly one of field, tag, value, count ({found})")
    if len(ops) != 1:
        found = f"found {', '.join(ops)}" if ops else "found none"
        return ctx.error(path, f"expected exactly one operator ({', '.join(OPERATORS)}); {found}")
    op = OPERATORS[ops[0]]
    subject = subjects[0]
    expected, expected_param = _resolve(spec[op.name], f"{path}.{op.name}", ctx)
    if expected_param is not None and expected_param not in ctx.params:
        return _Const(True)  # the unknown parameter is reported; its value cannot be checked
    problem = _check_operand(op, expected)
    if problem:
        via = f" (parameter {expected_param})" if expected_param else ""
        return ctx.error(f"{path}.{op.name}", problem + via)
    value_type = spec.get("value_type")
    if value_type is not None and value_type not in VALUE_TYPES:
        return ctx.error(f"{path}.value_type", f"unknown value_type '{value_type}'; expected one of "
                                               f"{', '.join(VALUE_TYPES)}")
    case_sensitive = bool(spec.get("case_sensitive", False))
    default = spec.get("default", _MISSING)
    param_name: str | None = None
    presence_ok = ctx.mode != "item"

    if subject == "field":
        fieldpath = spec["field"]
        if not isinstance(fieldpath, str) or not fieldpath.strip():
            return ctx.error(f"{path}.field", "expected a dotted field path such as public_network_access")
        get = _field_getter(fieldpath, ctx.mode)
        label, fpath = fieldpath, (fieldpath if ctx.mode != "item" else None)
        if ctx.mode == "item":
            label = "the item" if fieldpath in ("@", ".") else f"item {fieldpath}"
    elif subject == "tag":
        name = spec["tag"]
        if not isinstance(name, str) or not name:
            return ctx.error(f"{path}.tag", "expected a tag name")
        if ctx.mode == "item":
            return ctx.error(f"{path}.tag", "tag is not available inside a count's where-clause; use field")
        get = _tag_getter(name, ctx.workspace_tags if ctx.mode == "scope" else None)
        label, fpath = f"tag '{name}'", f"tags.{name}"
    elif subject == "value":
        constant, param_name = _resolve(spec["value"], f"{path}.value", ctx)
        get = lambda s: constant  # noqa: E731 - a constant subject
        label, fpath = (f"parameter {param_name} ({show(constant)})" if param_name else show(constant)), None
        presence_ok = False
    else:
        count_spec = spec["count"]
        if not isinstance(count_spec, dict) or not isinstance(count_spec.get("field"), str):
            return ctx.error(f"{path}.count", "expected {field: <path to a list or mapping>, where: <condition>}")
        if op.name not in _COUNT_OPERATORS:
            return ctx.error(f"{path}.{op.name}", f"a count compares with one of {', '.join(sorted(_COUNT_OPERATORS))}")
        extra = [k for k in count_spec if k not in ("field", "where")]
        if extra:
            return ctx.error(f"{path}.count.{extra[0]}", f"unknown key '{extra[0]}'; a count has field and where")
        items_path = count_spec["field"]
        items_get = _field_getter(items_path, ctx.mode)
        where: Node | None = None
        if count_spec.get("where") is not None:
            item_ctx = CompileContext(ctx.params, ctx.clock, ctx.workspace_tags, "item", ctx.problems,
                                      ctx.params_used)
            where = compile_condition(count_spec["where"], f"{path}.count.where", item_ctx)
        where_fn = where.fn if where is not None else None

        def get(s: Any) -> int:
            value = items_get(s)
            items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
            if where_fn is None:
                return len(items)
            return sum(1 for item in items if where_fn(item))

        label = f"the number of {items_path} items" + (f" where {where.summary()}" if where else "")
        fpath = items_path if ctx.mode != "item" else None
        presence_ok = False
    field_parts = tag_name = None
    if subject == "field" and ctx.mode == "resource" and spec["field"] not in RESOURCE_ATTRIBUTES:
        field_parts = tuple(spec["field"].split("."))
    if subject == "tag" and ctx.mode == "resource":
        tag_name = spec["tag"]
    return _Leaf(op=op, expected=expected, case_sensitive=case_sensitive, get=get, label=label, path=fpath,
                 value_type=value_type, default=default, clock=ctx.clock, presence_ok=presence_ok,
                 param_name=param_name, field_parts=field_parts, tag_name=tag_name)


def _check_operand(op: Operator, expected: Any) -> str | None:
    """Operand checks the JSON Schema cannot make for parameter values (and regex syntax)."""
    if op.numeric and (not isinstance(expected, (int, float)) or isinstance(expected, bool)):
        return f"'{op.name}' compares with a number; got {show(expected)}"
    if op.name in ("in", "notIn") and not isinstance(expected, list):
        return f"'{op.name}' takes a list of values; got {show(expected)}"
    if op.name == "exists" and not isinstance(expected, bool):
        return f"'exists' takes true or false; got {show(expected)}"
    if op.name in ("match", "notMatch") and not (
            isinstance(expected, str) or (isinstance(expected, list) and all(isinstance(p, str) for p in expected))):
        return f"'{op.name}' takes a glob or a list of globs; got {show(expected)}"
    if op.name in ("regex", "notRegex"):
        import re

        if not isinstance(expected, str):
            return f"'{op.name}' takes a regular expression; got {show(expected)}"
        try:
            re.compile(expected)
        except re.error as exc:
            return f"invalid regular expression {show(expected)}: {exc}"
    return None
