"""A bounded Bicep reader: the `resource` declarations of a .bicep file as ARM objects (type, name,
location, identity, sku, tags, properties ...) with the line of every property, `param` defaults
and `var` values resolved, string interpolation evaluated where its parts are known.

Why not pycep-parser (Apache-2.0, a dev dependency for Checkov): its JSON gives an identifier
reference and a string literal of the same text alike (`name: wsName` and `name: 'wsName'` both
become "wsName"), it keeps no line per property, and building its grammar costs ~0.5 s. This
reader covers the declarations amlguard needs and says, with the line, what it did not read.

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
from dataclasses import dataclass, field
from typing import Any

from amlguard.inventory.armtemplate import Declared, Expansion, Opaque, has_opaque

__all__ = ["BicepError", "read_bicep", "read_bicepparam"]

_MAX_DEPTH = 100


class BicepError(ValueError):
    """Text this reader cannot parse, with its 1-based line."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


# ----------------------------------------------------------------------------- lexing
@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # ident | string | number | punct | newline | eof
    value: Any  # text; for strings a list of parts: str or (source, line) of an interpolation
    line: int
    start: int
    end: int


_PUNCT = ("=>", "==", "!=", "=~", "!~", "<=", ">=", "&&", "||", "??", ".?", "::", "{", "}", "[", "]", "(", ")", ":",
          ",", ".", "?", "!", "=", "<", ">", "+", "-", "*", "/", "%", "@", "|")
_SPACE = re.compile(r"[ \t\r]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", "$": "$"}


def _lex(text: str, line: int = 1) -> list[_Tok]:
    out: list[_Tok] = []
    pos, size = 0, len(text)
    while pos < size:
        char = text[pos]
        if char in " \t\r":
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
        elif char == "\n":
            out.append(_Tok("newline", "\n", line, pos, pos + 1))
            line, pos = line + 1, pos + 1
        elif text.startswith("//", pos):
            end = text.find("\n", pos)
            pos = size if end < 0 else end
        elif text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                raise BicepError("a /* comment is never closed", line)
            line += text.count("\n", pos, end)
            pos = end + 2
        elif text.startswith("'''", pos):
            end = text.find("'''", pos + 3)
            if end < 0:
                raise BicepError("a ''' string is never closed", line)
            body = text[pos + 3:end]
            out.append(_Tok("string", [body[1:] if body.startswith("\n") else body], line, pos, end + 3))
            line += body.count("\n")
            pos = end + 3
        elif char == "'":
            parts, end, lines = _string(text, pos, line)
            out.append(_Tok("string", parts, line, pos, end))
            line, pos = line + lines, end
        elif char.isdigit():
            match = _NUMBER.match(text, pos)
            assert match is not None
            out.append(_Tok("number", match.group(), line, pos, match.end()))
            pos = match.end()
        elif char.isalpha() or char == "_":
            match = _IDENT.match(text, pos)
            assert match is not None
            out.append(_Tok("ident", match.group(), line, pos, match.end()))
            pos = match.end()
        else:
            punct = next((p for p in _PUNCT if text.startswith(p, pos)), None)
            if punct is None:
                raise BicepError(f"unexpected character {char!r}", line)
            out.append(_Tok("punct", punct, line, pos, pos + len(punct)))
            pos += len(punct)
    out.append(_Tok("eof", "", line, size, size))
    return out


def _string(text: str, pos: int, line: int) -> tuple[list[Any], int, int]:
    """A '...' string from `pos`: its parts (text, or (source, line) of each ${...}), the offset
    after it and the newlines it spans (only inside interpolations)."""
    parts: list[Any] = []
    buf: list[str] = []
    i, newlines = pos + 1, 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "u" and text.startswith("{", i + 2):
                close = text.index("}", i + 3)
                buf.append(chr(int(text[i + 3:close], 16)))
                i = close + 1
                continue
            buf.append(_ESCAPES.get(nxt, nxt))
            i += 2
        elif char == "'":
            if buf or not parts:
                parts.append("".join(buf))
            return parts, i + 1, newlines
        elif char == "\n":
            raise BicepError("a string is not closed on its line", line + newlines)
        elif text.startswith("${", i):
            if buf:
                parts.append("".join(buf))
                buf = []
            depth, j = 1, i + 2
            while j < len(text) and depth:
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                elif text[j] == "'":  # a string inside the interpolation
                    _, j, _ = _string(text, j, line)
                    continue
                j += 1
            if depth:
                raise BicepError("a ${ in a string is never closed", line + newlines)
            parts.append((text[i + 2:j - 1], line + newlines))
            newlines += text.count("\n", i, j)
            i = j
        else:
            buf.append(char)
            i += 1
    raise BicepError("a string is never closed", line)


