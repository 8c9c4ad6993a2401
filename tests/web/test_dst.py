"""The timeline across DST changes, in a real browser set to Europe/Berlin: a local day is
23 or 25 hours long, and its hours are labelled by the local clock.

The segments are index rows at chosen instants (the browser only lists them here, it plays
nothing), served by a real vigil."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.helpers import ServerThread
from vigil.api import create_app
from vigil.camera.manager import CameraManager
from vigil.config import validate_data
from vigil.recording.recorder import RecordingContext
from vigil.storage.index import Index

ZONE = "Europe/Berlin"


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# (start, UTC) of 60 s segments: each change's day, the hour it repeats or skips, and the
# first minutes of the next local day
SEGMENTS = [
    "2026-10-25T00:30:00",  # 02:30 CEST, before the clocks go back
    "2026-10-25T01:30:00",  # 02:30 CET, the same local time an hour later
    "2026-10-25T22:30:00",  # 23:30 CET: the 25th hour of that day
    "2026-03-29T00:30:00",  # 01:30 CET, before the clocks go forward
    "2026-03-29T01:30:00",  # 03:30 CEST
    "2026-03-29T22:30:00",  # 00:30 CEST on the 30th: not the 29th's
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    root = tmp_path_factory.mktemp("storage")
    index = Index(root / "vigil.db")
    for n, start in enumerate(SEGMENTS):
        t = utc(start)
        index.add_segment(
            camera="door",
            start=t,
            end=t + 60,
            duration=60.0,
            bytes=1000,
            codec="h264",
            path=f"recordings/door/{n}.mp4",
        )
    config = validate_data(
        {"cameras": {"door": {"inputs": [{"url": "rtsp://127.0.0.1:9/x"}], "enabled": False}}}
    )
    manager = CameraManager(config.cameras, recording=RecordingContext(root, index))
    with ServerThread(create_app(manager)) as served:
        yield served
    index.close()


@pytest.fixture
def berlin(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 1000}, timezone_id=ZONE, locale="de-DE"
    )
    page = context.new_page()
    yield page
    context.close()


def show_day(page: Any, server: ServerThread, day: str) -> dict[str, Any]:
    page.goto(server.url("/#recordings"))
    page.wait_for_function("() => document.querySelector('#rec-camera').value === 'door'")
    page.fill("#rec-day", day)
    page.select_option("#rec-zoom", "86400")
    page.click("#rec-filter button[type=submit]")
    page.wait_for_function(f"() => rec.from === {utc_of_local_midnight(page, day)}")
    shown: dict[str, Any] = page.evaluate(
        "() => ({hours: (rec.to - rec.from) / 3600,"
        " segments: rec.segments.map(s => s.t0),"
        " drawn: document.querySelectorAll('#timeline .seg').length,"
        " labels: [...document.querySelectorAll('#timeline-hours span')]"
        ".map(l => [l.textContent, parseFloat(l.style.left)])})"
    )
    return shown


def utc_of_local_midnight(page: Any, day: str) -> float:
    y, m, d = (int(x) for x in day.split("-"))
    midnight: float = page.evaluate(f"() => new Date({y}, {m - 1}, {d}).getTime() / 1000")
    return midnight


def test_the_day_the_clocks_go_back_has_25_hours_labelled_by_the_local_clock(
    server: ServerThread, berlin: Any
) -> None:
    shown = show_day(berlin, server, "2026-10-25")
    assert shown["hours"] == 25
    # both 02:30s and the 25th hour's segment; nothing of the next day
    assert shown["segments"] == [utc(s) for s in SEGMENTS[:3]]
    assert shown["drawn"] == 3
    texts = [text for text, _ in shown["labels"]]
    assert texts == [*(f"{h:02d}:00" for h in range(0, 24, 3)), "00:00"]  # to the next midnight
    left = dict(shown["labels"])
    assert left["03:00"] == pytest.approx(100 * 4 / 25)  # 03:00 CET is 4 h after midnight
    assert left["21:00"] == pytest.approx(100 * 22 / 25)


def test_the_day_the_clocks_go_forward_has_23_hours_and_ends_at_its_midnight(
    server: ServerThread, berlin: Any
) -> None:
    shown = show_day(berlin, server, "2026-03-29")
    assert shown["hours"] == 23
    assert shown["segments"] == [utc(s) for s in SEGMENTS[3:5]]  # 00:30 on the 30th is not here
    texts = [text for text, _ in shown["labels"]]
    assert texts == [*(f"{h:02d}:00" for h in range(0, 24, 3)), "00:00"]  # to the next midnight
    left = dict(shown["labels"])
    assert left["03:00"] == pytest.approx(100 * 2 / 23)  # 02:00 to 03:00 didn't happen
    next_day = show_day(berlin, server, "2026-03-30")
    assert next_day["hours"] == 24
    assert next_day["segments"] == [utc(SEGMENTS[5])]
