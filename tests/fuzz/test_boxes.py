"""Fuzz: a partial segment with random bytes changed, cut, or inserted (hypothesis) never
stops recovery. Each one is recovered and indexed, quarantined, or discarded, and recovery
returns. The box readers raise only the errors their callers handle."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import fuzzing
from tests.helpers import make_video
from vigil.recording.mp4.fragments import FragmentedFile
from vigil.recording.naming import segment_path
from vigil.recording.recovery import reconcile
from vigil.recording.segment import PARTIAL_SUFFIX, SegmentWriter
from vigil.storage.index import Index

START = 1_795_000_000.25


class Partial(bytes):
    """A partial segment's bytes, shown by size: a failure's report stays readable."""

    def __repr__(self) -> str:
        return f"<partial segment, {len(self)} bytes>"


@pytest.fixture(scope="module")
def partial() -> Iterator[bytes]:
    """The bytes of a 2 s partial segment, as a crash leaves one: fragmented, unfinished."""
    with tempfile.TemporaryDirectory() as tmp:
        source = make_video(Path(tmp) / "src.mp4", seconds=2, fps=15, gop=15)
        with av.open(str(source)) as src:
            video = src.streams.video[0]
            path = segment_path(Path(tmp), "cam", START)
            writer = SegmentWriter(path, START, video, None, seconds=2)
            for packet in src.demux(video):
                if packet.dts is not None:
                    writer.write(packet, True)
            writer._out.close()  # flush the fragments, but skip the finalize
            os.close(writer._fd)
        yield Partial(writer.partial_path.read_bytes())


WORDS = [0, 1, 7, 8, 0xFFFFFFFF, 0x7FFFFFFF, 2**31]  # box sizes and counts that hurt
CHANGES = st.lists(
    st.tuples(
        st.sampled_from(["flip", "cut", "insert", "word"]),
        st.floats(0, 1, exclude_max=True),  # where, as a fraction of the file
        st.integers(0, 255),
        st.binary(min_size=1, max_size=64),
        st.sampled_from(WORDS),
    ),
    min_size=1,
    max_size=6,
)


def mutated(data: bytes, changes: list[tuple[str, float, int, bytes, int]]) -> bytes:
    """`data` with `changes`: a byte overwritten, a cut, bytes inserted, a word written."""
    out = bytearray(data)
    for kind, where, byte, inserted, word in changes:
        at = int(where * len(out))
        if kind == "flip" and out:
            out[at] = byte
        elif kind == "cut":
            del out[at:]
        elif kind == "insert":
            out[at:at] = inserted
        else:
            out[at : at + 4] = word.to_bytes(4, "big")
    return bytes(out)


@fuzzing(200)
@given(CHANGES)
def test_recovery_of_a_mangled_partial_always_returns(
    partial: bytes, changes: list[tuple[str, float, int, bytes, int]]
) -> None:
    mangled = mutated(partial, changes)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = segment_path(root, "cam", START)
        path.parent.mkdir(parents=True)
        file = path.with_name(path.stem + PARTIAL_SUFFIX)
        file.write_bytes(mangled)
        with contextlib.closing(Index(root / "vigil.db")) as index:
            result = reconcile(root, index)  # never raises: a start never fails on a file
            taken = result.recovered + result.quarantined + result.discarded + result.failed
            assert taken == 1
            assert not file.exists() or result.failed == 1
            rows = index.segments("cam")
            assert len(rows) == result.recovered
            for row in rows:
                assert (root / row.path).exists()


@fuzzing(300)
@given(CHANGES)
def test_the_fragment_reader_raises_only_value_errors(
    partial: bytes, changes: list[tuple[str, float, int, bytes, int]]
) -> None:
    mangled = mutated(partial, changes)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "x.mp4"
        file.write_bytes(mangled)
        with contextlib.suppress(ValueError):  # what finalize turns into an FFmpeg remux
            FragmentedFile(file)


def test_a_trun_claiming_billions_of_samples_is_refused_at_once(
    partial: bytes, tmp_path: Path
) -> None:
    """Found by the fuzzing above: a trun without per-sample fields takes no room for its
    count, so a garbage count of 2^31 made the reader build arrays for hours."""
    at = partial.index(b"trun") + 4
    data = bytearray(partial)
    data[at : at + 4] = (0x000001).to_bytes(4, "big")  # version 0, a data offset only
    data[at + 4 : at + 8] = (0x7FFFFFFF).to_bytes(4, "big")
    file = tmp_path / "x.mp4"
    file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="claims"):
        FragmentedFile(file)
