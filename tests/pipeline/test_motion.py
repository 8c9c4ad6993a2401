"""Motion detection on synthetic gray frames: noise, a moving square, zones, masks, gaps."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from vigil.config import MotionConfig
from vigil.pipeline.motion import WHOLE_FRAME, MotionDetector, MotionEvent, polygon_mask

WIDTH, HEIGHT, FPS = 320, 180, 5.0


def scene(
    seconds: float,
    moving: list[tuple[float, float]] | None = None,
    size: int = 24,
    noise: float = 6.0,
    row: int = 80,
    seed: int = 1,
) -> Iterator[tuple[float, np.ndarray]]:
    """A still textured scene with sensor noise; a bright square crosses it left to right
    during each (start, end) of `moving`."""
    rng = np.random.default_rng(seed)
    noise_free = rng.integers(40, 200, size=(HEIGHT, WIDTH)).astype(np.float32)
    base = (
        noise_free
        + np.roll(noise_free, 1, 0)
        + np.roll(noise_free, 1, 1)
        + np.roll(noise_free, 1, (0, 1))
    ) / 4
    for n in range(int(seconds * FPS)):
        at = n / FPS
        frame = base + rng.normal(0, noise, size=base.shape)
        for start, end in moving or []:
            if start <= at < end:
                x = int((at - start) / (end - start) * (WIDTH - size))
                frame[row : row + size, x : x + size] = 250
        yield at, np.clip(frame, 0, 255).astype(np.uint8)


def run(config: MotionConfig, frames: Iterator[tuple[float, np.ndarray]]) -> list[MotionEvent]:
    detector = MotionDetector(config)
    events: list[MotionEvent] = []
    for at, frame in frames:
        update = detector.process(frame, at)
        if update.ended is not None:
            events.append(update.ended)
    last = detector.finish()
    return [*events, last] if last is not None else events


def test_ten_minutes_of_a_still_noisy_scene_raise_no_event() -> None:
    assert run(MotionConfig(), scene(600)) == []


def test_a_moving_object_is_one_event_starting_within_half_a_second() -> None:
    [event] = run(MotionConfig(event_gap_seconds=2), scene(12, moving=[(3.0, 6.0)]))
    assert 3.0 <= event.start <= 3.0 + 0.5  # two frames of debounce at 5 fps
    assert 5.4 <= event.end <= 6.2
    square = 24 * 24 / (WIDTH * HEIGHT)
    assert square <= event.peak_area <= 3 * square  # the square, and the trail it leaves
    assert event.zones == {WHOLE_FRAME}
    assert event.peak_frame is not None and event.peak_frame.shape == (HEIGHT, WIDTH)


def test_motion_within_the_gap_continues_the_event_and_after_it_starts_another() -> None:
    moving = [(2.0, 4.0), (6.0, 8.0), (20.0, 22.0)]
    events = run(MotionConfig(event_gap_seconds=5), scene(30, moving=moving))
    assert [(round(e.start), round(e.end)) for e in events] == [(2, 8), (20, 22)]


def test_a_change_smaller_than_min_area_is_no_motion() -> None:
    tiny = scene(10, moving=[(2.0, 8.0)], size=6)  # 36 pixels: 0.06 % of the frame
    assert run(MotionConfig(min_area=0.002), tiny) == []


def test_motion_only_under_a_mask_raises_nothing() -> None:
    band = [(0.0, 0.3), (1.0, 0.3), (1.0, 0.75), (0.0, 0.75)]  # rows 54-135: the square's path
    assert run(MotionConfig(masks=[band]), scene(10, moving=[(2.0, 8.0)])) == []


def test_only_the_zones_crossed_are_reported() -> None:
    path = {"name": "path", "points": [(0.0, 0.3), (1.0, 0.3), (1.0, 0.75), (0.0, 0.75)]}
    sky = {"name": "sky", "points": [(0.0, 0.0), (1.0, 0.0), (1.0, 0.2), (0.0, 0.2)]}
    config = MotionConfig.model_validate({"zones": [path, sky], "event_gap_seconds": 2})
    [event] = run(config, scene(10, moving=[(2.0, 6.0)]))
    assert event.zones == {"path"}
    only_sky = MotionConfig.model_validate({"zones": [sky]})
    assert run(only_sky, scene(10, moving=[(2.0, 6.0)])) == []


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)], 1.0),
        ([(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)], 0.5),
        ([(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)], 0.5),  # a triangle: half the frame
    ],
)
def test_polygons_cover_the_fraction_of_the_frame_they_should(
    points: list[tuple[float, float]], expected: float
) -> None:
    mask = polygon_mask(points, 160, 90)
    assert abs(mask.mean() - expected) < 0.02
