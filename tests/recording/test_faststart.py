"""The box-level rewrite of a fragmented segment into a fast-start MP4 loses nothing."""

from __future__ import annotations

import os
import struct
from array import array
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.helpers import LibavWarnings, fed_segment, is_fast_start, make_video, top_level
from vigil.recording import faststart
from vigil.recording.mp4.fragments import Track
from vigil.recording.mp4.moov import sample_tables
from vigil.recording.naming import segment_path
from vigil.recording.segment import FRAGMENTED, SegmentWriter

Row = tuple[str, int | None, int | None, int | None, bool, bytes]


def packets(path: Path) -> dict[str, list[Row]]:
    """Every packet of each track, in decode order, as the demuxer gives it."""
    out: dict[str, list[Row]] = {}
    with av.open(str(path)) as container:
        for p in container.demux():
            if p.dts is None:
                continue
            row = (p.stream.type, p.pts, p.dts, p.duration, p.is_keyframe, bytes(p))
            out.setdefault(p.stream.type, []).append(row)
    return out


def decodes_cleanly(path: Path) -> int:
    with LibavWarnings() as warnings, av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert warnings.messages == []
    return frames


def fragmented_segment(tmp_path: Path, source: Path, audio_from: float = 0.0) -> Path:
    """A segment as the recorder leaves it open: fragmented, with audio from `audio_from`."""
    with av.open(str(source)) as src:
        video = src.streams.video[0]
        audio = src.streams.audio[0] if src.streams.audio else None
        writer = SegmentWriter(segment_path(tmp_path, "cam", 1_795_000_000), 1.0, video, audio)
        for packet in src.demux():
            if packet.dts is None:
                continue
            is_video = packet.stream is video
            if not is_video and packet.dts * packet.time_base < audio_from:
                continue
            writer.write(packet, is_video)
        writer._out.close()  # the fragmented file complete, not yet finalized
        os.close(writer._fd)
    return writer.partial_path


def test_video_and_late_audio_come_through_packet_for_packet(tmp_path: Path) -> None:
    source = make_video(tmp_path / "src.mp4", seconds=3, fps=15, gop=15, audio=True)
    partial = fragmented_segment(tmp_path, source, audio_from=0.5)
    out = tmp_path / "fast.mp4"
    done = faststart.rewrite(partial, out)
    assert top_level(out) == [b"ftyp", b"moov", b"mdat"]  # fast start: moov first
    before, after = packets(partial), packets(out)
    assert after == before  # every packet: timestamps, key flags and bytes
    # the audio starts late in both (an empty edit): at 8192, the first AAC frame after 0.5 s
    assert after["audio"][0][1:4] == (8192, 8192, 1024)
    assert done.frames == 45 and done.codec == "h264"
    assert done.duration == pytest.approx(3.0)
    assert decodes_cleanly(out) == 45


def test_b_frames_keep_their_presentation_times(tmp_path: Path) -> None:
    partial = tmp_path / "b.partial.mp4"
    with av.open(str(partial), "w", format="mp4", options=FRAGMENTED) as out:
        stream: Any = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.codec_context.gop_size = 15
        stream.codec_context.max_b_frames = 2
        stream.codec_context.options = {"preset": "ultrafast", "bframes": "2"}
        for i in range(30):
            img = np.full((180, 320, 3), (i * 9) % 255, dtype=np.uint8)
            img[:, (i * 10) % 320 :] = 40
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 15)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    before = packets(partial)["video"]
    assert any(pts != dts for _t, pts, dts, *_ in before)  # there are B-frames to keep right
    fast = tmp_path / "b.mp4"
    done = faststart.rewrite(partial, fast)
    assert packets(fast)["video"] == before
    assert done.frames == 30 and done.duration == pytest.approx(2.0)
    assert decodes_cleanly(fast) == 30


