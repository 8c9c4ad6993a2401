"""Continuous recording by stream copy, against the simulator: real MP4 files, decoded."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import pytest
from fastapi.testclient import TestClient

from tests.helpers import SMALL, LibavWarnings, SimThread, seconds_of, wait_for
from vigil.api import create_app
from vigil.camera.manager import CameraManager
from vigil.camera.status import CameraFigures
from vigil.camera.supervisor import CameraSupervisor
from vigil.config import CameraConfig
from vigil.recording.recorder import RecordingContext, stagger
from vigil.recording.segment import PARTIAL_SUFFIX
from vigil.sim.server import build_cameras
from vigil.storage.index import Index, SegmentRow


def recording_camera(url: str, ctx: RecordingContext, seconds: float = 2) -> CameraSupervisor:
    config = CameraConfig.model_validate(
        {"inputs": [{"url": url}], "record": {"segment_seconds": seconds}}
    )
    return CameraSupervisor("yard", config, recording=ctx)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RecordingContext, float]]:
    """About 7 s of a camera with AAC audio, in 2 s segments."""
    root = tmp_path_factory.mktemp("storage")
    ctx = RecordingContext(root, Index(root / "vigil.db"))
    with SimThread(build_cameras(1, SMALL, None, quiet=True, audio={"cam1": "aac"})) as sim:
        cam = recording_camera(sim.url("cam1"), ctx)
        cam.start()
        wait_for(
            lambda: cam.recorder is not None and cam.recorder.segments_written >= 3,
            30,
            "three segments",
        )
        cam.stop(timeout=5)
        stopped = time.time()
    yield ctx, stopped
    ctx.index.close()


def rows(ctx: RecordingContext) -> list[SegmentRow]:
    return ctx.index.segments("yard")


def test_segments_are_fast_start_mp4_that_decode_cleanly(
    recorded: tuple[RecordingContext, float],
) -> None:
    ctx, _ = recorded
    segments = rows(ctx)
    assert len(segments) >= 4  # three cut by length, and the last one closed at stop
    for n, row in enumerate(segments):
        path = ctx.root / row.path
        assert path.parts[-5:-3] == ("recordings", "yard") or "recordings" in path.parts
        head = path.read_bytes()[:4096]
        assert head.find(b"moov") != -1 and head.find(b"moov") < max(head.find(b"mdat"), 4096)
        with LibavWarnings() as warnings, av.open(str(path)) as container:
            video = container.streams.video[0]
            assert (video.width, video.height) == (320, 180)
            if n < len(segments) - 1:  # the last may end before its first audio packet
                assert container.streams.audio[0].codec_context.name == "aac"
            frames = sum(1 for _ in container.decode(video=0))
        assert warnings.messages == []
        assert abs(frames / SMALL.fps - row.duration) <= 1 / SMALL.fps
        assert row.codec == "h264" and row.bytes == path.stat().st_size
    assert not list(ctx.root.rglob(f"*{PARTIAL_SUFFIX}"))


def test_segments_follow_each_other_without_gap_or_overlap(
    recorded: tuple[RecordingContext, float],
) -> None:
    ctx, stopped = recorded
    segments = rows(ctx)
    for before, after in itertools.pairwise(segments):
        assert abs(after.start - before.end) <= 1 / SMALL.fps
    # the first is cut at the first key frame after its staggered length, the others after
    # 2 s: the GOP is 1 s
    first = 2.0 * stagger("yard")
    assert first <= segments[0].duration <= first + 1.0 + 1 / SMALL.fps
    for row in segments[1:-1]:
        assert 2.0 <= row.duration <= 3.0 + 1 / SMALL.fps
    total = sum(r.duration for r in segments)
    span = stopped - segments[0].start
    assert abs(total - span) < 0.5 + len(segments) / SMALL.fps
    names = [Path(r.path).name for r in segments]
    assert all(n.endswith("Z.mp4") or "Z-" in n for n in names)


def test_recordings_api_lists_and_serves_by_id_with_range(
    recorded: tuple[RecordingContext, float],
) -> None:
    ctx, _ = recorded
    app = create_app(CameraManager({}, recording=ctx))
    with TestClient(app) as client:
        listed = client.get("/api/recordings", params={"camera": "yard"}).json()["recordings"]
        assert [r["id"] for r in listed] == [r.id for r in rows(ctx)]
        first = listed[0]
        assert set(first) == {
            "id",
            "camera",
            "start",
            "end",
            "duration",
            "bytes",
            "codec",
            "has_event",
            "missing",
        }
        assert first["missing"] is False
        assert first["start"].endswith("Z") or first["start"].endswith("+00:00")
        whole = client.get(f"/api/recordings/{first['id']}/file")
        assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
        assert len(whole.content) == first["bytes"]
        part = client.get(f"/api/recordings/{first['id']}/file", headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and part.content == whole.content[:100]
        window = client.get(
            "/api/recordings",
            params={"camera": "yard", "start": listed[1]["start"], "end": listed[1]["end"]},
        ).json()["recordings"]
        ids = [r["id"] for r in window]
        assert listed[1]["id"] in ids
        assert set(ids) <= {listed[0]["id"], listed[1]["id"], listed[2]["id"]}
        assert client.get("/api/recordings", params={"camera": "nobody"}).json() == {
            "recordings": [],
            "next": None,  # the last page
        }


@pytest.mark.parametrize(
    "path",
    [
        "/api/recordings/999999/file",
        "/api/recordings/-1/file",
        "/api/recordings/..%2F..%2Fetc%2Fpasswd/file",
        "/api/recordings/%2e%2e/file",
        "/api/recordings/../../etc/passwd",
        "/api/recordings//etc/passwd/file",
        "/api/recordings/1;ls/file",
        "/api/recordings?camera=../../etc",
        "/api/cameras/..%2F..%2Fetc%2Fpasswd/export?start=2026-11-25T00:00:00Z&end=2026-11-25T00:01:00Z",
        "/api/cameras/%2e%2e/export?start=2026-11-25T00:00:00Z&end=2026-11-25T00:01:00Z",
        "/api/cameras/yard/export?start=../../etc/passwd&end=/etc/passwd",
        "/api/cameras/yard/export?start=2026-11-25T00:00:00Z&end=2026-11-25T00:01:00Z&path=/etc",
        # backslashes, NUL, double and overlong encodings, over-long names
        "/api/recordings/..%5C..%5Cetc%5Cpasswd/file",
        "/api/recordings/1%00/file",
        "/api/recordings/%252e%252e%252fetc%252fpasswd/file",
        "/api/recordings/%c0%ae%c0%ae/file",
        "/api/recordings/" + "9" * 5000 + "/file",
        "/api/cameras/" + "a" * 300 + "/export?start=2026-11-25T00:00:00Z&end=2026-11-25T00:01:00Z",
        "/static/..%2F..%2F..%2Fetc%2Fpasswd",
        "/static/..%5C..%5Cpyproject.toml",
        "/static/app.js%00.css",
        "/static/%2e%2e%2f__init__.py",
        "/static/" + "a" * 300 + ".js",
        "/docs/..%2F..%2Fetc%2Fpasswd",
        "/docs/swagger-ui-bundle.js%2F..%2F..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_path_traversal_corpus_gets_4xx(
    recorded: tuple[RecordingContext, float], path: str
) -> None:
    ctx, _ = recorded
    with TestClient(create_app(CameraManager({}, recording=ctx))) as client:
        response = client.get(path)
    assert 400 <= response.status_code < 500
    assert b"root:" not in response.content


def test_disk_full_pauses_recording_triggers_retention_and_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import errno
    import logging
    from unittest import mock

    from vigil.recording import segment

    caplog.set_level(logging.ERROR)
    triggered: list[bool] = []
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"), lambda: triggered.append(True))
    real_write = segment.SegmentWriter.write
    full = {"on": True}

    def write(self: segment.SegmentWriter, packet: Any, is_video: bool) -> None:
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, packet, is_video)

    with (
        SimThread(build_cameras(1, SMALL, None, quiet=True)) as sim,
        mock.patch.object(segment.SegmentWriter, "write", write),
    ):
        cam = recording_camera(sim.url("cam1"), ctx)
        cam.start()
        try:
            wait_for(lambda: triggered, 15, "retention triggered")
            assert "[E404]" in caplog.text
            assert cam.state.value == "streaming"  # ingest goes on; the process lives
            full["on"] = False  # space freed
            wait_for(
                lambda: cam.recorder is not None and cam.recorder.segments_written >= 1,
                20,
                "recording resumed",
            )
        finally:
            cam.stop(timeout=5)
    [first, *_] = ctx.index.segments()
    assert frames_ok(ctx.root / first.path)
    ctx.index.close()


def test_disk_full_at_a_close_keeps_the_segment_and_finalizes_it_at_the_next(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import errno
    import logging
    from itertools import pairwise
    from unittest import mock

    from vigil.recording import faststart

    caplog.set_level(logging.ERROR)
    triggered: list[bool] = []
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"), lambda: triggered.append(True))
    real_finalize = faststart.finalize_in_place
    calls = {"n": 0}

    def finalize_in_place(partial: Path) -> faststart.Rewritten | None:
        calls["n"] += 1
        if calls["n"] == 1:  # the first close finds the disk full: the moov's draft, written
            # into the reserved box's hole, is what allocates disk at a close
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_finalize(partial)

    with (
        SimThread(build_cameras(1, SMALL, None, quiet=True)) as sim,
        mock.patch.object(faststart, "finalize_in_place", finalize_in_place),
    ):
        cam = recording_camera(sim.url("cam1"), ctx)
        cam.start()
        try:
            wait_for(
                lambda: cam.recorder is not None and cam.recorder.segments_written >= 2,
                30,
                "the second close, and the first segment finalized with it",
            )
        finally:
            cam.stop(timeout=5)
    assert triggered and "[E404]" in caplog.text
    rows = ctx.index.segments()
    assert len(rows) >= 2
    for row in rows:
        assert frames_ok(ctx.root / row.path)
    # the retried segment kept its place in time: no overlap, no gap beyond a frame
    for earlier, later in pairwise(rows):
        assert abs(later.start - earlier.end) <= 1.5 / SMALL.fps
    assert not list(ctx.root.rglob("*.partial.mp4")) and not list(ctx.root.rglob(".*.tmp.mp4"))
    ctx.index.close()


def frames_ok(path: Path) -> bool:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0)) > 0


def test_wall_clock_jumping_back_never_overlaps_overwrites_or_goes_negative(
    tmp_path: Path,
) -> None:
    from tests.helpers import make_video
    from vigil.config import RecordConfig
    from vigil.media.hub import PacketHub
    from vigil.media.packets import MediaPacket, StreamInfo
    from vigil.recording.recorder import Recorder

    source = make_video(tmp_path / "src.mp4", seconds=3, fps=15, gop=15)
    ctx = RecordingContext(tmp_path / "store", Index(tmp_path / "vigil.db"))
    clock = {"now": 1_800_000_000.0}
    hub = PacketHub("t")
    recorder = Recorder(
        "cam",
        hub,
        RecordConfig(segment_seconds=2),
        ctx,
        __import__("logging").getLogger("t"),
        clock=lambda: clock["now"],
    )
    token = hub.claim()
    with av.open(str(source)) as container:
        video = container.streams.video[0]
        packets = [p for p in container.demux(video) if p.size]
        for connection in (1, 2, 3):  # three connections; the clock jumps back between them
            info = StreamInfo(connection, "h264", 320, 180, 15.0, video)
            for packet in packets:
                hub.publish(
                    token, MediaPacket(packet, info, True, packet.is_keyframe, time.monotonic())
                )
            clock["now"] -= 3600
        hub.close()
        recorder.start()
        recorder.join(30)
    segments = ctx.index.segments("cam")
    assert len(segments) >= 3
    assert all(s.duration > 0 and s.end > s.start for s in segments)
    paths = [s.path for s in segments]
    assert len(set(paths)) == len(paths)
    ordered = sorted(segments, key=lambda s: s.start)
    for earlier, later in itertools.pairwise(ordered):  # each connection after the last one
        assert later.start >= earlier.end - 1e-6, (earlier, later)
    assert len(list(ctx.root.rglob("*.mp4"))) == len(segments)
    ctx.index.close()


def test_outside_trigger_marks_the_segments_it_touches(tmp_path: Path) -> None:
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    config = CameraConfig.model_validate(
        {
            "inputs": [{"url": "rtsp://127.0.0.1:1/placeholder"}],
            "record": {"segment_seconds": 2, "pre_seconds": 0.5, "post_seconds": 0.5},
        }
    )
    with SimThread(build_cameras(1, SMALL, None, quiet=True)) as sim:
        config.inputs[0].url = sim.url("cam1")
        manager = CameraManager({"yard": config}, recording=ctx)
        app = create_app(manager)
        with TestClient(app) as client:
            cam = manager.get("yard")
            wait_for(
                lambda: cam.recorder is not None and cam.recorder.segments_written >= 2,
                30,
                "two segments",
            )
            response = client.post("/api/cameras/yard/events")
            assert response.status_code == 202
            event = response.json()
            assert event["camera"] == "yard"
            recorder = cam.recorder
            assert recorder is not None
            done = recorder.segments_written
            wait_for(lambda: recorder.segments_written >= done + 2, 30, "two more segments")
            assert client.post("/api/cameras/nope/events").status_code == 404
            listed = client.get("/api/recordings", params={"camera": "yard"}).json()
    from datetime import datetime

    start = datetime.fromisoformat(event["start"]).timestamp()
    end = datetime.fromisoformat(event["end"]).timestamp()
    for row in listed["recordings"]:
        a = datetime.fromisoformat(row["start"]).timestamp()
        b = datetime.fromisoformat(row["end"]).timestamp()
        assert row["has_event"] == (a < end and start < b), row
    assert any(r["has_event"] for r in listed["recordings"])
    assert not all(r["has_event"] for r in listed["recordings"])
    ctx.index.close()


def test_trigger_on_a_camera_that_does_not_record_is_409() -> None:
    config = CameraConfig.model_validate({"inputs": [{"url": "rtsp://127.0.0.1:1/x"}]})
    with TestClient(create_app(CameraManager({"cam": config}))) as client:
        response = client.post("/api/cameras/cam/events")
    assert response.status_code == 409
    assert response.json()["code"] == "E606"


EVENT_POST = 5.0  # post_seconds: room for a second trigger, made once the first is written


def test_events_mode_records_pre_and_post_seconds_around_triggers(tmp_path: Path) -> None:
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    config = CameraConfig.model_validate(
        {
            "inputs": [{"url": "rtsp://127.0.0.1:1/placeholder"}],
            "record": {
                "mode": "events",
                "segment_seconds": 60,
                "pre_seconds": 2,
                "post_seconds": EVENT_POST,
            },
            "detect": {"enabled": False},  # outside triggers only (the sim's clock moves)
        }
    )
    with SimThread(build_cameras(1, SMALL, None, quiet=True)) as sim:
        config.inputs[0].url = sim.url("cam1")
        manager = CameraManager({"yard": config}, recording=ctx)
        with TestClient(create_app(manager)) as client:
            cam = manager.get("yard")
            recorder = cam.recorder
            assert recorder is not None
            wait_for(lambda: recorder.prebuffer.span >= 2, 30, "two seconds buffered")
            assert not list(tmp_path.rglob("*.mp4"))  # nothing is written without an event
            # the trigger times are the server's (in the answer's window), not the test's:
            # a busy machine may handle a request a little after it was sent
            response = client.post("/api/cameras/yard/events")
            assert response.status_code == 202
            first = datetime.fromisoformat(response.json()["start"]).timestamp() + 2
            # once the event is being written, a second trigger (within post_seconds of the
            # first) extends the same event
            wait_for(lambda: list(tmp_path.rglob(f"*{PARTIAL_SUFFIX}")), 30, "the event written")
            response = client.post("/api/cameras/yard/events")
            assert response.status_code == 202
            last = datetime.fromisoformat(response.json()["end"]).timestamp() - EVENT_POST
            assert first < last < first + EVENT_POST, (first, last)  # the test's own premise
            wait_for(lambda: recorder.segments_written >= 1, 30, "the event's segment")
            wait_for(lambda: recorder.prebuffer.span >= 2, 30, "buffering again")
            listed = client.get("/api/recordings", params={"camera": "yard"}).json()
    ctx.index.close()
    segments = listed["recordings"]
    assert len(segments) == 1, segments  # one event, written once; nothing after it
    row = segments[0]
    start = datetime.fromisoformat(row["start"]).timestamp()
    end = datetime.fromisoformat(row["end"]).timestamp()
    frame = 1 / SMALL.fps
    assert start <= first - 2 + frame  # the pre-buffer reached back pre_seconds
    assert start >= first - 2 - 1.0 - 0.5  # ... to the key frame before (GOP 1 s) and no more
    assert end >= last + EVENT_POST - 0.5  # post_seconds after the *last* trigger
    assert end <= last + EVENT_POST + 0.3  # ... and stops there
    assert row["has_event"] is True
    path = next(tmp_path.rglob("*.mp4"))
    with LibavWarnings() as warnings, av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert warnings.messages == []
    assert abs(frames * frame - row["duration"]) <= frame


def test_resolution_change_in_band_starts_a_new_segment_and_both_play(tmp_path: Path) -> None:
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    with SimThread(build_cameras(1, SMALL, None, quiet=True, alt=True)) as sim:
        cam = recording_camera(sim.url("cam1"), ctx, seconds=60)
        cam.start()
        recorder = cam.recorder
        assert recorder is not None
        wait_for(lambda: recorder._writer is not None and recorder._writer.duration >= 2, 30, "2 s")
        sim.set_faults("cam1", resolution="alt")
        wait_for(lambda: recorder.segments_written >= 1, 30, "the cut at the change")
        wait_for(lambda: recorder._writer is not None and recorder._writer.duration >= 2, 30, "2 s")
        cam.stop(timeout=5)
    segments = rows(ctx)
    ctx.index.close()
    assert len(segments) == 2  # no reconnect: the in-band change alone cut it
    assert abs(segments[1].start - segments[0].end) <= 1 / SMALL.fps
    sizes = []
    for row in segments:
        with LibavWarnings() as warnings, av.open(str(ctx.root / row.path)) as container:
            stream = container.streams.video[0]
            header = (stream.codec_context.width, stream.codec_context.height)
            decoded = {(f.width, f.height) for f in container.decode(stream)}
        assert warnings.messages == []
        assert decoded == {header}  # the file's header matches what it holds
        sizes.append(header)
    assert sizes == [(320, 180), (160, 90)]


def iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat()


def test_export_across_three_boundaries_snaps_to_a_key_frame(
    recorded: tuple[RecordingContext, float],
) -> None:
    ctx, _ = recorded
    segments = rows(ctx)
    assert len(segments) >= 4
    frame = 1 / SMALL.fps
    start = segments[0].start + 1.5  # mid-GOP: the key frames are 1 s apart
    end = segments[3].start + segments[3].duration / 2  # the last may be short
    snapped = segments[0].start + 1.0
    config = CameraConfig.model_validate(
        {"inputs": [{"url": "rtsp://127.0.0.1:1/x"}], "enabled": False}
    )
    app = create_app(CameraManager({"yard": config}, recording=ctx))
    with TestClient(app) as client:
        response = client.get(
            "/api/cameras/yard/export", params={"start": iso(start), "end": iso(end)}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "video/mp4"
        assert "attachment" in response.headers["content-disposition"]
        assert not list((ctx.root / "exports").glob("*.mp4"))  # removed once sent
    out = ctx.root.parent / "export.mp4"
    out.write_bytes(response.content)
    with LibavWarnings() as warnings, av.open(str(out)) as container:
        video = container.streams.video[0]
        assert container.streams.audio  # the audio came along
        decoded = [f for f in container.decode(video)]
    assert warnings.messages == []
    assert decoded[0].key_frame
    expected = round((end - snapped) / frame)
    assert abs(len(decoded) - expected) <= 1, (len(decoded), expected)
    duration = seconds_of(decoded[-1]) + frame
    assert abs(duration - (end - snapped)) <= 2 * frame


def test_export_refuses_too_long_empty_and_backwards_ranges(
    recorded: tuple[RecordingContext, float],
) -> None:
    ctx, _ = recorded
    first = rows(ctx)[0].start
    config = CameraConfig.model_validate(
        {
            "inputs": [{"url": "rtsp://127.0.0.1:1/x"}],
            "enabled": False,
            "record": {"export_max_minutes": 1},
        }
    )
    app = create_app(CameraManager({"yard": config}, recording=ctx))
    cases = [
        ("yard", first, first + 61, 400, "E607"),
        ("yard", first - 120, first - 90, 404, "E405"),
        ("yard", first + 5, first + 1, 400, "E602"),
        ("other", first, first + 5, 404, "E405"),
    ]
    with TestClient(app) as client:
        for name, a, b, status, code in cases:
            response = client.get(
                f"/api/cameras/{name}/export", params={"start": iso(a), "end": iso(b)}
            )
            assert (response.status_code, response.json()["code"]) == (status, code)
        bad = client.get("/api/cameras/yard/export", params={"start": "yesterday", "end": "x"})
        assert bad.status_code == 422


def test_g711_audio_is_transcoded_to_aac_in_sync(tmp_path: Path) -> None:
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    with SimThread(build_cameras(1, SMALL, None, quiet=True, audio={"cam1": "pcmu"})) as sim:
        cam = recording_camera(sim.url("cam1"), ctx)
        cam.start()
        recorder = cam.recorder
        assert recorder is not None
        wait_for(lambda: recorder.segments_written >= 2, 30, "two segments")
        cam.stop(timeout=5)
    segments = rows(ctx)
    ctx.index.close()
    for row in segments[:-1]:
        with LibavWarnings() as warnings, av.open(str(ctx.root / row.path)) as container:
            audio = container.streams.audio[0]
            assert audio.codec_context.name == "aac"
            assert audio.codec_context.sample_rate == 8000
            samples, starts = 0, dict[str, float]()
            for frame in container.decode(video=0, audio=0):
                assert isinstance(frame, av.AudioFrame | av.VideoFrame)
                kind = "audio" if isinstance(frame, av.AudioFrame) else "video"
                starts.setdefault(kind, seconds_of(frame))
                samples += frame.samples if isinstance(frame, av.AudioFrame) else 0
        assert warnings.messages == []
        assert abs(starts["audio"] - starts["video"]) <= 0.15  # in step with the video
        # the audio covers the segment: at most one AAC frame short at either end
        assert abs(samples / 8000 - row.duration) <= 2 * 1024 / 8000, (samples, row.duration)


def test_a_database_error_interrupts_recording_and_it_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The index refuses one segment ("database is locked" past its busy timeout, injected):
    the recorder reports E411, counts it and records on; ingest never stops, and the
    camera's status and metrics show it. The refused segment's file is indexed at the next
    start."""
    import logging

    from sqlalchemy.exc import OperationalError

    from vigil.api.metrics import CAMERA_FAMILIES

    caplog.set_level(logging.ERROR)
    index = Index(tmp_path / "vigil.db")
    ctx = RecordingContext(tmp_path, index)
    real_add = index.add_segment
    locked = {"left": 1}

    def add_segment(**fields: Any) -> int:
        if locked["left"]:
            locked["left"] -= 1
            raise OperationalError("INSERT INTO segments", {}, Exception("database is locked"))
        return real_add(**fields)

    index.add_segment = add_segment  # type: ignore[method-assign]
    with SimThread(build_cameras(1, SMALL, None, quiet=True)) as sim:
        cam = recording_camera(sim.url("cam1"), ctx)
        cam.start()
        try:
            # counted, then logged, on the closer's thread: wait for both
            wait_for(
                lambda: (
                    cam.recorder is not None
                    and cam.recorder.failures.count
                    and "[E411]" in caplog.text
                ),
                20,
                "E411 counted and logged",
            )
            assert "database is locked" in caplog.text
            status = cam.status()
            assert status.state.value == "streaming"  # ingest went on
            assert status.last_error is not None and status.last_error.code == "E411"
            assert status.interruptions == {"recorder": 1, "detector": 0, "live": 0}
            family = next(f for f in CAMERA_FAMILIES if "recorder_interruptions" in f[0])
            figures = CameraFigures(
                cam.cpu.seconds(), cam.recorded_bytes, cam.failures["recorder"].dropped, True
            )
            assert family[3](status, figures) == 1
            wait_for(lambda: len(index.segments("yard")) >= 2, 30, "recording went on")
        finally:
            cam.stop(timeout=5)
    assert cam.recorder is None or not cam.recorder.is_alive()
    for row in index.segments("yard"):
        assert frames_ok(ctx.root / row.path)
    from vigil.recording.recovery import reconcile

    assert reconcile(ctx.root, index).indexed == 1  # the one the index refused
    index.close()


