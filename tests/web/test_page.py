"""The web page in a real browser (Debian's Chromium, driven by Playwright) against a real
vigil serving 8 simulated cameras. Screenshots go to ``.artifacts/web/``."""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.helpers import SMALL, ServerThread, SimThread, wait_for
from tests.web.conftest import shot
from vigil.api import create_app
from vigil.camera.manager import CameraManager
from vigil.config import validate_data
from vigil.recording.recorder import RecordingContext
from vigil.sim.server import build_cameras
from vigil.storage.index import Index
from vigil.streaming.webrtc.interfaces import media_addresses

CAMERAS = 8
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "web"


class Served:
    def __init__(self, server: ServerThread, manager: CameraManager, sim: SimThread):
        self.server = server
        self.manager = manager
        self.sim = sim
        self.requests: collections.Counter[str] = collections.Counter()

    def url(self, path: str = "/") -> str:
        return self.server.url(path)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("storage")
    context = RecordingContext(root, Index(root / "vigil.db"))
    with SimThread(build_cameras(CAMERAS, SMALL, None, quiet=True, h265=["cam8"])) as sim:
        cams: dict[str, Any] = {
            f"cam{n}": {"inputs": [{"url": sim.url(f"cam{n}")}], "record": {"mode": "off"}}
            for n in range(1, CAMERAS + 1)
        }
        for name in ("cam1", "cam8"):  # footage: H.264, and H.265 (which Chromium can't play)
            cams[name]["record"] = {"mode": "continuous", "segment_seconds": 2}
        config = validate_data({"cameras": cams})
        manager = CameraManager(config.cameras, recording=context)
        # media bound as `vigil run` binds it on 127.0.0.1: on loopback only
        app = create_app(manager, webrtc_addresses=media_addresses("127.0.0.1"))
        counts: collections.Counter[str] = collections.Counter()

        @app.middleware("http")
        async def count(request: Any, call_next: Any) -> Any:  # requests seen by the server
            counts[request.url.path] += 1
            return await call_next(request)

        with ServerThread(app) as server:
            wait_for(
                lambda: all(s.state == "streaming" for s in manager.statuses()), 30, "streaming"
            )
            served = Served(server, manager, sim)
            served.requests = counts
            yield served
    context.index.close()


def loads(page: Page) -> dict[str, int]:
    counts: dict[str, int] = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('.tile')]"
        ".map(t => [t.dataset.name, Number(t.dataset.loads)]))"
    )
    return counts


def test_the_grid_shows_every_camera_and_every_image_updates(served: Served, page: Page) -> None:
    page.goto(served.url("/"))
    page.wait_for_function(f"() => document.querySelectorAll('.tile').length === {CAMERAS}")
    deadline = time.monotonic() + 30
    while min(loads(page).values()) < 3:  # each tile's image replaced at least 3 times
        assert time.monotonic() < deadline, loads(page)
        page.wait_for_timeout(200)
    status = page.evaluate("async () => (await fetch('/api/health')).status")
    assert status == 200  # the page's API calls answer
    for tile in page.query_selector_all(".tile img"):
        assert page.evaluate("img => img.naturalWidth", tile) == 320
    assert page.locator(".tile .state-streaming").count() == CAMERAS
    shot(page, "grid")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.wait_for_timeout(500)
    shot(page, "grid-phone")


def test_a_hidden_page_stops_its_requests(served: Served, page: Page) -> None:
    page.goto(served.url("/"))
    page.wait_for_function(
        "() => [...document.querySelectorAll('.tile')].every(t => t.dataset.loads > 0)"
    )
    # Playwright pages always say they are visible (microsoft/playwright#2286)
    page.evaluate(
        "() => { Object.defineProperty(document, 'visibilityState', "
        "{configurable: true, get: () => 'hidden'}); "
        "document.dispatchEvent(new Event('visibilitychange')); }"
    )
    page.wait_for_timeout(1500)  # what was in flight ends
    before = sum(served.requests.values())
    page.wait_for_timeout(4000)
    assert sum(served.requests.values()) == before, "a hidden page still sends requests"
    page.evaluate(
        "() => { Object.defineProperty(document, 'visibilityState', "
        "{configurable: true, get: () => 'visible'}); "
        "document.dispatchEvent(new Event('visibilitychange')); }"
    )
    wait_for(lambda: sum(served.requests.values()) > before + CAMERAS, 10, "polling again")