def test_offsets_past_4_gib_get_a_64_bit_chunk_table() -> None:
    track = Track(1, timescale=90_000)
    track.durations, track.sizes = array("q", [3000, 3000]), array("q", [10, 10])
    track.cto, track.sync = array("q", [0, 0]), [1, 2]
    track.chunks = [(0, 1, 1), (10, 1, 1)]
    small = sample_tables(track, [100, 110])
    large = sample_tables(track, [100, 5 << 30])
    assert b"stco" in small and b"co64" not in small
    assert b"co64" in large and struct.pack(">Q", 5 << 30) in large


def test_a_file_that_is_not_fragmented_mp4_is_refused(tmp_path: Path) -> None:
    plain = make_video(tmp_path / "plain.mp4", seconds=1)  # moov at the end, no fragments
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x10notabox" + bytes(100))
    for path in (plain, junk):
        with pytest.raises(ValueError):
            faststart.rewrite(path, tmp_path / "out.mp4")


def test_h265_segment_is_tagged_hvc1_and_plays(tmp_path: Path) -> None:
    source = tmp_path / "h265.mp4"
    with av.open(str(source), "w") as out:
        stream: Any = out.add_stream("libx265", rate=15)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.codec_context.options = {
            "preset": "ultrafast",
            "x265-params": "bframes=0:log-level=none",
        }
        for i in range(15):
            img = np.full((180, 320, 3), (i * 9) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 15)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with fed_segment(source, segment_path(tmp_path, "cam", 1_795_000_000)) as writer:
        segment = writer.close()
    assert segment is not None and segment.codec == "hevc" and segment.frames == 15
    assert is_fast_start(segment.path)
    assert b"hvc1" in segment.path.read_bytes()[:4096]  # the sample entry Apple players need
    assert decodes_cleanly(segment.path) == 15


def test_finalize_in_place_keeps_every_packet_and_moves_no_data(tmp_path: Path) -> None:
    source = make_video(tmp_path / "src.mp4", seconds=3, fps=15, gop=15, audio=True)
    partial = fragmented_segment(tmp_path, source, audio_from=0.5)
    assert top_level(partial)[:3] == [b"free", b"ftyp", b"moov"]  # the room reserved
    before, stat = packets(partial), partial.stat()
    done = faststart.finalize_in_place(partial)
    assert done is not None and done.frames == 45 and done.duration == pytest.approx(3.0)
    assert is_fast_start(partial)
    after = partial.stat()
    assert (after.st_ino, after.st_size) == (stat.st_ino, stat.st_size)  # the same file
    assert packets(partial) == before  # every packet: timestamps, key flags and bytes
    assert decodes_cleanly(partial) == 45


def test_a_moov_too_big_for_its_room_is_rewritten_into_a_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faststart, "reservation", lambda seconds: 64)
    source = make_video(tmp_path / "src.mp4", seconds=2, fps=15, gop=15)
    partial = fragmented_segment(tmp_path, source)
    assert faststart.finalize_in_place(partial) is None  # and the file is left as it was
    assert top_level(partial)[:3] == [b"free", b"ftyp", b"moov"]
    with fed_segment(source, segment_path(tmp_path, "cam2", 1_795_000_000)) as writer:
        segment = writer.close()
    assert segment is not None and segment.frames == 30
    assert top_level(segment.path) == [b"ftyp", b"moov", b"mdat"]  # rewritten, copied
    assert not writer.partial_path.exists() and not writer.tmp_path.exists()
    assert decodes_cleanly(segment.path) == 30


def test_a_writer_leaves_no_descriptor_open_whether_it_wrote_or_not(tmp_path: Path) -> None:
    source = make_video(tmp_path / "src.mp4", seconds=1, fps=15, gop=15)
    open_before = len(os.listdir("/proc/self/fd"))
    with av.open(str(source)) as src:
        empty = SegmentWriter(
            segment_path(tmp_path, "cam", 1_795_000_000), 1.0, src.streams.video[0], None
        )
        assert empty.close() is None and not empty.partial_path.exists()
    with fed_segment(source, segment_path(tmp_path, "cam", 1_795_000_100)) as writer:
        assert writer.close() is not None
    assert len(os.listdir("/proc/self/fd")) == open_before