@pytest.mark.parametrize(("fault", "seconds"), [("jump_back", 30.0), ("jump_forward", 3600.0)])
def test_a_camera_timestamp_jump_cuts_the_segment_and_loses_nothing_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fault: str, seconds: float
) -> None:
    """The simulator's camera clock jumps (back 30 s, forward an hour) while recording:
    E413, the segment is cut, recording goes on at the next key frame, and the index holds
    no overlap and no hour-long segment."""
    import logging

    caplog.set_level(logging.WARNING)
    index = Index(tmp_path / "vigil.db")
    ctx = RecordingContext(tmp_path, index)
    with SimThread(build_cameras(1, SMALL, None, quiet=True)) as sim:
        cam = recording_camera(sim.url("cam1"), ctx, seconds=4)
        cam.start()
        try:
            recorder = wait_for(lambda: cam.recorder, 10, "a recorder")
            wait_for(lambda: recorder.segments_written >= 1, 20, "a first segment")
            sim.set_faults("cam1", **{fault: seconds})
            wait_for(lambda: recorder.discontinuities == 1, 20, "the cut")
            assert "[E413]" in caplog.text
            wait_for(lambda: len(index.segments("yard")) >= 3, 30, "segments after the jump")
        finally:
            cam.stop(timeout=5)
    segments = index.segments("yard")
    for row in segments:
        assert row.duration < 10  # no segment spans the jump
        assert frames_ok(ctx.root / row.path)
    for a, b in itertools.pairwise(segments):
        assert b.start >= a.end - 0.05  # no overlap
        assert b.start - a.end < 2.0  # at most about a GOP lost at the cut
    index.close()


