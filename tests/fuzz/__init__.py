"""Fuzz tests (hypothesis): a few hundred cases in every run, reproducible from its output."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def fuzzing(examples: int) -> settings:
    """`examples` cases, without hypothesis's per-case deadline (a case opens files, or a
    peer connection) or its complaint about the module's fixtures."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