def test_a_camera_opened_large_plays_mjpeg(served: Served, page: Page) -> None:
    page.goto(served.url("/"))
    page.wait_for_function(f"() => document.querySelectorAll('.tile').length === {CAMERAS}")
    page.click(".tile[data-name='cam1'] a")
    page.wait_for_function(
        "() => { const i = document.querySelector('#large-img');"
        " return !i.hidden && i.naturalWidth === 320; }"
    )
    assert served.manager.status("cam1").viewers == 1
    shot(page, "large")
    page.click("#large-close")
    wait_for(lambda: served.manager.status("cam1").viewers == 0, 5, "the MJPEG stream closed")


def test_a_camera_added_through_the_form_appears_and_streams(served: Served, page: Page) -> None:
    page.goto(served.url("/#cameras"))
    page.fill("#f-name", "extra")
    page.fill("#f-url0", served.sim.url("cam1"))
    page.select_option("#f-record", "off")
    page.click("#f-submit")
    page.wait_for_selector("#camera-table td:text-is('extra')")
    assert page.input_value("#f-name") == ""  # the form was reset
    page.goto(served.url("/#live"))
    page.wait_for_selector(".tile[data-name='extra'][data-state='streaming']", timeout=15000)
    page.wait_for_function(
        "() => document.querySelector(\".tile[data-name='extra']\").dataset.loads > 0"
    )
    shot(page, "added")
    served.manager.remove("extra")


def test_a_bad_url_shows_its_code_next_to_the_field(served: Served, page: Page) -> None:
    page.goto(served.url("/#cameras"))
    page.fill("#f-name", "broken")
    page.fill("#f-url0", "ftp://192.0.2.1/stream")
    page.click("#f-submit")
    error = page.locator("#e-inputs-0-url")
    error.wait_for()
    page.wait_for_function("() => document.querySelector('#e-inputs-0-url').textContent !== ''")
    assert error.inner_text().startswith("E11")
    assert page.get_attribute("#f-url0", "aria-invalid") == "true"
    assert "broken" not in served.manager.names()
    shot(page, "form-error")


def test_the_timeline_shows_footage_and_a_click_plays_from_that_moment(
    served: Served, page: Page
) -> None:
    recorder = served.manager.get("cam1").recorder
    wait_for(lambda: recorder is not None and recorder.segments_written >= 3, 30, "footage")
    page.goto(served.url("/#recordings"))
    page.wait_for_function("() => document.querySelector('#rec-camera').value === 'cam1'")
    page.select_option("#rec-zoom", "60")  # a minute across: 2 s segments are wide enough
    page.wait_for_function(
        "() => rec.to - rec.from === 60 && document.querySelectorAll('#timeline .seg').length >= 3"
    )
    shot(page, "timeline")
    segments = page.evaluate("() => rec.segments.map(s => [s.id, s.t0, s.t1])")
    first_id, t0, t1 = segments[0]
    box = page.locator("#timeline").bounding_box()
    assert box is not None
    window = page.evaluate("() => [rec.from, rec.to]")
    clicked = (t0 + t1) / 2

    def click_at(t: float) -> None:
        x = box["x"] + (t - window[0]) / (window[1] - window[0]) * box["width"]
        page.mouse.click(x, box["y"] + box["height"] / 2)

    click_at(clicked)
    page.wait_for_function(
        "() => { const p = document.querySelector('#player');"
        " return !p.paused && p.currentTime > 0; }"
    )
    at = page.evaluate("() => rec.playing.t0 + document.querySelector('#player').currentTime")
    assert abs(at - clicked) <= 2, (at, clicked)  # plays from within 2 s of the click
    page.wait_for_timeout(1200)
    later = page.evaluate("() => rec.playing.t0 + document.querySelector('#player').currentTime")
    assert later > at + 0.5, (at, later)  # it advances (into the next segment, maybe)
    # near a segment's end: playback carries on into the next segment
    click_at(t1 - 0.4)
    page.wait_for_function(f"() => rec.playing && rec.playing.id !== {first_id}", timeout=10000)
    page.wait_for_function("() => document.querySelector('#player').currentTime > 0.3")
    shot(page, "playing")


