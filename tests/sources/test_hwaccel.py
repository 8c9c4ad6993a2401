"""Hardware decoding falls back to software, with one E302, on this machine (no GPU)."""

from __future__ import annotations

import logging

import pytest

from vigil.sources.hwaccel import open_decoder


@pytest.mark.parametrize("choice", ["auto", "cuda", "v4l2m2m"])
def test_falls_back_to_software_with_one_e302(
    choice: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    ctx, method = open_decoder("h264", choice)  # type: ignore[arg-type]
    assert method == "software"
    assert ctx.name == "h264"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert warnings[0].startswith("[E302]")


def test_none_is_software_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    _, method = open_decoder("h264", "none")
    assert method == "software"
    assert caplog.records == []
