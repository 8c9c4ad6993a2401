"""The reconnect decision, in one function that a test (or a deployment) can replace."""

from __future__ import annotations

from collections.abc import Callable

from vigil.const import BACKOFF_MAX, BACKOFF_STEPS, BACKOFF_UNAUTHORIZED
from vigil.errors import VigilError
from vigil.sources.url import SourceKind

# attempt (0 for the first retry), the error, the source kind -> seconds to wait, or None
RetryPolicy = Callable[[int, VigilError, SourceKind], float | None]

# A local file that is missing or isn't video will not fix itself by retrying.
PERMANENT_FOR_FILES = frozenset({"E211", "E301", "E303"})


def default_retry_delay(attempt: int, error: VigilError, kind: SourceKind) -> float | None:
    """1, 2, 4, ... capped at 30 s; at least 5 minutes after a 401; None means give up."""
    if kind is SourceKind.FILE and error.code in PERMANENT_FOR_FILES:
        return None
    if error.code == "E203":
        return BACKOFF_UNAUTHORIZED
    return min(BACKOFF_STEPS[min(attempt, len(BACKOFF_STEPS) - 1)], BACKOFF_MAX)
