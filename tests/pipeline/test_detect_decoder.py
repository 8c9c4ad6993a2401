"""Decoding for detection: rate, size, gray, key-frames-only mode and its catch-up."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.helpers import LibavWarnings, make_video
from vigil.pipeline.detect_decoder import DetectDecoder


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of 320x180 at 15 fps, a key frame every second (GOP 15)."""
    return make_video(tmp_path_factory.mktemp("detect") / "clip.mp4", seconds=4, fps=15, gop=15)


def packets(path: Path) -> tuple[object, list[av.Packet[Any]]]:
    container = av.open(str(path))
    video = container.streams.video[0]
    return video, [p for p in container.demux(video) if p.size]


def test_every_frame_is_decoded_but_only_fps_are_processed(clip: Path) -> None:
    video, pkts = packets(clip)
    decoder = DetectDecoder(video, width=160, fps=5)
    with LibavWarnings() as warnings:
        frames = [f for p in pkts for f in decoder.feed(p)]
    assert warnings.messages == []
    assert decoder.counts.decoded == 60  # decoding can't be cut by processing less
    assert len(frames) == decoder.counts.processed == 20  # 5 a second for 4 s
    assert all(b.at - a.at == pytest.approx(0.2, abs=0.01) for a, b in itertools.pairwise(frames))
    first = frames[0]
    assert first.gray.dtype == np.uint8 and first.gray.shape == (90, 160)  # gray, to width
    assert first.keyframe


def test_no_fps_limit_processes_every_frame(clip: Path) -> None:
    video, pkts = packets(clip)
    decoder = DetectDecoder(video, width=320, fps=None)
    assert sum(1 for p in pkts for _ in decoder.feed(p)) == 60


def test_keyframes_only_decodes_one_frame_a_gop_and_catches_up_cleanly(clip: Path) -> None:
    video, pkts = packets(clip)
    decoder = DetectDecoder(video, width=160, fps=None)
    decoder.keyframes()
    with LibavWarnings() as warnings:
        idle = [f for p in pkts[:37] for f in decoder.feed(p)]  # 2 s and 7 frames
        assert [f.keyframe for f in idle] == [True, True, True]
        assert decoder.counts.decoded == decoder.counts.decoded_keyframes_only == 3
        assert decoder.counts.skipped_packets == 34
        # motion: decode the 6 P-frames since the last key frame, then go on at full rate
        caught_up = list(decoder.full_rate())
        rest = [f for p in pkts[37:] for f in decoder.feed(p)]
    assert warnings.messages == []  # no P-frame decoded without its references
    assert len(caught_up) == 6 and not any(f.keyframe for f in caught_up)
    assert len(rest) == 60 - 37
    assert decoder.counts.by_mode == {"keyframes": 3, "full": 6 + 23}
    assert [round(f.at * 15) for f in caught_up + rest] == list(range(31, 60))


def test_timestamps_going_back_do_not_stall_processing(clip: Path) -> None:
    video, pkts = packets(clip)
    decoder = DetectDecoder(video, width=160, fps=5)
    first = [f for p in pkts for f in decoder.feed(p)]
    _, again = packets(clip)  # a reconnect: the same timestamps from 0
    after = [f for p in again for f in decoder.feed(p)]
    assert len(after) == len(first) == 20
