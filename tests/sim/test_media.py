"""Synthetic media: the scene, its motion schedule, NAL splitting and the cache."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import SMALL
from vigil.sim import media
from vigil.sim.media import (
    MOTION_PERIOD,
    MOTION_WINDOW,
    ClipSpec,
    Scene,
    cache_dir,
    load_clip,
    motion_windows,
    split_nals,
)


def test_motion_windows_are_the_ground_truth() -> None:
    assert motion_windows(45) == [(5.0, 10.0), (25.0, 30.0)]
    assert motion_windows(27) == [(5.0, 10.0), (25.0, 27.0)]
    assert motion_windows(20) == [(5.0, 10.0)]
    assert MOTION_PERIOD - (MOTION_WINDOW[1] - MOTION_WINDOW[0]) == 15  # 15 s apart


def test_the_object_moves_only_inside_the_windows() -> None:
    scene, fps = Scene(160, 90), 10

    def moved(t0: float, t1: float) -> bool:
        a, b = scene.render(int(t0 * fps), fps), scene.render(int(t1 * fps), fps)
        body = (slice(20, None), slice(None))  # below the burnt-in clock
        diff = np.abs(a[body].astype(int) - b[body].astype(int))
        return bool((diff > 100).mean() > 0.001)

    assert not moved(1.0, 4.9)
    assert moved(6.0, 8.0)
    assert not moved(10.0, 19.9)
    assert moved(26.0, 28.0)
    assert not moved(19.9, 20.0)  # the loop point: no jump back


def test_split_nals_handles_3_and_4_byte_start_codes() -> None:
    data = b"\x00\x00\x00\x01\x67abc\x00\x00\x01\x68de\x00\x00\x00\x01\x65fgh"
    assert split_nals(data) == [b"\x67abc", b"\x68de", b"\x65fgh"]


def _no_encoding(*_args: object) -> object:
    raise AssertionError("the clip was encoded again, not read from the cache")


def test_clip_is_cached_and_starts_with_a_key_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ClipSpec(width=128, height=72, fps=10, gop=10, bitrate=100_000, seconds=2)
    clip = load_clip(spec, quiet=True)
    assert len(clip.units) == 20
    assert [u.key for u in clip.units].count(True) == 2
    assert clip.units[0].key and clip.sps[0] & 0x1F == 7 and clip.pps[0] & 0x1F == 8
    cached = list(cache_dir().glob(f"128x72-10-{spec.key()}.aus"))
    assert len(cached) == 1
    monkeypatch.setattr(media, "encode", _no_encoding)  # the second load reads the cache
    again = load_clip(spec, quiet=True)
    assert [u.nals for u in again.units] == [u.nals for u in clip.units]


def test_small_spec_used_by_tests_is_whole_gops() -> None:
    assert SMALL.frame_count % SMALL.gop == 0
