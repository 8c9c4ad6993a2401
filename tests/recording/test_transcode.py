"""Re-encoding on request (record.codec) and for sources with nothing to copy (MJPEG)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from tests.helpers import SMALL, LibavWarnings, SimThread, wait_for
from vigil.camera.supervisor import CameraSupervisor
from vigil.config import CameraConfig, RecordConfig
from vigil.recording.recorder import RecordingContext
from vigil.recording.transcode import encoder_names, target_codec
from vigil.sim.http import MJPEG_FPS
from vigil.sim.server import build_cameras
from vigil.storage.index import Index


def record(url: str, root: Path, **record: object) -> list[tuple[Path, float, str]]:
    """Record until two segments are closed; (path, duration, codec) of each. Detection is
    off: these cameras only record, and its decoding would only add load to the timings."""
    ctx = RecordingContext(root, Index(root / "vigil.db"))
    config = CameraConfig.model_validate(
        {
            "inputs": [{"url": url}],
            "record": {"segment_seconds": 2, **record},
            "detect": {"enabled": False},
        }
    )
    cam = CameraSupervisor("yard", config, recording=ctx)
    cam.start()
    try:
        recorder = cam.recorder
        assert recorder is not None
        wait_for(lambda: recorder.segments_written >= 2, 60, "two segments")
    finally:
        cam.stop(timeout=5)
    rows = ctx.index.segments("yard")
    ctx.index.close()
    return [(root / r.path, r.duration, r.codec) for r in rows]


@pytest.mark.parametrize(
    ("codec", "name", "tag"), [("h264", "h264", "avc1"), ("h265", "hevc", "hvc1")]
)
def test_record_codec_re_encodes_to_clean_segments(
    tmp_path: Path, codec: str, name: str, tag: str
) -> None:
    with SimThread(build_cameras(1, SMALL, None, quiet=True, audio={"cam1": "aac"})) as sim:
        segments = record(sim.url("cam1"), tmp_path, codec=codec, preset="ultrafast")
    for path, duration, row_codec in segments[:-1]:
        assert row_codec == name
        with LibavWarnings() as warnings, av.open(str(path)) as container:
            video = container.streams.video[0]
            assert video.codec_context.name == name
            assert video.codec_tag == tag
            assert container.streams.audio  # the AAC audio is still copied alongside
            frames = [f for f in container.decode(video)]
        assert warnings.messages == []
        assert frames[0].key_frame and (frames[0].width, frames[0].height) == (320, 180)
        assert abs(len(frames) / SMALL.fps - duration) <= 1 / SMALL.fps


def test_mjpeg_source_is_encoded_to_h264(tmp_path: Path) -> None:
    with SimThread(build_cameras(1, SMALL, None, quiet=True), http=True) as sim:
        segments = record(f"{sim.http_url}/cam1/mjpeg", tmp_path, preset="ultrafast")
    for path, duration, row_codec in segments[:-1]:
        assert row_codec == "h264"
        with LibavWarnings() as warnings, av.open(str(path)) as container:
            frames = list(container.decode(video=0))
        assert warnings.messages == []
        assert frames and frames[0].key_frame
        # stamped on arrival: 5 fps plays at 5 fps, cut after 2 s
        frame = 1 / MJPEG_FPS
        assert abs(len(frames) * frame - duration) <= frame
        assert 2 - frame <= duration <= 2 + 2 * frame


def test_what_is_copied_and_what_is_encoded() -> None:
    copy, h265 = RecordConfig(), RecordConfig(codec="h265")
    assert target_codec(copy, "h264") is None and target_codec(copy, "hevc") is None
    assert target_codec(copy, "mjpeg") == "h264" and target_codec(copy, "rawvideo") == "h264"
    assert target_codec(h265, "h264") == "h265"
    assert encoder_names("h264", "software") == ["libx264"]
    assert encoder_names("h265", "auto")[-1] == "libx265"  # software is always the last resort


def test_h265_camera_is_copied_and_tagged_hvc1(tmp_path: Path) -> None:
    with SimThread(build_cameras(1, SMALL, None, quiet=True, h265=["cam1"])) as sim:
        segments = record(sim.url("cam1"), tmp_path)
    for path, duration, row_codec in segments[:-1]:
        assert row_codec == "hevc"
        with LibavWarnings() as warnings, av.open(str(path)) as container:
            video = container.streams.video[0]
            assert video.codec_tag == "hvc1"  # what Apple players and browsers need
            frames = list(container.decode(video))
        assert warnings.messages == []
        assert abs(len(frames) / SMALL.fps - duration) <= 1 / SMALL.fps
