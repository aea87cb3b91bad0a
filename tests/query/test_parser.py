"""The query grammar, node by node, and the line and column of every kind of mistake."""

from __future__ import annotations

import pytest

from lakehose.errors import QueryError
from lakehose.query import parse, plan_query
from lakehose.query.nodes import (
    And,
    Call,
    Compare,
    FreeText,
    ListArg,
    Not,
    Or,
    Query,
    Regex,
    Text,
)


def word(text: str, *parts: str) -> Text:
    return Text(parts or (text,))


def free(text: str) -> FreeText:
    return FreeText(Text((text,)))


def eq(name: str, value: str, op: str = "=") -> Compare:
    return Compare(name, op, Text((value,)))


def only(query: str) -> object:
    parsed = parse(query)
    assert len(parsed.stages) == 1, parsed
    return parsed.stages[0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # free text
        ("failed", free("failed")),
        ('"failed login"', FreeText(Text(("failed login",), quoted=True))),
        ("/fail(ed|ure)/i", FreeText(Regex("fail(ed|ure)", "i"))),
        ("fail*d", FreeText(Text(("fail", "d")))),
        ("GET", free("GET")),
        ("10.0.0.1", free("10.0.0.1")),
        ("text/html", free("text/html")),
        # field comparisons
        ("user=admin", eq("user", "admin")),
        ("user = admin", eq("user", "admin")),
        ('user="John Smith"', Compare("user", "=", Text(("John Smith",), quoted=True))),
        ("user!=admin", eq("user", "admin", "!=")),
        ("status<500", eq("status", "500", "<")),
        ("status<=500", eq("status", "500", "<=")),
        ("status>399", eq("status", "399", ">")),
        ("status>=400", eq("status", "400", ">=")),
        ("delta>-5", eq("delta", "-5", ">")),
        ("ratio<0.5", eq("ratio", "0.5", "<")),
        ("user=adm*", Compare("user", "=", Text(("adm", "")))),
        ("user=*adm*n*", Compare("user", "=", Text(("", "adm", "n", "")))),
        ("user=*", Compare("user", "=", Text(("", "")))),
        ("user!=*", Compare("user", "!=", Text(("", "")))),
        (r"pattern=a\*b", eq("pattern", "a*b")),
        (
            r'path="C:\Windows\System32"',
            Compare("path", "=", Text(("C:\\Windows\\System32",), quoted=True)),
        ),
        (r'path="C:\\Windows\\*"', Compare("path", "=", Text(("C:\\Windows\\", ""), quoted=True))),
        (r'path="a\*"', Compare("path", "=", Text(("a*",), quoted=True))),
        (r'msg="say \"hi\""', Compare("msg", "=", Text(('say "hi"',), quoted=True))),
        ('path="/var/log/*"', Compare("path", "=", Text(("/var/log/", ""), quoted=True))),
        ("url=/login/i", Compare("url", "=", Regex("login", "i"))),
        ("url=/a\\/b/", Compare("url", "=", Regex("a/b"))),
        ("url!=/^\\/health/", Compare("url", "!=", Regex("^/health"))),
        ("#connector=firewall", eq("#connector", "firewall")),
        ("#index=main", eq("#index", "main")),
        ("#sourcetype=fortinet:csv", eq("#sourcetype", "fortinet:csv")),
        ("host=web-01", eq("host", "web-01")),
        ("event.user.name=bob", eq("event.user.name", "bob")),
        ("user.name=bob", eq("user.name", "bob")),
        ("fields.region=eu", eq("fields.region", "eu")),
        ("procs[0].name=init", eq("procs[0].name", "init")),
        ("@rawstring=*root*", Compare("@rawstring", "=", Text(("", "root", "")))),
        ("@timestamp>1700000000000", eq("@timestamp", "1700000000000", ">")),
        # boolean structure
        ("a b", And((free("a"), free("b")))),
        ("a and b", And((free("a"), free("b")))),
        ("a AND b", And((free("a"), free("b")))),
        ("a or b", Or((free("a"), free("b")))),
        ("a OR b Or c", Or((free("a"), free("b"), free("c")))),
        ("not a", Not(free("a"))),
        ("NOT a", Not(free("a"))),
        ("!a", Not(free("a"))),
        ("!user=root", Not(eq("user", "root"))),
        ("not not a", Not(Not(free("a")))),
        ("a and b or c", And((free("a"), Or((free("b"), free("c")))))),
        ("a b or c", And((free("a"), Or((free("b"), free("c")))))),
        ("(a and b) or c", Or((And((free("a"), free("b"))), free("c")))),
        ("not a or b", Or((Not(free("a")), free("b")))),
        ("not (a or b)", Not(Or((free("a"), free("b"))))),
        ("x (a or b)", And((free("x"), Or((free("a"), free("b")))))),
        ("((a))", free("a")),
        # keywords only as whole words
        ("andrew orchid notable", And((free("andrew"), free("orchid"), free("notable")))),
        # ... and a word that goes on with an escape is a word (fuzz: "or\\< // a comment")
        ("or\\< and\\( not\\ x", And((free("or<"), free("and("), free("not x")))),
        ("order=asc", eq("order", "asc")),
        # calls
        ("count()", Call("count")),
        ("groupBy(host)", Call("groupBy", (word("host"),))),
        (
            "groupBy([host, user.name], function=count())",
            Call(
                "groupBy",
                (ListArg((word("host"), word("user.name"))),),
                (("function", Call("count")),),
            ),
        ),
        (
            "groupBy(host, function=[count(), avg(bytes)])",
            Call(
                "groupBy",
                (word("host"),),
                (("function", ListArg((Call("count"), Call("avg", (word("bytes"),))))),),
            ),
        ),
        ("head(10)", Call("head", (word("10"),))),
        ("tail(limit=3)", Call("tail", (), (("limit", word("3")),))),
        (
            "sort(bytes, order=asc, limit=5)",
            Call("sort", (word("bytes"),), (("order", word("asc")), ("limit", word("5")))),
        ),
        ("table([a, b])", Call("table", (ListArg((word("a"), word("b"))),))),
        ("table([])", Call("table", (ListArg(()),))),
    ],
)
def test_each_construct_parses_to_its_node(query: str, expected: object) -> None:
    assert only(query) == expected


