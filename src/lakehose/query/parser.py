"""Query text -> syntax tree (``nodes.py``), with errors that name the line and column.

The grammar is LogScale's filter-and-pipeline shape: filters (free text,
``field=value`` with ``*`` wildcards, ``!=``, ``< <= > >=``, ``/regex/flags``, tags
such as ``#connector=…``) combined with ``and``, ``or``, ``not``/``!`` and
parentheses, where two filters side by side mean ``and``; then stages after
``|``: more filters, or function calls such as ``groupBy([a, b], function=count())``.

As in LogScale, ``or`` binds tighter than ``and``: ``a and b or c`` is
``a and (b or c)``. ``//`` starts a comment that runs to the end of the line.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from lakehose.errors import QueryError
from lakehose.query.nodes import (
    And,
    Arg,
    At,
    Call,
    Compare,
    Filter,
    FreeText,
    ListArg,
    Not,
    Or,
    Query,
    Regex,
    Stage,
    Text,
)
from lakehose.query.regex import compile_search

MAX_QUERY_CHARS = 20_000
# Deeper trees (``not not … a``, ``[[[…]]]``, calls in calls) are refused: turning a tree into
# nodes, planning and evaluating it all recurse.
MAX_NESTING = 100

# Characters that end a bare word; a word may hold "/" (not first) and "[0]" array indexes.
_STOP = r'\s"()|=!<>,\[\]\\'
GRAMMAR = rf"""
start: [stage] (_PIPE stage)*
?stage: call | conj
?conj: disj (_AND? disj)*
?disj: neg (_OR neg)*
?neg: _NOT neg -> not_
    | atom
?atom: "(" conj ")"
     | compare
     | freetext
compare: WORD OP value
freetext: WORD | STRING | REGEX
?value: WORD | STRING | REGEX
call: FUNC "(" [arg ("," arg)*] ")"
?arg: named | argvalue
named: WORD OP argvalue
?argvalue: WORD | STRING | REGEX | call | list
list: "[" [argvalue ("," argvalue)*] "]"

OP: "=" | "!=" | "<=" | ">=" | "<" | ">"
_PIPE: "|"
_AND.2: /and(?![^{_STOP}\/]|\\.)/i
_OR.2: /or(?![^{_STOP}\/]|\\.)/i
_NOT.2: /not(?![^{_STOP}\/]|\\.)/i | /!(?!=)/
FUNC.3: /[A-Za-z_][A-Za-z0-9_:]*(?=\()/
WORD: /(?:[^{_STOP}\/]|\\.)(?:[^{_STOP}]|\\.|\[\d+\])*/
STRING: /"(?:[^"\\]|\\.)*"/
REGEX: /\/(?:[^\/\\\n]|\\.)+\/[A-Za-z]*/
COMMENT: /\/\/[^\n]*/
%ignore COMMENT
%ignore /\s+/
"""

# What the grammar's terminals are called in error messages.
_EXPECTED = {
    "WORD": "a word, value or field name",
    "STRING": 'a "quoted string"',
    "REGEX": "a /regex/",
    "FUNC": "a function such as count()",
    "OP": "an operator (= != < <= > >=)",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "EQUAL": "'='",
    "_PIPE": "'|'",
    "_NOT": "'not'",
    "_AND": "'and'",
    "_OR": "'or'",
    "$END": "the end of the query",
}
_REGEX_FLAGS = frozenset("ims")
_STRING_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(
        GRAMMAR,
        parser="lalr",
        lexer="basic",  # keywords are keywords everywhere: "a or or b" is an error
        propagate_positions=True,
        maybe_placeholders=True,
    )


def parse(text: str) -> Query:
    """Parse a query; raise :class:`QueryError` naming the line and column of a mistake."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters", 1, 1)
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    _check_nesting(tree)
    stages = tuple(_stage(child) for child in tree.children if child is not None)
    return Query(stages, text)


def _check_nesting(tree: Tree[Token]) -> None:
    """Refuse a tree nested deeper than :data:`MAX_NESTING` before anything recurses over it."""
    level: list[Tree[Token]] = [tree]
    for _ in range(MAX_NESTING):
        level = [c for node in level for c in node.children if isinstance(c, Tree)]
        if not level:
            return
    raise error_at(f"the query nests more than {MAX_NESTING} levels deep", _at(level[0]))


def error_at(message: str, at: At) -> QueryError:
    """A QueryError at a node's position (``on line N`` is added past the first line)."""
    if at.line > 1:
        message = f"{message} on line {at.line}"
    return QueryError(message, at.line, at.column)


# -- syntax errors ------------------------------------------------------------------------


def _end_position(text: str) -> At:
    lines = text.split("\n")
    return At(len(lines), len(lines[-1]) + 1)


def _expected(names: set[str] | frozenset[str]) -> str:
    words = sorted({_EXPECTED.get(n, n) for n in names if not n.startswith("__")})
    if not words:
        return ""
    if len(words) == 1:
        return f"; expected {words[0]}"
    return f"; expected {', '.join(words[:-1])} or {words[-1]}"


