"""The reconnect schedule."""

from __future__ import annotations

from vigil.camera.backoff import default_retry_delay
from vigil.errors import SourceError
from vigil.sources.url import SourceKind


def test_growing_backoff_capped_at_30_seconds() -> None:
    err = SourceError("refused", code="E201")
    delays = [default_retry_delay(n, err, SourceKind.RTSP) for n in range(8)]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_unauthorized_waits_at_least_five_minutes() -> None:
    err = SourceError("401", code="E203")
    for attempt in (0, 1, 5):
        delay = default_retry_delay(attempt, err, SourceKind.RTSP)
        assert delay is not None and delay >= 300


def test_missing_file_gives_up_but_network_errors_never_do() -> None:
    assert default_retry_delay(0, SourceError("x", code="E211"), SourceKind.FILE) is None
    assert default_retry_delay(0, SourceError("x", code="E303"), SourceKind.RTSP) == 1
