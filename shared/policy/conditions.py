"""Compile condition trees (allOf / anyOf / not / field leaves / count; grammar in docs/policy.md)
into closures over the operators' registered predicates; `explain` words only the failures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from amlguard.model import Resource
from amlguard.policy.operators import OPERATORS, Operator, show
from amlguard.policy.valuetypes import VALUE_TYPES, Clock

__all__ = ["FIELDS_PREFIX", "LOGIC_KEYS", "MODIFIER_KEYS", "RESOURCE_ATTRIBUTES", "SUBJECT_KEYS", "CompileContext",
           "Node", "WorkspaceTags", "compile_condition", "is_param_ref"]

LOGIC_KEYS = ("allOf", "anyOf", "not")
SUBJECT_KEYS = ("field", "tag", "value", "count")
MODIFIER_KEYS = ("value_type", "default", "case_sensitive")
# `field: compute_type` etc. read the Resource's own attributes, not `fields`; `fields.<name>` reads
# the field of that name when a resource attribute has it too
FIELDS_PREFIX = "fields."
RESOURCE_ATTRIBUTES = frozenset({"kind", "id", "name", "compute_type", "workspace", "endpoint_name",
                                 "origin", "live", "source", "subscription_id", "resource_group"})
# operators that make sense on a count
_COUNT_OPERATORS = frozenset({"equals", "notEquals", "in", "notIn", "less", "lessOrEquals", "greater",
                              "greaterOrEquals"})
_MISSING: Any = object()
_CLOCK_TYPES = frozenset({"age", "expiration"})  # their words change with the clock: never memoised


class WorkspaceTags(Protocol):
    """Workspace name -> its tags: a dict, or the engine's view of the evaluation in this thread."""

    def get(self, name: str, /) -> Mapping[str, str] | None: ...


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
    workspace_tags: WorkspaceTags = field(default_factory=dict[str, Mapping[str, str]])
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

    def reads_resource(self) -> bool:
        return bool(self.fields())


class _Const(Node):
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value
        self.fn = (lambda s: True) if value else (lambda s: False)

    def explain(self, subject: Any, negate: bool = False) -> tuple[str | None, str]:
        return None, "always " + ("true" if self.value else "false")

    def summary(self) -> str:
        return "true" if self.value else "false"


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
    if path.startswith(FIELDS_PREFIX):  # `fields.kind`: the workspace's own kind (hub, project), not the Resource's
        path = path[len(FIELDS_PREFIX):]
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


def _tag_getter(name: str, fallback: WorkspaceTags | None) -> Callable[[Any], Any]:
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
        def tag(r: Resource) -> Any:  # `lookup` inlined: this runs once per resource and rule
            tags = r.fields.get("tags")
            return tags[name] if type(tags) is dict and name in tags else lookup(tags)

        return tag

    def with_workspace(r: Resource) -> Any:
        value = lookup(r.fields.get("tags"))
        if value is None and r.workspace:
            value = lookup(fallback.get(r.workspace))
        return value

    return with_workspace


class _Leaf(Node):
    """One comparison: subject (field / tag / value / count), optional value_type, operator."""

    __slots__ = ("clock", "default", "desc", "expected", "get", "label", "memo", "op", "param_name", "path",
                 "prefixes", "value_conv", "vt_name")

    def __init__(self, *, op: Operator, expected: Any, case_sensitive: bool, get: Callable[[Any], Any],
                 label: str, path: str | None, value_type: str | None, default: Any, clock: Clock,
                 presence_ok: bool, param_name: str | None, key: str | None = None) -> None:
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
        # the paths whose defaulting defaults this one: the value came from the Azure default when
        # Resource.defaulted meets them
        self.prefixes = _prefixes(path) if path else frozenset()
        self.fn = _leaf_fn(op.build(expected, case_sensitive), get, key, op.presence,
                           self.prefixes if presence_ok and path else None, default, self.value_conv, clock)

    def _value(self, subject: Any) -> tuple[Any, Any, bool, bool]:
        raw = self.get(subject)
        from_default = False
        if raw is None and self.default is not _MISSING:
            raw, from_default = self.default, True
        elif raw is not None and self._defaulted(subject):
            from_default = True
        converted = self.value_conv(raw, self.clock) if self.value_conv else raw
        return raw, converted, raw is None, from_default

    def explain(self, subject: Any, negate: bool = False) -> tuple[str | None, str]:
        # the words depend only on the value and how it was obtained: memoise per distinct value
        # (a sweep explains the same "is 'enabled'" thousands of times)
        raw = self.get(subject)
        key = (type(raw), raw, raw is not None and self._defaulted(subject), negate)
        try:
            cached = self.memo.get(key)
        except TypeError:  # unhashable (a list or mapping value)
            return self._explain(subject, negate)
        if cached is None:
            cached = self._explain(subject, negate)
            if len(self.memo) < 256 and self.vt_name not in _CLOCK_TYPES:
                self.memo[key] = cached
        return cached

    def _defaulted(self, subject: Any) -> bool:
        """True when the inventory filled this path (or a parent of it) from the Azure default."""
        defaulted = getattr(subject, "defaulted", None)  # a count's items are plain values
        if not defaulted:
            return False
        return not defaulted.isdisjoint(self.prefixes)

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


# ---------------------------------------------------------------------------------- leaf closures
# A leaf runs once per resource and rule, so its closure is specialised by shape: `key` is a
# top-level field name read straight from `fields` (no getter call), and only the steps the
# condition has (default, value type) are in it. Every shape ends in the operator's predicate.
def _leaf_fn(pred: Callable[[Any], bool], get: Callable[[Any], Any], key: str | None, presence: bool,
             prefixes: frozenset[str] | None, default: Any, conv: Callable[[Any, Clock], Any] | None,
             clock: Clock) -> Callable[[Any], bool]:
    if presence:
        if prefixes is None:
            return lambda s: pred(get(s) is not None)
        # a value the inventory filled from the Azure default is not "set": the path, or a parent
        # of it, is among Resource.defaulted exactly when the two sets meet
        return lambda s: pred(get(s) is not None and not (s.defaulted and not s.defaulted.isdisjoint(prefixes)))
    if conv is None and default is _MISSING:
        return (lambda s: pred(s.fields.get(key))) if key is not None else (lambda s: pred(get(s)))
    if conv is None:
        if key is not None:
            return lambda s: pred(default if (v := s.fields.get(key)) is None else v)
        return lambda s: pred(default if (v := get(s)) is None else v)
    has_default = default is not _MISSING

    def converted(s: Any) -> bool:
        value = get(s)
        if value is None and has_default:
            value = default
        return pred(conv(value, clock))

    return converted


def _prefixes(path: str) -> frozenset[str]:
    """`a.b.c` -> {a, a.b, a.b.c}: the paths whose defaulting also defaults `path`."""
    pieces = path.split(".")
    return frozenset(".".join(pieces[:n]) for n in range(1, len(pieces) + 1))


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
    problem = op.check(op.name, expected) if op.check is not None else None
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
    key = spec["field"] if subject == "field" and ctx.mode != "item" and "." not in spec["field"] \
        and spec["field"] not in RESOURCE_ATTRIBUTES else None
    return _Leaf(op=op, expected=expected, case_sensitive=case_sensitive, get=get, label=label, path=fpath,
                 value_type=value_type, default=default, clock=ctx.clock, presence_ok=presence_ok,
                 param_name=param_name, key=key)