@pytest.mark.parametrize(
    ("query", "stages"),
    [
        ("", ()),
        ("   ", ()),
        ("| count()", (Call("count"),)),
        ("failed | count()", (free("failed"), Call("count"))),
        (
            "#connector=fw | action=deny | groupBy(src) | _count > 5",
            (
                eq("#connector", "fw"),
                eq("action", "deny"),
                Call("groupBy", (word("src"),)),
                eq("_count", "5", ">"),
            ),
        ),
        ("a // a comment\n| count() // another", (free("a"), Call("count"))),
        ("a\nb\n| head(1)", (And((free("a"), free("b"))), Call("head", (word("1"),)))),
    ],
)
def test_pipelines_split_at_bars(query: str, stages: tuple[object, ...]) -> None:
    assert parse(query) == Query(stages)


def test_positions_are_recorded_for_messages() -> None:
    compare = only("x   user=bob")
    assert isinstance(compare, And)
    second = compare.items[1]
    assert isinstance(second, Compare)
    assert (second.at.line, second.at.column) == (1, 5)
    assert isinstance(second.value, Text) and second.value.at.column == 10


@pytest.mark.parametrize(
    ("query", "message", "line", "column"),
    [
        ("a=", "unexpected end of query; expected", 1, 3),
        ("a=(", "unexpected '('", 1, 3),
        ("a=b)", "unexpected ')'; expected '|' or the end of the query", 1, 4),
        ("(a or b", "unexpected end of query", 1, 8),
        ("x | | count()", "unexpected '|'", 1, 5),
        ("count(", "unexpected end of query", 1, 7),
        ("groupBy(host", "unexpected end of query", 1, 13),
        ("groupBy([a, b)", "unexpected ')'", 1, 14),
        ('user="bob', 'unterminated string: a closing " is missing', 1, 6),
        ("x=/abc", "unterminated /regex/", 1, 3),
        (
            "p=/var/log",
            "unknown regex flag 'l'; flags are i, m and s (to match a path, quote it)",
            1,
            8,
        ),
        ("x=/ab(/", "bad regex: missing )", 1, 6),
        ("a and", "unexpected end of query", 1, 6),
        ("a or or b", "unexpected 'or'", 1, 6),
        ("not", "unexpected end of query", 1, 4),
        ("a\n  and )", "unexpected ')'", 2, 7),
        ("user*=x", "'user*' is not a field name", 1, 1),
        ("f(a=1, 2)", "a positional argument cannot follow a named one", 1, 8),
        ("f(a=1, a=2)", "argument 'a' is given twice", 1, 8),
        ("a=b=c", "unexpected '='", 1, 4),
        ("[a]", "unexpected '['", 1, 1),
        ("a and and b", "unexpected 'and'", 1, 7),
        ("head(limit>3)", "expected '=' after 'limit', not '>'", 1, 11),
    ],
)
def test_syntax_errors_name_line_and_column(
    query: str, message: str, line: int, column: int
) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert message in caught.value.message
    assert (caught.value.line, caught.value.column) == (line, column)
    assert f"column {column}" in str(caught.value)


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("#=x", "a tag needs a name; built-in tags are #connector, #index, #sourcetype", 1),
        ("@foo=1", "unknown field '@foo'", 1),
        ("status>abc", "> compares numbers; 'abc' is not a number", 8),
        ("status<=4*", "<= compares numbers", 9),
        ("status>/4/", "> compares numbers; /4/ is not a number", 8),
        ("x | frobnicate()", "unknown function frobnicate()", 5),
        ("x | groupBy()", "groupBy() needs a field or a [list] of fields", 5),
        ("x | groupBy(host, colour=red)", "groupBy() has no argument 'colour'", 26),
        ("x | groupBy(host, function=host)", "function= expects a function call", 28),
        ("x | groupBy(host, function=head())", "head() is not an aggregate function", 28),
        ("x | groupBy(#)", "a tag needs a name", 5),
        ("x | head(ten)", "limit of head() must be a whole number, not 'ten'", 10),
        ("x | head(0)", "limit of head() must be between 1 and 100000", 10),
        ("x | tail(1, 2)", "tail() takes at most one positional argument", 13),
        ("x | sort(bytes, order=up)", "order of sort() must be one of asc, desc", 23),
        ("x | sort()", "sort() needs a field", 5),
        ("x | table()", "table() needs a field", 5),
        ("x | count(x, distinct=maybe)", "distinct of count() must be one of true, false", 23),
        ("x | count(distinct=true)", "count(distinct=true) needs a field", 5),
        ("x | sum()", "sum() needs a field", 5),
        ("x | count(a*)", "count() expects a field name here", 11),
        ("x | groupBy(a, function=[count(), count()])", "column '_count' appears twice", 5),
        ("count(1, 2)", "count() takes at most one positional argument", 10),
    ],
)
def test_meaning_errors_name_the_column(query: str, message: str, column: int) -> None:
    with pytest.raises(QueryError) as caught:
        plan_query(query)
    assert message in caught.value.message
    assert caught.value.column == column