def test_the_open_segment_is_flushed_while_recording_and_not_when_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fdatasync of the open segment's file while recording (record.fsync_seconds: 1),
    and never with fsync_seconds: 0."""
    import os

    synced: list[int] = []
    real = os.fdatasync

    def counted(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counted)
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    with SimThread(build_cameras(2, SMALL, None, quiet=True)) as sim:
        on = recording_camera(sim.url("cam1"), ctx, seconds=60)
        off_config = CameraConfig.model_validate(
            {"inputs": [{"url": sim.url("cam2")}], "record": {"fsync_seconds": 0}}
        )
        off = CameraSupervisor("off", off_config, recording=ctx)
        on.start()
        off.start()
        try:
            recorder = wait_for(lambda: on.recorder, 10, "a recorder")
            wait_for(lambda: recorder.syncs >= 3, 10, "three flushes")
            off_recorder = off.recorder
            assert off_recorder is not None and off_recorder.syncs == 0
        finally:
            on.stop(timeout=5)
            off.stop(timeout=5)
    assert len(synced) >= 3
    ctx.index.close()


def test_a_recorder_stuck_on_the_database_is_replaced_and_nothing_is_lost_once_free(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The index's write lock is held (a database another writer holds, standing for one
    that hangs): the recorder's closes wait, then the recorder does. The watchdog reports
    E414 with where it is stuck (the index call its closer waits in) and starts a new
    recorder; ingest never stops. Once the lock is free, the stuck one indexes its segments
    and ends, the new one records on, every segment decodes and none overlaps another. What
    the stuck one dropped stays counted."""
    import logging

    from vigil.camera.reader import Timing

    caplog.set_level(logging.WARNING)
    index = Index(tmp_path / "vigil.db")
    ctx = RecordingContext(tmp_path, index)
    config = CameraConfig.model_validate(
        {"inputs": [{"url": "rtsp://127.0.0.1:1/x"}], "record": {"segment_seconds": 2}}
    )
    with SimThread(build_cameras(1, SMALL, None, quiet=True)) as sim:
        config = config.model_copy(
            update={"inputs": [config.inputs[0].model_copy(update={"url": sim.url("cam1")})]}
        )
        timing = Timing(open_timeout=10, stall=10, part_stall=3.0)
        cam = CameraSupervisor("yard", config, recording=ctx, timing=timing)
        index._write.acquire()
        released = False
        try:
            cam.start()
            first = cam.recorder
            assert first is not None

            def replaced() -> bool:
                cam.tick(time.monotonic())
                return cam.recorder is not first

            wait_for(replaced, 30, "the stuck recorder replaced")
            assert "[E414]" in caplog.text and "add_segment (index.py:" in caplog.text
            status = cam.status()
            assert status.last_error is not None and status.last_error.code == "E414"
            assert status.interruptions["recorder"] == 1
            assert status.state.value == "streaming"  # ingest went on
            assert first.is_alive()  # abandoned, still stuck
            index._write.release()
            released = True
            wait_for(lambda: not first.is_alive(), 20, "the abandoned recorder ended")
            assert first.segments_written >= 1  # its segment, and what its queue held
            # the packets it dropped while stuck count for the camera, whichever recorder
            # is current (the behind metric reads them from here)
            assert "[E415]" in caplog.text and cam.failures["recorder"].dropped > 0
            wait_for(lambda: len(index.segments("yard")) >= 3, 30, "the new one records")
        finally:
            if not released:
                index._write.release()
            cam.stop(timeout=5)
    rows = sorted(index.segments("yard"), key=lambda r: r.start)
    for row in rows:
        assert frames_ok(ctx.root / row.path)
    for a, b in itertools.pairwise(rows):
        assert a.end <= b.start + 0.05
    index.close()