# ----------------------------------------------------------------------------- parsing
@dataclass(slots=True)
class _Node:
    kind: str  # lit str ref member index call obj arr for unary binary ternary resource
    args: tuple[Any, ...]
    line: int
    src: str


@dataclass(slots=True)
class _Resource:
    symbol: str
    type: str
    line: int
    body: _Node | None  # the object (None: `existing` without body)
    existing: bool = False
    condition: _Node | None = None
    loop: str | None = None  # the `for` header as written
    parent: str | None = None  # the enclosing resource's symbol (nested declaration)


@dataclass(slots=True)
class _File:
    params: dict[str, tuple[_Node | None, bool]] = field(default_factory=dict)  # name -> (default, secure)
    variables: dict[str, _Node] = field(default_factory=dict)
    resources: list[_Resource] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)


_BINARY = {"??": 1, "||": 2, "&&": 3, "==": 4, "!=": 4, "=~": 4, "!~": 4, "<": 5, ">": 5, "<=": 5, ">=": 5,
           "+": 6, "-": 6, "*": 7, "/": 7, "%": 7}
_CONTINUE = frozenset({"?", "??", "&&", "||", ":"})


class _Parser:
    def __init__(self, text: str, tokens: list[_Tok]) -> None:
        self.text, self.toks, self.pos = text, tokens, 0
        self.depth = 0

    # -- tokens ------------------------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.pos]

    def next(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def at(self, value: str) -> bool:
        return self.tok.kind in ("punct", "ident") and self.tok.value == value

    def expect(self, value: str) -> _Tok:
        if not self.at(value):
            raise BicepError(f"expected {value!r}, found {self._show(self.tok)}", self.tok.line)
        return self.next()

    def skip_newlines(self) -> None:
        while self.tok.kind == "newline":
            self.pos += 1

    def continuation(self) -> bool:
        """A newline followed by an operator that continues the expression (a multi-line ternary)."""
        i = self.pos
        while self.toks[i].kind == "newline":
            i += 1
        if i > self.pos and self.toks[i].kind == "punct" and self.toks[i].value in _CONTINUE:
            self.pos = i
            return True
        return False

    @staticmethod
    def _show(tok: _Tok) -> str:
        return "end of file" if tok.kind == "eof" else "end of line" if tok.kind == "newline" else repr(
            tok.value if tok.kind != "string" else "'...'")

    def skip(self, depth: int = 0, *, to_newline: bool = False) -> None:
        """Past tokens: to the bracket that closes `depth` open ones (with 0, the group that starts
        here), or with `to_newline` to the end of the statement, a newline outside any bracket."""
        opened = depth > 0
        while self.tok.kind != "eof":
            tok = self.next()
            if tok.kind == "punct" and tok.value in "{[(":
                depth, opened = depth + 1, True
            elif tok.kind == "punct" and tok.value in "}])":
                depth -= 1
                if depth <= 0 and opened and not to_newline:
                    return
            elif tok.kind == "newline" and depth <= 0 and to_newline:
                return

    def src(self, start: _Tok) -> str:
        end = self.toks[self.pos - 1].end if self.pos else start.end
        return self.text[start.start:end]

    # -- statements -----------------------------------------------------------------------------
    def file(self) -> _File:
        out = _File()
        secure = False
        while True:
            self.skip_newlines()
            tok = self.tok
            if tok.kind == "eof":
                return out
            start = self.pos
            try:
                if self.at("@"):
                    self.next()
                    decorator = self.expression()
                    secure = secure or (decorator.kind == "call" and decorator.args[1].lower() == "secure")
                    continue
                self.statement(out, secure)
            except BicepError as exc:
                out.problems.append((exc.line or tok.line, str(exc)))
                self.pos = start
                self.skip(to_newline=True)
            secure = False

    def statement(self, out: _File, secure: bool) -> None:
        tok = self.next()
        word = tok.value if tok.kind == "ident" else None
        if word == "param":
            name = self.ident()
            default = None
            while self.tok.kind not in ("newline", "eof") and not self.at("="):
                self.type_expression()
            if self.at("="):
                self.next()
                default = self.expression()
            out.params[name] = (default, secure)
        elif word == "var":
            name = self.ident()
            self.expect("=")
            out.variables[name] = self.expression()
        elif word == "resource":
            self.resource(out, tok, None)
        elif word in ("module", "output", "metadata", "targetScope", "type", "func", "import", "using",
                      "extension", "provider", "assert"):
            self.skip(to_newline=True)
            return
        else:
            raise BicepError(f"unexpected {self._show(tok)} at the start of a statement; amlguard reads param, "
                             "var, resource, module, output, type, func, import and metadata", tok.line)
        if self.tok.kind not in ("newline", "eof"):
            raise BicepError(f"unexpected {self._show(self.tok)} after the declaration", self.tok.line)

    def type_expression(self) -> None:
        """Past a param's type (`string`, `'a' | 'b'`, `string[]`, `{...}`, `resource '...'`, `T?`)."""
        tok = self.tok
        if tok.kind == "punct" and tok.value in "{[(":
            self.skip()
        else:
            self.next()

    def ident(self) -> str:
        tok = self.next()
        if tok.kind != "ident":
            raise BicepError(f"expected a name, found {self._show(tok)}", tok.line)
        return str(tok.value)

    def resource(self, out: _File, first: _Tok, parent: _Resource | None) -> _Resource:
        symbol = self.ident()
        type_tok = self.next()
        if type_tok.kind != "string" or len(type_tok.value) != 1 or not isinstance(type_tok.value[0], str):
            raise BicepError("expected the resource type as a plain string ('Namespace/type@version')", type_tok.line)
        rtype = type_tok.value[0].split("@", 1)[0]
        if parent is not None and "/" not in rtype:
            rtype = f"{parent.type}/{rtype}"
        res = _Resource(symbol, rtype, first.line, None, parent=parent.symbol if parent else None)
        if self.at("existing"):
            self.next()
            res.existing = True
        self.expect("=")
        self.skip_newlines()
        if self.at("if"):
            self.next()
            res.condition = self.expression()
            self.skip_newlines()
        if self.at("["):
            loop_start = self.next()
            self.expect("for")
            while not self.at(":"):
                if self.tok.kind == "eof":
                    raise BicepError("a for loop without ':'", loop_start.line)
                self.next()
            res.loop = self.src(loop_start).rstrip(":").strip() + "]"
            self.next()
            self.skip_newlines()
            if self.at("if"):
                self.next()
                res.condition = self.expression()
            res.body = self.object(out, res)
            self.skip_newlines()
            self.expect("]")
        elif self.at("{"):
            res.body = self.object(out, res)
        elif not res.existing:
            raise BicepError(f"expected the resource body '{{', found {self._show(self.tok)}", self.tok.line)
        out.resources.append(res)
        return res

    # -- expressions ---------------------------------------------------------------------------
    def expression(self, min_prec: int = 0) -> _Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise BicepError(f"expressions nested deeper than {_MAX_DEPTH} levels", self.tok.line)
        try:
            start = self.tok
            left = self.unary()
            while True:
                tok = self.tok
                if tok.kind == "newline" and min_prec == 0 and self.continuation():
                    tok = self.tok
                if tok.kind == "punct" and tok.value == "?" and min_prec == 0:
                    self.next()
                    self.skip_newlines()
                    yes = self.expression()
                    self.continuation()
                    self.expect(":")
                    self.skip_newlines()
                    no = self.expression()
                    left = _Node("ternary", (left, yes, no), start.line, self.src(start))
                    continue
                op = tok.value if tok.kind == "punct" else None
                prec = _BINARY.get(op or "")
                if prec is None or prec < min_prec:
                    return left
                self.next()
                self.skip_newlines()
                right = self.expression(prec + 1)
                left = _Node("binary", (op, left, right), start.line, self.src(start))
        finally:
            self.depth -= 1

    def unary(self) -> _Node:
        tok = self.tok
        if tok.kind == "punct" and tok.value in ("!", "-"):
            self.next()
            operand = self.unary()
            return _Node("unary", (tok.value, operand), tok.line, self.src(tok))
        return self.postfix(self.primary(), tok)

    def postfix(self, node: _Node, start: _Tok) -> _Node:
        while True:
            if self.at(".") or self.at(".?") or self.at("::"):  # `::` names a nested child resource
                self.next()
                name = self.ident()
                if self.at("("):  # a namespaced function: az.resourceGroup(), sys.concat(...)
                    args = self.arguments()
                    node = _Node("call", (node, name, args), start.line, self.src(start))
                else:
                    node = _Node("member", (node, name), start.line, self.src(start))
            elif self.at("["):
                self.next()
                self.skip_newlines()
                index = self.expression()
                self.skip_newlines()
                self.expect("]")
                node = _Node("index", (node, index), start.line, self.src(start))
            elif self.at("!") and self.toks[self.pos - 1].end == self.tok.start:  # non-null assertion
                self.next()
            else:
                return node

    def arguments(self) -> list[_Node]:
        self.expect("(")
        args: list[_Node] = []
        self.skip_newlines()
        while not self.at(")"):
            args.append(self.expression())
            self.skip_newlines()
            if self.at(","):
                self.next()
                self.skip_newlines()
            elif not self.at(")"):
                raise BicepError(f"expected ',' or ')' in the arguments, found {self._show(self.tok)}", self.tok.line)
        self.next()
        return args

    def primary(self) -> _Node:
        tok = self.tok
        if tok.kind == "string":
            self.next()
            parts = [p if isinstance(p, str) else _sub_expression(p[0], p[1]) for p in tok.value]
            return _Node("str", tuple(parts), tok.line, self.text[tok.start:tok.end])
        if tok.kind == "number":
            self.next()
            value = float(tok.value) if "." in tok.value else int(tok.value)
            return _Node("lit", (value,), tok.line, tok.value)
        if tok.kind == "ident":
            self.next()
            if tok.value in ("true", "false", "null"):
                return _Node("lit", ({"true": True, "false": False, "null": None}[tok.value],), tok.line, tok.value)
            if self.at("=>"):  # a lambda: opaque
                self.next()
                body = self.expression()
                return _Node("opaque", (), tok.line, self.text[tok.start:self.toks[self.pos - 1].end] or body.src)
            if self.at("("):
                args = self.arguments()
                return _Node("call", (None, tok.value, args), tok.line, self.src(tok))
            return _Node("ref", (tok.value,), tok.line, tok.value)
        if self.at("("):
            self.next()
            self.skip_newlines()
            inner = self.expression()
            self.skip_newlines()
            if self.at(","):  # a lambda's parameter list: (a, b) => ...
                self.skip(1)
                self.expect("=>")
                self.expression()
                return _Node("opaque", (), tok.line, self.src(tok))
            self.expect(")")
            if self.at("=>"):
                self.next()
                self.expression()
                return _Node("opaque", (), tok.line, self.src(tok))
            return inner
        if self.at("{"):
            return self.object(None, None)
        if self.at("["):
            return self.array()
        raise BicepError(f"expected a value, found {self._show(tok)}", tok.line)

    def object(self, out: _File | None, owner: _Resource | None) -> _Node:
        start = self.expect("{")
        items: list[tuple[str | _Node, _Node, int]] = []
        while True:
            self.skip_newlines()
            if self.at("}"):
                self.next()
                return _Node("obj", (items,), start.line, self.src(start))
            while self.at("@"):  # decorators on object properties (types): ignored
                self.next()
                self.expression()
                self.skip_newlines()
            key_tok = self.next()
            if key_tok.kind == "ident" and key_tok.value == "resource" and self.tok.kind == "ident" and out is not None:
                self.resource(out, key_tok, owner)  # a nested child resource
            else:
                key: str | _Node
                if key_tok.kind == "ident":
                    key = str(key_tok.value)
                elif key_tok.kind == "string" and all(isinstance(p, str) for p in key_tok.value):
                    key = "".join(key_tok.value)
                elif key_tok.kind == "string":  # '${name}': a key known once its parts are
                    self.pos -= 1
                    key = self.primary()
                else:
                    raise BicepError(f"expected a property name, found {self._show(key_tok)}", key_tok.line)
                self.expect(":")
                self.skip_newlines()
                items.append((key, self.expression(), key_tok.line))
            if self.at(","):
                self.next()
            elif self.tok.kind not in ("newline",) and not self.at("}"):
                raise BicepError(f"expected a new line or ',' after a property, found {self._show(self.tok)}",
                                 self.tok.line)

    def array(self) -> _Node:
        start = self.expect("[")
        self.skip_newlines()
        if self.at("for"):  # a for-expression outside a resource: opaque
            self.skip(1)
            return _Node("opaque", (), start.line, self.src(start))
        items: list[_Node] = []
        while True:
            self.skip_newlines()
            if self.at("]"):
                self.next()
                return _Node("arr", (items,), start.line, self.src(start))
            items.append(self.expression())
            if self.at(","):
                self.next()
            elif self.tok.kind != "newline" and not self.at("]"):
                raise BicepError(f"expected a new line or ',' after an array item, found {self._show(self.tok)}",
                                 self.tok.line)


def _sub_expression(source: str, line: int) -> _Node:
    parser = _Parser(source, _lex(source, line))
    node = parser.expression()
    parser.skip_newlines()
    if parser.tok.kind != "eof":
        raise BicepError(f"cannot read the interpolation ${{{source}}}", line)
    return node


# ----------------------------------------------------------------------------- evaluation
class _Unknown(Exception):
    """A value that cannot be known before deployment."""


@dataclass(slots=True)
class _ResourceRef:
    resource: _Resource


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


_NOT_READ = frozenset({"parent", "dependsOn", "scope"})  # a resource body's keys that say where, not how


class _Evaluator:
    def __init__(self, parsed: _File, given: Mapping[str, Any]) -> None:
        self.file = parsed
        self.given = {k.lower(): v for k, v in given.items()}
        self.symbols = {r.symbol: r for r in parsed.resources}
        self._cache: dict[str, Any] = {}
        self._busy: set[str] = set()

    def value(self, node: _Node, path: str = "", lines: dict[str, int] | None = None, opaque: set[str] | None = None
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
        except (_Unknown, TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, RecursionError):
            text = self.shown(node)
            if opaque is not None:
                opaque.add(text)
            return Opaque(text)

    def shown(self, node: _Node) -> str:
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
            except (_Unknown, TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, RecursionError):
                out.append(f"${{{part.src}}}")
        return "".join(out)

    def key(self, node: _Node) -> str:
        """An interpolated property name: its text once known, else as written."""
        try:
            return _text(self._plain(self.known(node)))
        except (_Unknown, TypeError, ValueError, KeyError, IndexError):
            return node.src.strip("'")

    def known(self, node: _Node) -> Any:
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

    def binary(self, op: str, left: _Node, right: _Node) -> Any:
        if op == "??":
            try:
                value = self.known(left)
            except _Unknown:
                raise
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

    def resource_name(self, res: _Resource) -> Any:
        """The full ARM name: the parent's name and this one's, joined by '/'."""
        assert res.body is not None
        own = next((item for key, item, _ in res.body.args[0] if key == "name"), None)
        if own is None:
            raise _Unknown
        name = self.known(own)
        parent = self.parent_of(res)
        if parent is not None:
            return f"{self._plain(self.resource_name(parent))}/{name}"
        return name

    def parent_of(self, res: _Resource) -> _Resource | None:
        if res.parent is not None:
            return self.symbols.get(res.parent)
        if res.body is None:
            return None
        ref = next((item for key, item, _ in res.body.args[0] if key == "parent"), None)
        if ref is None:
            return None
        if ref.kind != "ref" or ref.args[0] not in self.symbols:
            raise _Unknown
        return self.symbols[ref.args[0]]

    @staticmethod
    def _plain(value: Any) -> Any:
        if isinstance(value, Opaque) or has_opaque(value):
            raise _Unknown
        return value



def _plain_text(value: Any) -> Any:
    if isinstance(value, Opaque):
        return value.text
    if isinstance(value, dict):
        return {k: _plain_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_text(v) for v in value]
    return value


def read_bicep(text: str, *, parameters: Mapping[str, Any] | None = None) -> Expansion:
    """Every resource a Bicep file declares (`existing` ones left out), as ARM objects with their
    lines and opaque values, and the lines this reader could not read (Expansion.problems).
    Raises BicepError when the file cannot be tokenised at all."""
    parsed = _Parser(text, _lex(text)).file()
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
        except (_Unknown, TypeError, ValueError, KeyError, IndexError):
            name_node = next((item for key, item, _ in res.body.args[0] if key == "name"), None)
            name = evaluator.shown(name_node) if name_node is not None else res.symbol
            parent = res.parent or next((item.args[0] for key, item, _ in res.body.args[0]
                                         if key == "parent" and item.kind == "ref"), None)
            owner_body = evaluator.symbols[parent].body if parent in evaluator.symbols else None
            if owner_body is not None:
                owner = next((item for key, item, _ in owner_body.args[0] if key == "name"), None)
                name = f"{evaluator.shown(owner) if owner is not None else parent}/{name}"
            opaque.update(part for part in name.split("/") if "${" in part)
        obj = {k: _plain_text(v) for k, v in body.items()}
        obj["name"], obj["type"] = _plain_text(name), res.type
        loop = {"for": res.loop} if res.loop else None
        out.resources.append(Declared(obj, res.line, lines, opaque, loop))
    return out


def read_bicepparam(text: str) -> dict[str, Any]:
    """The values a `.bicepparam` file gives (`param name = <value>`), those that are known."""
    parsed = _Parser(text, _lex(text)).file()
    evaluator = _Evaluator(parsed, {})
    values: dict[str, Any] = {}
    for name, (node, _secure) in parsed.params.items():
        if node is not None:
            value = evaluator.value(node)
            if not has_opaque(value):
                values[name.lower()] = value
    return values