def test_function_names_ignore_case() -> None:
    assert (
        plan_query("x | groupby(host) | HEAD(2)").steps
        == plan_query("x | groupBy(host) | head(2)").steps
    )


def test_a_very_long_query_is_refused_before_parsing() -> None:
    with pytest.raises(QueryError, match="longer than"):
        parse("a " * 20_000)


@pytest.mark.parametrize(
    "text",
    [
        "not " * 150 + "a",
        "!" * 150 + "a",
        "a or (b and " * 60 + "c" + ")" * 60,
        "| groupBy(" + "[" * 150 + "a" + "]" * 150 + ")",
        "| head(" + "count(" * 150 + ")" * 150 + ")",
    ],
    ids=["not", "bang", "parentheses", "lists", "calls"],
)
def test_a_query_nested_too_deeply_is_a_query_error_inside_the_text(text: str) -> None:
    """Found by tests/fuzz: turning such a tree into nodes recursed until RecursionError (500)."""
    with pytest.raises(QueryError, match="nests more than 100 levels") as error:
        plan_query(text)
    assert error.value.line == 1 and 1 <= error.value.column <= len(text)


def test_a_query_nested_within_the_limit_plans() -> None:
    plan_query("not " * 40 + "a or (b and " * 15 + "c" + ")" * 15)