def test_a_name_taken_by_a_file_gets_a_suffix(tmp_path: Path) -> None:
    from vigil.recording.naming import segment_path

    first = segment_path(tmp_path, "cam", 1_800_000_000.0)
    first.parent.mkdir(parents=True)
    first.write_bytes(b"")  # a file the index doesn't know (a crash, a copy)
    second = segment_path(tmp_path, "cam", 1_800_000_000.4)  # the same second
    assert second.name == first.name.replace("Z.mp4", "Z-1.mp4")
    (second.parent / (second.stem + PARTIAL_SUFFIX)).write_bytes(b"")  # a partial one
    assert segment_path(tmp_path, "cam", 1_800_000_000.0).name.endswith("Z-2.mp4")


def test_cameras_that_start_together_do_not_cut_together() -> None:
    """A recording's first segment runs a share of segment_seconds fixed by the camera's
    name, from a half to all of it: 48 cameras started at once spread their cuts."""
    shares = [stagger(f"cam{n}") for n in range(1, 49)]
    assert all(0.5 <= s < 1.0 for s in shares)
    assert shares == [stagger(f"cam{n}") for n in range(1, 49)]  # the same at each start
    assert min(shares) < 0.55 and max(shares) > 0.95
    assert len({round(s, 2) for s in shares}) > 30  # not a few instants
