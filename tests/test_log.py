"""Logging: repeats summarised, credentials scrubbed."""

from __future__ import annotations

import logging

from vigil.log import RedactFilter, RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("vigil.camera.a", level, __file__, 1, msg, None, None)


def test_repeated_error_is_logged_once_then_summarised() -> None:
    clock = Clock()
    flt = RepeatFilter(window=60, clock=clock)
    passed = []
    for _ in range(58):
        rec = record("[E201] connection refused")
        if flt.filter(rec):
            passed.append(rec.getMessage())
        clock.now += 1
    assert passed == ["[E201] connection refused"]
    rec = record("[E201] connection refused")
    clock.now += 10
    assert flt.filter(rec)
    assert rec.getMessage() == "[E201] connection refused (repeated 57 times in 68 s)"


def test_different_messages_and_info_lines_pass() -> None:
    flt = RepeatFilter(window=60, clock=Clock())
    assert flt.filter(record("[E201] a"))
    assert flt.filter(record("[E202] b"))
    assert flt.filter(record("streaming", logging.INFO))
    assert flt.filter(record("streaming", logging.INFO))


def test_redact_filter_scrubs_urls() -> None:
    rec = logging.LogRecord(
        "libav", logging.ERROR, __file__, 1, "cannot open %s", ("rtsp://u:hunter2@h/x",), None
    )
    assert RedactFilter().filter(rec)
    assert "hunter2" not in rec.getMessage()
