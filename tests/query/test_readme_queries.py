"""Every query the README's Search section shows is one lakehose accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lakehose.query import plan_query

README = Path(__file__).resolve().parents[2] / "README.md"


def search_section() -> str:
    text = README.read_text()
    start = text.index("## Search")
    return text[start : text.index("\n## ", start + 1)]


def shown_queries() -> list[str]:
    section = search_section()
    found = re.findall(r"lakehose search '([^']*)'", section)
    found += re.findall(r'"query": "([^"]*)"', section)
    found += re.findall(r'lake\.(?:query|iter_rows)\("([^"]*)"', section)
    for row in re.findall(r"^\| `([^`]+)`", section, flags=re.MULTILINE):
        found.append(row.replace("\\|", "|"))
    return found


def test_the_readme_shows_queries() -> None:
    assert len(shown_queries()) > 15


@pytest.mark.parametrize("query", shown_queries())
def test_each_readme_query_plans(query: str) -> None:
    if (
        query.startswith(("groupBy(f", "count(f", "sum(f", "sort(f", "table([f1", "head(n"))
        or "…" in query
    ):
        query = (
            query.replace("(n)", "(5)")
            .replace("=n)", "=5)")
            .replace("…", "x")
            .replace("f1", "a")
            .replace("f2", "b")
        )
        query = (
            re.sub(r"\bf\b", "x", query)
            .replace("asc|desc", "asc")
            .replace("any|number|string", "any")
        )
    plan_query(query)
