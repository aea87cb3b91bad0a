"""The search language: parse a query, plan it against batch summaries, evaluate it on events.

Nothing here does I/O; ``search/engine.py`` runs a plan over the lake.
"""

from __future__ import annotations

from lakehose.query.parser import parse
from lakehose.query.plan import Plan, plan_query
from lakehose.query.timerange import TimeRange, parse_time, time_range

__all__ = ["Plan", "TimeRange", "parse", "parse_time", "plan_query", "time_range"]
