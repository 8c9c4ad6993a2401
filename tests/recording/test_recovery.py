"""Crash safety: kill -9 while recording, then reconcile disk and index at start."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import av
import pytest

from tests.helpers import (
    SMALL,
    LibavWarnings,
    SimThread,
    fed_segment,
    free_port,
    is_fast_start,
    make_video,
    seconds_of,
    top_level,
    wait_for,
)
from vigil.recording import faststart
from vigil.recording.faststart import whole_fragments_end
from vigil.recording.naming import segment_path
from vigil.recording.recovery import reconcile
from vigil.recording.segment import PARTIAL_SUFFIX, SegmentWriter, tmp_path_of
from vigil.sim.server import build_cameras
from vigil.storage.index import Index


def frames_of(path: Path) -> int:
    with LibavWarnings() as warnings, av.open(str(path)) as container:
        count = sum(1 for _ in container.decode(video=0))
    assert warnings.messages == []
    return count


def write_partial(root: Path, source: Path, seconds: float, start: float = 1_795_000_000) -> Path:
    """A segment left open, as a crash leaves it: fragmented, never finalized."""
    with av.open(str(source)) as src:
        video = src.streams.video[0]
        writer = SegmentWriter(segment_path(root, "cam", start), start, video, None)
        for packet in src.demux(video):
            if packet.dts is not None and seconds_of(packet) < seconds:
                writer.write(packet, True)
        writer._out.close()  # flush the fragments, but skip the finalize
        os.close(writer._fd)
    return writer.partial_path


def whole_fragments(partial: Path, copy: Path) -> int:
    """The fragments of a partial segment that are whole on disk now, copied to `copy`."""
    copy.write_bytes(partial.read_bytes()[: whole_fragments_end(partial)])
    return top_level(copy).count(b"moof")


def test_kill_9_loses_at_most_the_last_fragment(tmp_path: Path) -> None:
    with SimThread(build_cameras(1, SMALL, None, quiet=True)) as sim:
        port = free_port()
        config = tmp_path / "vigil.yaml"
        config.write_text(
            f"server: {{port: {port}}}\nstorage: {{path: {tmp_path / 'data'}}}\n"
            f"cameras:\n  cam: {{inputs: [{{url: '{sim.url('cam1')}'}}], "
            "record: {segment_seconds: 600}}\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            partial = wait_for(
                lambda: next((tmp_path / "data").rglob(f"*{PARTIAL_SUFFIX}"), None),
                30,
                "a segment being written",
            )
            copy = tmp_path / "whole-before-the-kill.mp4"
            pieces = wait_for(
                lambda: (n := whole_fragments(partial, copy)) >= 3 and n, 30, "three fragments"
            )
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    root = tmp_path / "data"
    index = Index(root / "vigil.db")
    result = reconcile(root, index)
    assert result.recovered == 1 and result.quarantined == 0
    [row] = index.segments("cam")
    frames = frames_of(root / row.path)
    # every fragment that was whole on disk before the process was killed is kept, and a
    # fragment holds at most a second: what the kill can lose is the one being written
    before = frames_of(copy)
    assert frames >= before > 0
    assert before <= pieces * (SMALL.fps + 1)
    assert abs(row.duration - frames / SMALL.fps) <= 1 / SMALL.fps
    assert not list(root.rglob(f"*{PARTIAL_SUFFIX}"))
    assert not list(root.rglob(".*.tmp.mp4"))
    index.close()


def test_partial_cut_mid_fragment_is_truncated_and_finalized(tmp_path: Path) -> None:
    source = make_video(tmp_path / "src.mp4", seconds=4, fps=15, gop=15)
    partial = write_partial(tmp_path, source, 4)
    size = partial.stat().st_size
    os.truncate(partial, size - 500)  # the crash cut the last fragment short
    assert 0 < whole_fragments_end(partial) < size - 500
    final = partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX) + ".mp4")
    tmp_path_of(final).write_bytes(b"half a file")  # the crash also cut a finalize short
    index = Index(tmp_path / "vigil.db")
    result = reconcile(tmp_path, index)
    assert result.recovered == 1
    [row] = index.segments()
    frames = frames_of(tmp_path / row.path)
    assert 45 <= frames < 60  # 3 of the 4 one-second fragments survive, at least
    assert not tmp_path_of(final).exists() and not partial.exists()
    index.close()


def test_a_recovered_segment_starts_when_it_did_not_at_its_names_second(
    tmp_path: Path,
) -> None:
    source = make_video(tmp_path / "src.mp4", seconds=2, fps=15, gop=15)
    start = 1_795_000_000.687_5  # the name says ...T...20Z: 0.69 s early
    write_partial(tmp_path, source, 2, start=start)
    index = Index(tmp_path / "vigil.db")
    assert reconcile(tmp_path, index).recovered == 1
    [row] = index.segments()
    assert row.start == pytest.approx(start, abs=1e-6)
    index.close()


def test_unreadable_partial_is_quarantined(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    bad = segment_path(tmp_path, "cam", 1_795_000_000).with_name(
        "20261125T000000Z" + PARTIAL_SUFFIX
    )
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x00\x00\x00\x10mdatjunkjunk" + os.urandom(3000))
    index = Index(tmp_path / "vigil.db")
    result = reconcile(tmp_path, index)
    assert result.quarantined == 1
    assert (tmp_path / "quarantine" / "cam").exists()
    assert not bad.exists()
    assert "[E403]" in caplog.text
    assert index.segments() == []
    index.close()


def test_a_file_the_box_rewriter_refuses_is_remuxed_by_ffmpeg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_video(tmp_path / "src.mp4", seconds=2, fps=15, gop=15)
    with fed_segment(source, segment_path(tmp_path, "cam", 1_795_000_000)) as writer:

        def refuse_in_place(partial: Path) -> None:
            raise ValueError("a box it does not know")

        def refuse(partial: Path, out: Path) -> None:
            out.write_bytes(b"begun")  # what it wrote before refusing is removed
            raise ValueError("a box it does not know")

        monkeypatch.setattr(faststart, "finalize_in_place", refuse_in_place)
        monkeypatch.setattr(faststart, "rewrite", refuse)
        segment = writer.close()
    assert segment is not None and segment.path == writer.final_path
    assert frames_of(segment.path) == 30 and segment.frames == 30
    assert not writer.partial_path.exists() and not writer.tmp_path.exists()


class Crash(Exception):
    """The process dies here."""


@pytest.mark.parametrize(
    "writes_before_crash", [1, 2, 4], ids=["after the draft", "after the commit", "retiring"]
)
def test_a_crash_during_the_finalize_in_place_is_finished_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writes_before_crash: int
) -> None:
    source = make_video(tmp_path / "src.mp4", seconds=4, fps=15, gop=15)
    partial = write_partial(tmp_path, source, 4)
    real, done = os.pwrite, 0

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        nonlocal done
        if done == writes_before_crash:
            raise Crash
        done += 1
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)  # the finalize's writes: draft, commit, ...
    with pytest.raises(Crash):
        faststart.finalize_in_place(partial)
    monkeypatch.undo()
    index = Index(tmp_path / "vigil.db")
    result = reconcile(tmp_path, index)
    assert result.recovered == 1 and result.quarantined == 0
    [row] = index.segments()
    assert frames_of(tmp_path / row.path) == 60  # the segment was whole: all of it is kept
    assert row.duration == pytest.approx(4.0, abs=1 / 15)
    assert is_fast_start(tmp_path / row.path) and not partial.exists()
    index.close()


def test_partial_without_a_whole_fragment_is_discarded(tmp_path: Path) -> None:
    source = make_video(tmp_path / "src.mp4", seconds=1, fps=15, gop=15)
    partial = write_partial(tmp_path, source, 1)
    data = partial.read_bytes()
    os.truncate(partial, data.index(b"moof") + 100)  # killed inside the first fragment
    index = Index(tmp_path / "vigil.db")
    assert reconcile(tmp_path, index).discarded == 1
    assert not partial.exists()
    index.close()


def test_orphan_files_are_indexed_and_rows_without_files_marked_missing(tmp_path: Path) -> None:
    source = make_video(tmp_path / "src.mp4", seconds=2, fps=15)
    orphan = segment_path(tmp_path, "porch", 1_795_000_000)
    orphan.parent.mkdir(parents=True)
    shutil.copy(source, orphan)
    index = Index(tmp_path / "vigil.db")
    gone = index.add_segment(
        camera="porch",
        start=1.0,
        end=2.0,
        duration=1.0,
        bytes=1,
        codec="h264",
        has_event=False,
        keep=False,
        path="recordings/porch/gone.mp4",
    )
    result = reconcile(tmp_path, index)
    assert (result.indexed, result.missing) == (1, 1)
    missing, found = index.segments("porch")  # the missing row (start 1.0) is kept, marked
    assert (missing.id, missing.missing) == (gone, True)
    assert found.start == 1_795_000_000 and not found.missing
    assert abs(found.duration - 2.0) < 0.1
    again = reconcile(tmp_path, index)
    assert (again.indexed, again.missing) == (0, 0)  # idempotent: marked once
    back = tmp_path / "recordings/porch/gone.mp4"
    shutil.copy(source, back)  # the file is back (a disk mounted again)
    assert reconcile(tmp_path, index).found_again == 1
    assert not index.segment(gone).missing  # type: ignore[union-attr]
    index.close()


def test_a_missing_disk_leaves_every_row(tmp_path: Path) -> None:
    """The recordings folder empty (an unmounted disk under it): a thousand rows stay."""
    index = Index(tmp_path / "vigil.db")
    for n in range(1000):
        index.add_segment(
            camera="porch",
            start=float(n),
            end=n + 1.0,
            duration=1.0,
            bytes=1,
            codec="h264",
            has_event=n % 2 == 0,
            keep=False,
            path=f"recordings/porch/{n}.mp4",
        )
    result = reconcile(tmp_path, index)
    assert (result.missing, index.count()) == (1000, 1000)
    assert sum(row.has_event for row in index.segments()) == 500  # event flags kept too
    index.close()


@pytest.mark.parametrize("size", [b"\x00\x00\x00\x01", b"\x00\x00\x00"])
def test_a_damaged_box_header_never_stops_recovery(tmp_path: Path, size: bytes) -> None:
    """A 64-bit box size cut short, and a header cut short: the file is quarantined or
    discarded, and the start goes on to the next file."""
    source = make_video(tmp_path / "src.mp4", seconds=1, fps=15, gop=15)
    bad = write_partial(tmp_path, source, 1)
    data = bad.read_bytes()
    cut = data.index(b"moof") - 4
    bad.write_bytes(data[:cut] + size + b"mdat" + b"\xff" * 4 if len(size) == 4 else data[:cut])
    good = segment_path(tmp_path, "porch", 1_795_000_100)
    good.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, good)
    index = Index(tmp_path / "vigil.db")
    result = reconcile(tmp_path, index)
    assert result.failed == 0 and result.indexed == 1
    assert not bad.exists()  # discarded or quarantined, never left to fail every start
    index.close()


def test_a_file_that_cant_be_moved_is_reported_and_the_start_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_video(tmp_path / "src.mp4", seconds=1, fps=15, gop=15)
    partial = write_partial(tmp_path, source, 1)
    partial.write_bytes(b"\x00\x00\x00\x10mdatjunkjunk" + b"\xff" * 3000)  # unreadable
    good = segment_path(tmp_path, "porch", 1_795_000_100)
    good.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, good)

    def refuse(src: str, dst: str) -> None:  # a read-only quarantine folder, say
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(shutil, "move", refuse)
    index = Index(tmp_path / "vigil.db")
    result = reconcile(tmp_path, index)
    assert (result.failed, result.indexed) == (1, 1)
    assert partial.exists()  # left as it was, for the next start or a person
    index.close()


def test_a_truncation_sweep_never_stops_recovery_and_keeps_every_whole_fragment(
    tmp_path: Path,
) -> None:
    """A partial segment cut every 4 KiB (and 1 byte either side): recovery never fails, and
    what it keeps decodes to every frame of the fragments the cut left whole."""
    source = make_video(tmp_path / "src.mp4", seconds=3, fps=15, gop=15)
    made = write_partial(tmp_path / "made", source, 3)
    data = made.read_bytes()
    cuts = sorted({c + d for c in range(4096, len(data), 4096) for d in (-1, 0, 1)})
    kept_before = -1
    for n, cut in enumerate(cuts):
        root = tmp_path / f"cut{n}"
        partial = root / made.relative_to(tmp_path / "made")
        partial.parent.mkdir(parents=True)
        partial.write_bytes(data[:cut])
        expected = whole_fragments(partial, tmp_path / f"whole{n}.mp4")
        index = Index(root / "vigil.db")
        result = reconcile(root, index)
        assert result.failed == 0, cut
        rows = index.segments()
        if expected == 0:
            assert rows == [] and result.discarded + result.quarantined == 1, cut
        else:
            assert result.recovered == 1, cut
            frames = _frames(root / rows[0].path)
            assert frames == _frames(tmp_path / f"whole{n}.mp4"), cut  # every whole fragment
            assert frames >= kept_before, cut  # a later cut never keeps less
            kept_before = frames
        index.close()


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_a_recovered_segment_keeps_its_event_flag(tmp_path: Path) -> None:
    """A crash before the close: the recorder never set ``has_event``; recovery sets it from
    the stored event, so the footage is kept events_days, not days."""
    source = make_video(tmp_path / "src.mp4", seconds=2, fps=15, gop=15)
    partial = write_partial(tmp_path, source, 2)
    quiet = segment_path(tmp_path, "cam", 1_795_000_600)  # an orphan with no event
    quiet.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, quiet)
    index = Index(tmp_path / "vigil.db")
    index.add_event(
        camera="cam", start=1_795_000_000.5, end=1_795_000_001.0, peak_area=0.1, zones=[]
    )
    reconcile(tmp_path, index)
    flags = {Path(r.path).name: r.has_event for r in index.segments("cam")}
    assert flags == {
        partial.name.removesuffix(PARTIAL_SUFFIX) + ".mp4": True,
        quiet.name: False,
    }
    index.close()


def test_a_finished_segment_and_the_next_one_left_together_do_not_overlap(
    tmp_path: Path,
) -> None:
    """A kill -9 while a closed segment waited for its finalize (recording/closer.py) leaves
    two partials of a camera. The first's file may reach past where its writer started the
    next (the file's duration rounds): its row ends where the second starts."""
    source = make_video(tmp_path / "src.mp4", seconds=2, fps=15, gop=15)
    first = 1_795_000_000.0
    write_partial(tmp_path, source, 2, start=first)
    second = first + 1.95  # the writer's end of the first, before the file's
    write_partial(tmp_path, source, 2, start=second)
    index = Index(tmp_path / "vigil.db")
    assert reconcile(tmp_path, index).recovered == 2
    a, b = sorted(index.segments(), key=lambda r: r.start)
    assert a.start == pytest.approx(first, abs=1e-6) and b.start == pytest.approx(second, abs=1e-6)
    assert a.end == pytest.approx(second, abs=1e-6)  # capped: the file holds 2 s
    assert frames_of(tmp_path / a.path) == 30  # the footage itself is all kept
    index.close()