def test_a_range_dragged_on_the_timeline_exports_as_one_mp4(
    served: Served, page: Page, tmp_path: Path
) -> None:
    import av

    recorder = served.manager.get("cam1").recorder
    wait_for(lambda: recorder is not None and recorder.segments_written >= 3, 30, "footage")
    page.goto(served.url("/#recordings"))
    page.wait_for_function("() => document.querySelector('#rec-camera').value === 'cam1'")
    page.select_option("#rec-zoom", "60")
    page.wait_for_function(
        "() => rec.to - rec.from === 60 && document.querySelectorAll('#timeline .seg').length >= 3"
    )
    segments = page.evaluate("() => rec.segments.map(s => [s.t0, s.t1])")
    window = page.evaluate("() => [rec.from, rec.to]")
    box = page.locator("#timeline").bounding_box()
    assert box is not None

    def x_of(t: float) -> float:
        return float(box["x"] + (t - window[0]) / (window[1] - window[0]) * box["width"])

    start, end = segments[0][0] + 0.5, segments[2][1] - 0.5  # across two boundaries
    y = box["y"] + box["height"] / 2
    page.mouse.move(x_of(start), y)
    page.mouse.down()
    page.mouse.move(x_of(end), y, steps=5)
    page.mouse.up()
    assert page.input_value("#ex-from") != "" and page.input_value("#ex-to") != ""
    with page.expect_download() as download:
        page.click("#export-form button[type=submit]")
    path = tmp_path / "export.mp4"
    download.value.save_as(str(path))
    assert download.value.suggested_filename.endswith(".mp4")
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= (end - start - 2) * SMALL.fps  # about the selected span (to the second)


def test_webrtc_in_the_browser_plays_or_falls_back_to_mjpeg(served: Served, page: Page) -> None:
    page.goto(served.url("/#camera/cam2"))
    page.select_option("#large-mode", "webrtc")
    page.wait_for_function(
        "() => { const v = document.querySelector('#large-video');"
        " const i = document.querySelector('#large-img');"
        " return (!v.hidden && v.currentTime > 0.5) || (!i.hidden && i.naturalWidth > 0); }",
        timeout=20000,
    )
    note = page.inner_text("#large-note")
    shot(page, "large-webrtc")
    if note == "WebRTC":  # this Chromium decodes H.264: the camera's packets play
        assert page.evaluate("document.querySelector('#large-video').videoWidth") == 320
        relay = served.server.app.state.services.webrtc.relay("cam2")
        assert [sink.direct for sink in relay.sinks] == [True]  # sent by vigil's RTP path
    else:  # it fell back, and says why
        assert "showing MJPEG" in note
    page.click("#large-close")
    wait_for(lambda: served.manager.status("cam2").viewers == 0, 10, "the session ended")


def test_an_event_opens_the_timeline_playing_from_its_start(served: Served, page: Page) -> None:
    recording = served.manager.recording
    assert recording is not None
    wait_for(lambda: len(recording.index.segments("cam1")) >= 3, 30, "footage")
    segment = recording.index.segments("cam1")[1]
    start = segment.start + 0.5  # an event as detection stores them, inside the footage
    recording.index.add_event(
        camera="cam1", start=start, end=start + 1.0, peak_area=0.05, zones=["all"]
    )
    page.goto(served.url("/#events"))
    page.select_option("#ev-camera", "cam1")
    page.click("#events-filter button[type=submit]")
    link = page.locator("#events a", has_text="play").first
    link.wait_for()
    shot(page, "events")
    link.click()
    page.wait_for_function(
        "() => { const p = document.querySelector('#player');"
        " return rec.playing && !p.paused && p.currentTime > 0; }"
    )
    at = page.evaluate("() => rec.playing.t0 + document.querySelector('#player').currentTime")
    assert abs(at - start) <= 2, (at, start)


