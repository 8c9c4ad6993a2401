"""How old a segment is, for retention by age: its end against the cutoff, with the wall
clock's steps counted out.

A segment's time is the wall clock's when it was recorded. If the clock was stepped since
(a machine without a battery-backed clock boots in 1970 and NTP sets it right a minute
later; an operator moves it back an hour), that time is off by the step: a segment
recorded before a step of +1 h is an hour younger than its time says. Each step vigil saw
is in the index (``clock_steps``); a segment starting before a step's `before` moves by it.
So the segments fall into spans of start time, each moved by the steps after it, and one
query a span keeps the database picking the rows through the ``start`` index.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, case, or_, select
from sqlalchemy.sql import Select

from vigil.storage.schema import segments

Span = tuple[float, float, float]  # segments starting in [from, to) are moved by seconds


def step_spans(steps: Iterable[tuple[float, float]]) -> list[Span]:
    """The spans of start time cut by the steps (before, after), each with the sum of the
    steps after it; one span (-inf, inf, 0) without any step."""
    ordered = sorted(steps)
    spans = []
    low = float("-inf")
    for n, (before, _after) in enumerate(ordered):
        spans.append((low, before, sum(a - b for b, a in ordered[n:])))
        low = before
    spans.append((low, float("inf"), 0.0))
    return spans


def expired_query(
    span: Span, cutoffs: dict[str, float], default: float, events_before: float
) -> Select[Any]:
    """The rows of `span` that are past their cutoff (see ``Index.expired``), oldest first."""
    low, high, shift = span
    moved = {name: cutoff - shift for name, cutoff in cutoffs.items()}
    default -= shift
    events_before -= shift
    cutoff = case(moved, value=segments.c.camera, else_=default) if moved else default
    latest = min(high, max([default, events_before, *moved.values()]))
    query = (
        select(segments)
        if low == float("-inf")
        else select(segments).where(segments.c.start >= low)
    )
    return query.where(
        segments.c.start < latest,  # the start index bounds the scan
        segments.c.keep.is_(False),
        or_(
            and_(segments.c.has_event.is_(True), segments.c.end < events_before),
            and_(segments.c.has_event.is_(False), segments.c.end < cutoff),
        ),
    ).order_by(segments.c.start)