def _syntax_error(text: str, exc: UnexpectedInput) -> QueryError:
    if isinstance(exc, UnexpectedCharacters):
        at = At(exc.line, exc.column)
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else ""
        if char == '"':
            return error_at('unterminated string: a closing " is missing', at)
        if char == "/":
            return error_at('unterminated /regex/ (to match a path, quote it: "/var/log")', at)
        return error_at(f"unexpected character {char!r}{_expected(exc.allowed or set())}", at)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            return error_at(
                f"unexpected end of query{_expected(exc.expected)}", _end_position(text)
            )
        at = At(token.line or 1, token.column or 1)
        return error_at(f"unexpected {str(token)!r}{_expected(exc.expected)}", at)
    if isinstance(exc, UnexpectedEOF):
        return error_at(
            f"unexpected end of query{_expected(set(exc.expected))}", _end_position(text)
        )
    return QueryError(str(exc), 1, 1)  # pragma: no cover - lark raises only the three above


# -- tree -> nodes ------------------------------------------------------------------------


def _at(item: Tree[Any] | Token) -> At:
    if isinstance(item, Token):
        return At(item.line or 1, item.column or 1)
    return At(getattr(item.meta, "line", 1), getattr(item.meta, "column", 1))


def _stage(item: Tree[Any] | Token) -> Stage:
    if isinstance(item, Tree) and item.data == "call":
        return _call(item)
    return _filter(item)


def _filter(item: Tree[Any] | Token) -> Filter:
    assert isinstance(item, Tree), item
    kind = item.data
    if kind == "conj":
        return And(tuple(_filter(c) for c in item.children))
    if kind == "disj":
        return Or(tuple(_filter(c) for c in item.children))
    if kind == "not_":
        return Not(_filter(item.children[0]))
    if kind == "freetext":
        return FreeText(_value(_token(item.children[0])), _at(item))
    if kind == "compare":
        name, op, value = (_token(c) for c in item.children)
        return Compare(_field_name(name), str(op), _value(value), _at(item))
    raise AssertionError(f"unknown node {kind}")  # pragma: no cover


def _token(item: Tree[Any] | Token) -> Token:
    assert isinstance(item, Token), item
    return item


def _field_name(token: Token) -> str:
    name = str(token)
    if "*" in name or "\\" in name:
        raise error_at(f"{name!r} is not a field name", _at(token))
    return name


def _value(token: Token) -> Text | Regex:
    if token.type == "REGEX":
        return _regex(token)
    if token.type == "STRING":
        return Text(_split_wildcards(str(token)[1:-1], quoted=True), True, _at(token))
    return Text(_split_wildcards(str(token), quoted=False), False, _at(token))


def _split_wildcards(raw: str, *, quoted: bool) -> tuple[str, ...]:
    """Unescape a word or string body and cut it at unescaped ``*``."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt == "*":
                current.append("*")
            elif quoted and nxt in _STRING_ESCAPES:
                current.append(_STRING_ESCAPES[nxt])
            elif quoted:
                current.append(ch + nxt)  # unknown escapes stay as written: "C:\Windows"
            else:
                current.append(nxt)
            i += 2
            continue
        if ch == "*":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return tuple(parts)


def _regex(token: Token) -> Regex:
    raw = str(token)
    end = raw.rindex("/")
    pattern = raw[1:end].replace("\\/", "/")
    flags = raw[end + 1 :]
    at = _at(token)
    for i, flag in enumerate(flags):
        if flag not in _REGEX_FLAGS:
            where = At(at.line, at.column + end + 1 + i)
            hint = " (to match a path, quote it)" if "/" not in pattern else ""
            raise error_at(f"unknown regex flag {flag!r}; flags are i, m and s{hint}", where)
    try:
        compile_search(pattern, flags)
    except QueryError as exc:
        where = At(at.line, at.column + exc.column)
        raise error_at(exc.message, where) from None
    return Regex(pattern, "".join(sorted(set(flags))), at)


def _call(item: Tree[Any]) -> Call:
    name_token, *rest = item.children
    args: list[Arg] = []
    named: list[tuple[str, Arg]] = []
    for child in rest:
        if child is None:
            continue
        if isinstance(child, Tree) and child.data == "named":
            key, op, value = child.children
            if str(op) != "=":
                raise error_at(f"expected '=' after {str(key)!r}, not {str(op)!r}", _at(op))
            if any(k == str(key) for k, _ in named):
                raise error_at(f"argument {str(key)!r} is given twice", _at(key))
            named.append((str(key), _arg(value)))
        else:
            if named:
                raise error_at("a positional argument cannot follow a named one", _at(child))
            args.append(_arg(child))
    return Call(str(name_token), tuple(args), tuple(named), _at(name_token))


def _arg(item: Tree[Any] | Token) -> Arg:
    if isinstance(item, Token):
        return _value(item)
    if item.data == "call":
        return _call(item)
    if item.data == "list":
        return ListArg(tuple(_arg(c) for c in item.children if c is not None), _at(item))
    raise AssertionError(f"unknown argument {item.data}")  # pragma: no cover
