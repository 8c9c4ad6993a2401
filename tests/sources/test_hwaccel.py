"""Hardware decoding falls back to software, with one E302, on this machine (no GPU)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from vigil.sources import hwaccel
from vigil.sources.hwaccel import open_decoder


@pytest.fixture(autouse=True)
def _fresh_probe() -> Iterator[None]:
    hwaccel._auto_failed.clear()
    yield
    hwaccel._auto_failed.clear()


@pytest.mark.parametrize("choice", ["cuda", "v4l2m2m"])
def test_named_method_falls_back_to_software_with_one_e302_warning(
    choice: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    ctx, method = open_decoder("h264", choice)  # type: ignore[arg-type]
    assert method == "software"
    assert ctx.name == "h264"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert warnings[0].startswith("[E302]")


def test_auto_says_e302_once_at_info_and_does_not_probe_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(3):
        _, method = open_decoder("h264", "auto")
        assert method == "software"
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert len(messages) == 1
    assert messages[0][0] == logging.INFO
    assert messages[0][1].startswith("[E302]")


def test_options_and_extradata_reach_the_decoder() -> None:
    ctx, _ = open_decoder("h264", "none", options={"skip_loop_filter": "all"})
    assert ctx.is_open
    assert ctx.thread_count == 1


def test_none_is_software_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    _, method = open_decoder("h264", "none")
    assert method == "software"
    assert caplog.records == []