@pytest.mark.parametrize("limit", ["\u00b2", "-\u00b2", "--5", "\u0661\u0662"])
def test_a_limit_that_is_not_ascii_digits_is_a_query_error(limit: str) -> None:
    """Found by tests/fuzz: "²" passed str.isdigit() and int() raised a ValueError instead."""
    with pytest.raises(QueryError, match="must be a whole number") as error:
        plan_query(f"| head({limit})")
    assert error.value.column == 8


@pytest.mark.parametrize(
    ("query", "message", "line", "column"),
    [
        ("a=b)", "unexpected ')'; expected '|' or the end of the query", 1, 4),
        ("(a or b", "unexpected end of query; expected ')'", 1, 8),
        ("a\n(a", "unexpected end of query; expected ')' on line 2", 2, 3),
        ('a\nb="x', 'unterminated string: a closing " is missing on line 2', 2, 3),
        ("a\n x=/ab", 'unterminated /regex/ (to match a path, quote it: "/var/log") on line 2', 2, 4),
        ("x=/ab/q", "unknown regex flag 'q'; flags are i, m and s (to match a path, quote it)", 1, 7),
        ("x=/a\\/b/q", "unknown regex flag 'q'; flags are i, m and s", 1, 9),
        ("a\nx=/a(/", "bad regex: missing ): a( on line 2", 2, 5),
        ("x=/ab(/", "bad regex: missing ): ab(", 1, 6),
        ("user\\x=1", "'user\\\\x' is not a field name", 1, 1),
        ("\n\nuser*=x", "'user*' is not a field name on line 3", 3, 1),
        ("a=b\n|\nhead(limit>3)", "expected '=' after 'limit', not '>' on line 3", 3, 11),
        ("f(a=1,\n a=2)", "argument 'a' is given twice on line 2", 2, 2),
        ("f(a=1,\n 2)", "a positional argument cannot follow a named one on line 2", 2, 2),
        ("a=",
         'unexpected end of query; expected a "quoted string", a /regex/ or a word, value or '
         "field name", 1, 3),
        ('"abc', 'unterminated string: a closing " is missing', 1, 1),  # at the very start
        ("/abc", 'unterminated /regex/ (to match a path, quote it: "/var/log")', 1, 1),
        ("user=/a/ix", "unknown regex flag 'x'; flags are i, m and s (to match a path, quote it)",
         1, 10),  # the second flag: its own column
        ("a \\", "unexpected character '\\\\'; expected '(', ')', ',', '[', ']', 'and', 'not', "
         "'or', '|', a \"quoted string\", a /regex/, a function such as count(), a word, value or "
         "field name or an operator (= != < <= > >=)", 1, 3),
    ],
)  # fmt: skip
def test_whole_error_messages(query: str, message: str, line: int, column: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert (caught.value.message, caught.value.line, caught.value.column) == (message, line, column)


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ('x="a\\nb\\tc\\rd\\\\e\\qf"', Text(("a\nb\tc\rd\\e\\qf",), quoted=True)),
        ("x=a\\b", Text(("ab",))),  # a word drops the backslash of an unknown escape
        ('x="a\\*b*"', Text(("a*b", ""), quoted=True)),
        ("x=a*b\\*c*", Text(("a", "b*c", ""))),
        ("x=/a\\/b\\/c/", Regex("a/b/c")),
        ("x=/a/ism", Regex("a", "ims")),
        ("x=/a/ii", Regex("a", "i")),
        ("x=/a/mi", Regex("a", "im")),
    ],
)
def test_escapes_and_flags(query: str, value: Text | Regex) -> None:
    compare = parse(query).stages[0]
    assert isinstance(compare, Compare) and compare.value == value


def test_the_longest_query_allowed() -> None:
    assert parse("a" * 20_000).stages == (free("a" * 20_000),)
    with pytest.raises(QueryError) as caught:
        parse("a" * 20_001)
    assert caught.value.message == "the query is longer than 20000 characters"
    assert (caught.value.line, caught.value.column) == (1, 1)


def test_nesting_up_to_the_limit_parses() -> None:
    plan_query("not " * 98 + "a")  # with the query and its stage: 100 levels
    with pytest.raises(QueryError, match="nests more than 100 levels") as caught:
        plan_query("not " * 99 + "a")
    assert caught.value.column == 397  # the innermost level past the limit