def test_h265_footage_is_offered_for_download(served: Served, page: Page) -> None:
    recording = served.manager.recording
    assert recording is not None
    wait_for(lambda: len(recording.index.segments("cam8")) >= 2, 30, "H.265 footage")
    segment = recording.index.segments("cam8")[0]
    assert segment.codec in ("hevc", "h265")
    page.goto(served.url("/#recordings"))
    page.wait_for_function("() => document.querySelector('#rec-camera').options.length >= 8")
    page.select_option("#rec-camera", "cam8")
    page.select_option("#rec-zoom", "60")
    page.wait_for_function(
        "() => rec.to - rec.from === 60 && document.querySelectorAll('#timeline .seg').length"
    )
    page.click(f"#timeline .seg[data-id='{segment.id}']")  # a click on the recorded span
    note = page.locator("#player-note")
    note.get_by_role("link").wait_for()
    assert "H.265" in note.inner_text()
    href = note.locator("a").get_attribute("href")
    assert href == f"/api/recordings/{segment.id}/file"
    assert page.evaluate("document.querySelector('#player').getAttribute('src')") is None


def test_every_control_has_a_label_and_the_grid_works_from_the_keyboard(
    served: Served, page: Page
) -> None:
    page.goto(served.url("/"))
    page.wait_for_function(f"() => document.querySelectorAll('.tile').length === {CAMERAS}")
    unlabelled = page.evaluate(
        "() => [...document.querySelectorAll('input, select, button')]"
        ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
        " && !e.textContent.trim()).map(e => e.id || e.outerHTML)"
    )
    assert unlabelled == []
    assert page.evaluate("[...document.querySelectorAll('img')].every(i => i.hasAttribute('alt'))")
    for _ in range(12):  # Tab through the header's links to the first tile
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('tile-link')"):
            break
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.hash === '#camera/cam1'")
    page.wait_for_function("() => !document.querySelector('#view-large').hidden")  # shown
    for _ in range(8):  # Tab on to "Back to the grid"
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id === 'large-close'"):
            break
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.hash === '#live'")


def test_edit_keeps_the_stored_password_and_stop_start_remove_work(
    served: Served, page: Page
) -> None:
    from tests.helpers import CAM_SECRET, CAM_USER

    camera = {
        "name": "guarded",
        "inputs": [
            {
                "url": served.sim.url("cam2"),
                "username": CAM_USER,
                "password": CAM_SECRET,
                "roles": ["detect", "live"],
            }
        ],
        "record": {"mode": "off"},
    }
    response = page.request.post(served.url("/api/cameras"), data=camera)
    assert response.status == 201, response.text()
    page.goto(served.url("/#cameras"))
    page.click("button[aria-label='Edit guarded']")
    assert page.input_value("#f-pass") == ""  # a password is never shown
    assert page.input_value("#f-user") == CAM_USER
    assert CAM_SECRET not in page.content()
    page.uncheck("#f-detect")
    page.click("#f-submit")  # saved with the password left empty
    wait_for(lambda: not served.manager.get("guarded").config.detect.enabled, 10, "saved")
    stored = served.manager.get("guarded").config.inputs[0]
    assert stored.password is not None and stored.password.get_secret_value() == CAM_SECRET
    assert [str(r) for r in stored.roles] == ["detect", "live"]  # what the form doesn't show
    page.click("button[aria-label='Stop guarded']")
    wait_for(lambda: served.manager.status("guarded").state == "stopped", 10, "stopped")
    page.click("button[aria-label='Start guarded']")
    wait_for(lambda: served.manager.status("guarded").state != "stopped", 10, "started")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[aria-label='Remove guarded']")
    wait_for(lambda: "guarded" not in served.manager.names(), 10, "removed")


def test_the_system_view_shows_the_machine_disk_and_forecast(served: Served, page: Page) -> None:
    page.goto(served.url("/#system"))
    page.wait_for_selector("#system dt")
    text = page.inner_text("#system")
    for label in ("Machine CPU", "Machine memory", "vigil CPU", "Disk", "Retention forecast"):
        assert label in text
    assert "days fit" in text  # cam1 and cam8 record, so there is a rate to forecast from
    shot(page, "system")
