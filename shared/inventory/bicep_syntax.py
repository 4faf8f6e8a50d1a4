"""Bicep text as a syntax tree: the tokenizer and the recursive-descent parser behind
amlguard.inventory.bicep, which evaluates the tree. `parse_bicep` gives the `param`, `var` and
`resource` declarations (nested child resources flattened, each with its parent's symbol) as
`Node` expressions with their lines, and the statements it could not read (`BicepFile.problems`);
`module`, `output`, `type`, `func`, `import`, `metadata` and `targetScope` are parsed and set aside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BicepError", "BicepFile", "Node", "ResourceDecl", "parse_bicep"]

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
class Node:
    """One expression: its kind, its parts (see the parser for each kind's), its line and its text."""

    kind: str  # lit str ref member index call obj arr unary binary ternary opaque
    args: tuple[Any, ...]
    line: int
    src: str


@dataclass(slots=True)
class ResourceDecl:
    """One `resource` declaration as written (a nested one names its parent)."""

    symbol: str
    type: str
    line: int
    body: Node | None  # the object (None: `existing` without body)
    existing: bool = False
    condition: Node | None = None
    loop: str | None = None  # the `for` header as written
    parent: str | None = None  # the enclosing resource's symbol (nested declaration)


@dataclass(slots=True)
class BicepFile:
    """The declarations of one file, and the (line, message) of each statement not read."""

    params: dict[str, tuple[Node | None, bool]] = field(default_factory=dict)  # name -> (default, secure)
    variables: dict[str, Node] = field(default_factory=dict)
    resources: list[ResourceDecl] = field(default_factory=list)
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
    def file(self) -> BicepFile:
        out = BicepFile()
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

    def statement(self, out: BicepFile, secure: bool) -> None:
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

    def resource(self, out: BicepFile, first: _Tok, parent: ResourceDecl | None) -> ResourceDecl:
        symbol = self.ident()
        type_tok = self.next()
        if type_tok.kind != "string" or len(type_tok.value) != 1 or not isinstance(type_tok.value[0], str):
            raise BicepError("expected the resource type as a plain string ('Namespace/type@version')", type_tok.line)
        rtype = type_tok.value[0].split("@", 1)[0]
        if parent is not None and "/" not in rtype:
            rtype = f"{parent.type}/{rtype}"
        res = ResourceDecl(symbol, rtype, first.line, None, parent=parent.symbol if parent else None)
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
    def expression(self, min_prec: int = 0) -> Node:
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
                    left = Node("ternary", (left, yes, no), start.line, self.src(start))
                    continue
                op = tok.value if tok.kind == "punct" else None
                prec = _BINARY.get(op or "")
                if prec is None or prec < min_prec:
                    return left
                self.next()
                self.skip_newlines()
                right = self.expression(prec + 1)
                left = Node("binary", (op, left, right), start.line, self.src(start))
        finally:
            self.depth -= 1

    def unary(self) -> Node:
        tok = self.tok
        if tok.kind == "punct" and tok.value in ("!", "-"):
            self.next()
            operand = self.unary()
            return Node("unary", (tok.value, operand), tok.line, self.src(tok))
        return self.postfix(self.primary(), tok)

    def postfix(self, node: Node, start: _Tok) -> Node:
        while True:
            if self.at(".") or self.at(".?") or self.at("::"):  # `::` names a nested child resource
                self.next()
                name = self.ident()
                if self.at("("):  # a namespaced function: az.resourceGroup(), sys.concat(...)
                    args = self.arguments()
                    node = Node("call", (node, name, args), start.line, self.src(start))
                else:
                    node = Node("member", (node, name), start.line, self.src(start))
            elif self.at("["):
                self.next()
                self.skip_newlines()
                index = self.expression()
                self.skip_newlines()
                self.expect("]")
                node = Node("index", (node, index), start.line, self.src(start))
            elif self.at("!") and self.toks[self.pos - 1].end == self.tok.start:  # non-null assertion
                self.next()
            else:
                return node

    def arguments(self) -> list[Node]:
        self.expect("(")
        args: list[Node] = []
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

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "string":
            self.next()
            parts = [p if isinstance(p, str) else _sub_expression(p[0], p[1]) for p in tok.value]
            return Node("str", tuple(parts), tok.line, self.text[tok.start:tok.end])
        if tok.kind == "number":
            self.next()
            value = float(tok.value) if "." in tok.value else int(tok.value)
            return Node("lit", (value,), tok.line, tok.value)
        if tok.kind == "ident":
            self.next()
            if tok.value in ("true", "false", "null"):
                return Node("lit", ({"true": True, "false": False, "null": None}[tok.value],), tok.line, tok.value)
            if self.at("=>"):  # a lambda: opaque
                self.next()
                body = self.expression()
                return Node("opaque", (), tok.line, self.text[tok.start:self.toks[self.pos - 1].end] or body.src)
            if self.at("("):
                args = self.arguments()
                return Node("call", (None, tok.value, args), tok.line, self.src(tok))
            return Node("ref", (tok.value,), tok.line, tok.value)
        if self.at("("):
            self.next()
            self.skip_newlines()
            inner = self.expression()
            self.skip_newlines()
            if self.at(","):  # a lambda's parameter list: (a, b) => ...
                self.skip(1)
                self.expect("=>")
                self.expression()
                return Node("opaque", (), tok.line, self.src(tok))
            self.expect(")")
            if self.at("=>"):
                self.next()
                self.expression()
                return Node("opaque", (), tok.line, self.src(tok))
            return inner
        if self.at("{"):
            return self.object(None, None)
        if self.at("["):
            return self.array()
        raise BicepError(f"expected a value, found {self._show(tok)}", tok.line)

    def object(self, out: BicepFile | None, owner: ResourceDecl | None) -> Node:
        start = self.expect("{")
        items: list[tuple[str | Node, Node, int]] = []
        while True:
            self.skip_newlines()
            if self.at("}"):
                self.next()
                return Node("obj", (items,), start.line, self.src(start))
            while self.at("@"):  # decorators on object properties (types): ignored
                self.next()
                self.expression()
                self.skip_newlines()
            key_tok = self.next()
            if key_tok.kind == "ident" and key_tok.value == "resource" and self.tok.kind == "ident" and out is not None:
                self.resource(out, key_tok, owner)  # a nested child resource
            else:
                key: str | Node
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

    def array(self) -> Node:
        start = self.expect("[")
        self.skip_newlines()
        if self.at("for"):  # a for-expression outside a resource: opaque
            self.skip(1)
            return Node("opaque", (), start.line, self.src(start))
        items: list[Node] = []
        while True:
            self.skip_newlines()
            if self.at("]"):
                self.next()
                return Node("arr", (items,), start.line, self.src(start))
            items.append(self.expression())
            if self.at(","):
                self.next()
            elif self.tok.kind != "newline" and not self.at("]"):
                raise BicepError(f"expected a new line or ',' after an array item, found {self._show(self.tok)}",
                                 self.tok.line)


def _sub_expression(source: str, line: int) -> Node:
    parser = _Parser(source, _lex(source, line))
    node = parser.expression()
    parser.skip_newlines()
    if parser.tok.kind != "eof":
        raise BicepError(f"cannot read the interpolation ${{{source}}}", line)
    return node


def parse_bicep(text: str) -> BicepFile:
    """The declarations of a Bicep file; BicepError when it cannot be tokenised at all."""
    return _Parser(text, _lex(text)).file()
