"""Detection on the simulator's scene, offline: files decoded as fast as they go.

Ground truth is :func:`vigil.sim.media.motion_windows` (the object moves 5 s of every 20 s).
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from tests.pipeline.scene import CLOCK_MASK, FPS, GOP, encode_scene
from vigil.config import DetectConfig, MotionConfig
from vigil.pipeline.motion import MotionDetector, MotionEvent
from vigil.pipeline.motion_pipeline import MotionPipeline
from vigil.sim.media import motion_windows

MOTION_SECONDS = 200  # ten motion windows
STILL_SECONDS = 600  # ten minutes


@pytest.fixture(scope="module")
def motion_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_scene(tmp_path_factory.mktemp("scene") / "motion.mp4", MOTION_SECONDS)


@pytest.fixture(scope="module")
def still_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scene") / "still.mp4"
    return encode_scene(path, STILL_SECONDS, still=True, noise=4.0)


def config(**detect: object) -> DetectConfig:
    motion = MotionConfig(masks=[CLOCK_MASK], event_gap_seconds=3)
    return DetectConfig(motion=motion, **detect)


def detect(
    path: Path, cfg: DetectConfig, level: int = 0
) -> tuple[list[MotionEvent], MotionPipeline]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        pipeline = MotionPipeline(video, cfg, MotionDetector(cfg.motion))
        if level:
            pipeline.set_level(level)
        events: list[MotionEvent] = []
        for packet in container.demux(video):
            if packet.size:
                events += [u.ended for _, u in pipeline.feed(packet) if u.ended is not None]
    last = pipeline.motion.finish()
    return ([*events, last] if last else events), pipeline


def detected(windows: list[tuple[float, float]], events: list[MotionEvent], within: float) -> int:
    """How many windows have an event that starts inside [start, start + within]."""
    return sum(any(start <= e.start <= start + within for e in events) for start, _ in windows)


def test_full_rate_finds_95_percent_of_motion_within_one_second(motion_clip: Path) -> None:
    events, pipeline = detect(motion_clip, config(idle_keyframes_after_seconds=None))
    windows = motion_windows(MOTION_SECONDS)
    assert len(windows) == 10
    assert detected(windows, events, 1.0) >= 0.95 * len(windows)
    assert len(events) == len(windows)  # and nothing else
    counts = pipeline.decoder.counts
    assert counts.decoded == MOTION_SECONDS * FPS  # every frame decoded ...
    assert counts.processed == pytest.approx(MOTION_SECONDS * 5, rel=0.02)  # ... 5 fps processed
    assert pipeline.idle_switches == 0


def test_idle_decoding_finds_motion_within_one_gop_plus_one_second(motion_clip: Path) -> None:
    events, pipeline = detect(motion_clip, config(idle_keyframes_after_seconds=4))
    windows = motion_windows(MOTION_SECONDS)
    gop_seconds = GOP / FPS
    assert detected(windows, events, gop_seconds + 1.0) >= 0.95 * len(windows)
    assert len(events) == len(windows)
    counts = pipeline.decoder.counts
    # Idle in every period between windows: once the object's return has faded from the
    # background (~5 s), the event's gap (3 s) and the idle delay (4 s) have passed, which
    # leaves ~3 s of each 20 at one frame in 30.
    assert pipeline.idle_switches >= 9 and pipeline.catch_ups >= 9
    total = MOTION_SECONDS * FPS
    assert counts.decoded + counts.skipped_packets == total
    assert counts.skipped_packets > 0.1 * total
    assert counts.by_mode["keyframes"] > 0 and counts.by_mode["full"] > 0


def test_idle_decoding_of_a_still_scene_decodes_key_frames_only(still_clip: Path) -> None:
    events, pipeline = detect(still_clip, config(idle_keyframes_after_seconds=4))
    counts = pipeline.decoder.counts
    total = STILL_SECONDS * FPS
    idle_after = 4  # every frame until the idle delay has passed, then one in a GOP
    expected = idle_after * FPS + (STILL_SECONDS - idle_after) * FPS / GOP
    assert len(events) <= 1
    slack = 5 + (FPS * 10 if events else 0)  # a frame or two at the switch; an event's span
    assert counts.decoded == pytest.approx(expected, abs=slack)
    assert counts.decoded < total / 20  # a twentieth of the frames decoded


def test_governor_levels_cut_what_they_say(motion_clip: Path) -> None:
    cfg = config(idle_keyframes_after_seconds=None)
    _, fewer = detect(motion_clip, cfg, level=1)
    assert fewer.decoder.counts.decoded == MOTION_SECONDS * FPS
    assert fewer.decoder.counts.processed == pytest.approx(MOTION_SECONDS * 2.5, rel=0.02)
    events, keys = detect(motion_clip, cfg, level=2)
    assert keys.decoder.counts.decoded == MOTION_SECONDS * FPS // GOP  # key frames only
    assert keys.catch_ups == 0  # at level 2 motion does not bring full rate back
    assert events  # detection still works, coarsely


def test_ten_minutes_of_still_noisy_scene_raise_at_most_one_event(still_clip: Path) -> None:
    events, pipeline = detect(still_clip, config(idle_keyframes_after_seconds=None))
    assert len(events) <= 1
    assert pipeline.decoder.counts.processed >= STILL_SECONDS * 5 * 0.98


def test_motion_only_in_a_masked_region_raises_nothing(motion_clip: Path) -> None:
    # the object crosses the band from 55 % of the height down: mask all of it
    band = [(0.0, 0.5), (1.0, 0.5), (1.0, 0.8), (0.0, 0.8)]
    cfg = DetectConfig(
        motion=MotionConfig(masks=[CLOCK_MASK, band], event_gap_seconds=3),
        idle_keyframes_after_seconds=None,
    )
    events, _ = detect(motion_clip, cfg)
    assert events == []


def test_a_zone_away_from_the_motion_raises_nothing_and_one_on_it_does(motion_clip: Path) -> None:
    sky = {"name": "sky", "points": [(0.4, 0.0), (1.0, 0.0), (1.0, 0.4), (0.4, 0.4)]}
    path = {"name": "path", "points": [(0.0, 0.5), (1.0, 0.5), (1.0, 0.8), (0.0, 0.8)]}
    cfg = DetectConfig.model_validate(
        {
            "motion": {"zones": [sky, path], "masks": [CLOCK_MASK], "event_gap_seconds": 3},
            "idle_keyframes_after_seconds": None,
        }
    )
    events, _ = detect(motion_clip, cfg)
    assert len(events) == 10
    assert all(e.zones == {"path"} for e in events)


def test_processing_never_takes_more_than_every_second_source_frame(motion_clip: Path) -> None:
    cfg = config(fps=30, idle_keyframes_after_seconds=None)  # asks for every frame of 15 fps
    _, pipeline = detect(motion_clip, cfg)
    assert pipeline.rate(0) == FPS / 2
    assert pipeline.decoder.counts.processed == pytest.approx(MOTION_SECONDS * FPS / 2, rel=0.02)
