"""Retention by age (with the wall clock's steps counted out), by event age, by size and by
free space, with an injected clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.config import VigilConfig, validate_data
from vigil.recording.naming import segment_path
from vigil.recording.retention import DAY, EMERGENCY_WINDOW, GB, Deleted, Retention
from vigil.storage.ages import step_spans
from vigil.storage.index import Index, SegmentRow

NOW = 1_800_000_000.0


class Disk:
    """A fake free-space probe: free space grows as files are deleted."""

    def __init__(self, free: float):
        self.free = free

    def __call__(self, _path: Path) -> int:
        return int(self.free)


@pytest.fixture
def index(tmp_path: Path) -> Index:
    return Index(tmp_path / "vigil.db")


def add(
    root: Path,
    index: Index,
    camera: str,
    age_days: float,
    size: int = 1000,
    event: bool = False,
    keep: bool = False,
) -> int:
    return add_at(root, index, NOW - age_days * DAY, camera, size, event, keep)


def add_at(
    root: Path,
    index: Index,
    start: float,
    camera: str = "porch",
    size: int = 1000,
    event: bool = False,
    keep: bool = False,
) -> int:
    path = segment_path(root, camera, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * 16)
    return index.add_segment(
        camera=camera,
        start=start,
        end=start + 60,
        duration=60.0,
        bytes=size,
        codec="h264",
        has_event=event,
        keep=keep,
        path=str(path.relative_to(root)),
    )


def config(**storage: object) -> VigilConfig:
    return validate_data(
        {
            "storage": {"retention": {"days": 7, "events_days": 30, **storage}},
            "cameras": {
                "yard": {"inputs": [{"url": "rtsp://h/1"}], "record": {"retention_days": 2}},
                "gate": {"inputs": [{"url": "rtsp://h/2"}], "record": {"max_size_gb": 0.000003}},
            },
        }
    )


def ids(index: Index) -> set[int]:
    return {r.id for r in index.segments()}


def test_age_rules_per_camera_and_for_events(tmp_path: Path, index: Index) -> None:
    old = add(tmp_path, index, "porch", 8)
    recent = add(tmp_path, index, "porch", 6)
    old_event = add(tmp_path, index, "porch", 8, event=True)
    ancient_event = add(tmp_path, index, "porch", 31, event=True)
    yard_old = add(tmp_path, index, "yard", 3)
    yard_new = add(tmp_path, index, "yard", 1)
    kept = add(tmp_path, index, "porch", 100, keep=True)
    retention = Retention(tmp_path, index, config(), clock=lambda: NOW, free_space=Disk(1e12))
    deleted = retention.run_once()
    assert set(deleted.ids) == {old, ancient_event, yard_old}
    assert ids(index) == {recent, old_event, yard_new, kept}
    for row in index.segments():
        assert (tmp_path / row.path).exists()
    assert deleted.by_age == 3


def test_size_caps_delete_oldest_first(tmp_path: Path, index: Index) -> None:
    gate = [add(tmp_path, index, "gate", age, size=1000) for age in (5, 4, 3, 2, 1)]
    retention = Retention(tmp_path, index, config(), clock=lambda: NOW, free_space=Disk(1e12))
    retention.run_once()
    assert ids(index) == set(gate[2:])  # 3000 bytes fit in 0.000003 GB
    other = [add(tmp_path, index, "porch", age, size=2000) for age in (6, 0.5)]
    total = Retention(
        tmp_path, index, config(max_size_gb=0.000005), clock=lambda: NOW, free_space=Disk(1e12)
    )
    deleted = total.run_once()
    # 3000 (gate) + 4000 (porch) bytes; the oldest goes until 5000 fit
    assert deleted.by_total_size == 1 and deleted.ids == [other[0]]
    assert ids(index) == {*gate[2:], other[1]}


def test_low_free_space_deletes_the_oldest_at_once(tmp_path: Path, index: Index) -> None:
    rows = [add(tmp_path, index, "porch", age, size=GB_SIZE) for age in (3, 2, 1)]
    disk = Disk(0.5 * GB)
    real_delete = Retention._delete

    def delete_and_free(self: Retention, row: SegmentRow, reason: str, result: Deleted) -> bool:
        done = real_delete(self, row, reason, result)
        disk.free += row.bytes
        return done

    retention = Retention(
        tmp_path, index, config(min_free_gb=1), clock=lambda: NOW, free_space=disk
    )
    Retention._delete = delete_and_free  # type: ignore[method-assign]
    try:
        deleted = retention.run_once()
    finally:
        Retention._delete = real_delete  # type: ignore[method-assign]
    assert deleted.by_free_space == 1 and deleted.ids == [rows[0]]
    assert ids(index) == set(rows[1:])


GB_SIZE = int(GB)


def test_a_disk_filled_by_something_else_keeps_the_footage(
    tmp_path: Path, index: Index, caplog: pytest.LogCaptureFixture
) -> None:
    """Another program takes whatever retention frees: the rule deletes no more than
    min_free_gb (vigil recorded nothing in the hour), reports E417, and keeps the rest."""
    rows = [add(tmp_path, index, "porch", age, size=GB_SIZE) for age in range(6, 0, -1)]
    now = [NOW]
    retention = Retention(
        tmp_path, index, config(min_free_gb=1), clock=lambda: now[0], free_space=Disk(0.5 * GB)
    )
    deleted = retention.run_once()
    assert deleted.ids == [rows[0]] and retention.held_back
    assert ids(index) == set(rows[1:])
    assert caplog.text.count("[E417]") == 1
    assert retention.run_once().total == 0  # held back: the rest stays
    assert caplog.text.count("[E417]") == 1  # reported once while it lasts
    now[0] += EMERGENCY_WINDOW  # an hour on, min_free_gb more may go
    assert retention.run_once().ids == [rows[1]]


def test_the_free_space_rule_makes_room_for_what_vigil_records(
    tmp_path: Path, index: Index
) -> None:
    """Footage recorded in the last hour is room the rule may take back, oldest first."""
    old = [add(tmp_path, index, "porch", age, size=GB_SIZE) for age in range(6, 0, -1)]
    for minutes in (40, 20, 5):  # three gigabytes recorded in the last hour
        add_at(tmp_path, index, NOW - minutes * 60, size=GB_SIZE)
    disk = Disk(0.5 * GB)  # freed space taken at once, by vigil's own writes say
    retention = Retention(
        tmp_path, index, config(min_free_gb=1), clock=lambda: NOW, free_space=disk
    )
    deleted = retention.run_once()
    assert deleted.ids == old[:4]  # 3 GB recorded + min_free_gb
    disk.free = 2 * GB
    retention.run_once()
    assert not retention.held_back  # space is back


def test_empty_folders_are_pruned(tmp_path: Path, index: Index) -> None:
    add(tmp_path, index, "porch", 9)
    Retention(tmp_path, index, config(), clock=lambda: NOW, free_space=Disk(1e12)).run_once()
    assert not (tmp_path / "recordings" / "porch").exists()
    assert (tmp_path / "recordings").exists()


def test_background_thread_runs_and_stops(tmp_path: Path, index: Index) -> None:
    target = add(tmp_path, index, "porch", 9)
    retention = Retention(tmp_path, index, config(), clock=lambda: NOW, free_space=Disk(1e12))
    retention.start()
    try:
        from tests.helpers import wait_for

        wait_for(lambda: target not in ids(index), 5, "retention to run")
    finally:
        retention.stop()


def test_thread_runs_at_once_when_free_space_drops_between_runs(
    tmp_path: Path, index: Index, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.helpers import wait_for

    rows = [add(tmp_path, index, "porch", age, size=GB_SIZE) for age in (3, 2, 1)]
    paths = [tmp_path / r.path for r in index.segments()]
    state = {"used_by_others": 0.0, "checks": 0}

    def disk(_path: Path) -> int:  # deleting a segment frees its gigabyte
        state["checks"] += 1
        gone = sum(not p.exists() for p in paths)
        return int(5 * GB - state["used_by_others"] + gone * GB)

    retention = Retention(
        tmp_path,
        index,
        config(min_free_gb=1),
        clock=lambda: NOW,
        free_space=disk,
        check_interval=0.05,
    )
    retention.start()
    try:
        wait_for(lambda: state["checks"] >= 3, 10, "three checks of free space")
        assert ids(index) == set(rows)  # with plenty of space, nothing goes
        state["used_by_others"] = 4.5 * GB  # something else fills the disk
        wait_for(lambda: rows[0] not in ids(index), 5, "the oldest to go")
    finally:
        retention.stop()
    assert ids(index) == set(rows[1:])  # only as much as needed
    assert "[E407]" in caplog.text


def test_a_run_reads_only_the_rows_it_deletes(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(300):  # recent footage, nothing to delete
        index.add_segment(
            camera="porch",
            start=NOW - n * 60,
            end=NOW - n * 60 + 60,
            duration=60.0,
            bytes=1000,
            codec="h264",
            has_event=False,
            keep=False,
            path=f"r/{n}.mp4",
        )
    old = add(tmp_path, index, "porch", 8)
    read: list[int] = []
    real_expired = Index.expired

    def expired(self: Index, *args: object) -> list[object]:
        rows = real_expired(self, *args)  # type: ignore[arg-type]
        read.append(len(rows))
        return rows  # type: ignore[return-value]

    def whole_index(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("retention read the whole index")

    monkeypatch.setattr(Index, "expired", expired)
    monkeypatch.setattr(index, "segments", whole_index)
    deleted = Retention(
        tmp_path, index, config(max_size_gb=1), clock=lambda: NOW, free_space=Disk(1e12)
    ).run_once()
    assert deleted.ids == [old] and read == [1]


def test_size_caps_trim_past_one_batch_of_rows(tmp_path: Path, index: Index) -> None:
    rows = [add(tmp_path, index, "gate", 6 - n * 0.02, size=1000) for n in range(250)]
    deleted = Retention(
        tmp_path, index, config(), clock=lambda: NOW, free_space=Disk(1e12)
    ).run_once()
    assert deleted.by_camera_size == 247  # 3000 bytes fit in 0.000003 GB: the newest three
    assert ids(index) == set(rows[-3:])


def test_rules_follow_the_cameras_as_they_are_now(tmp_path: Path, index: Index) -> None:
    """A camera added through the API after the start gets its own retention_days."""
    base = config()
    live = dict(base.cameras)
    retention = Retention(
        tmp_path, index, base, clock=lambda: NOW, free_space=Disk(1e12), cameras=lambda: live
    )
    added = add(tmp_path, index, "porch2", 3)  # 3 days: kept under the default 7
    retention.run_once()
    assert added in ids(index)
    live["porch2"] = validate_data(
        {
            "cameras": {
                "porch2": {"inputs": [{"url": "rtsp://h/3"}], "record": {"retention_days": 2}}
            }
        }
    ).cameras["porch2"]
    assert retention.run_once().by_age == 1  # its own rule, from the live config
    assert added not in ids(index)


def test_a_file_that_cant_be_deleted_is_skipped_reported_and_retried(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.ERROR)
    stuck = add(tmp_path, index, "gate", 8)  # past the 7 days, and the oldest of gate's
    others = [add(tmp_path, index, "gate", age, size=1500) for age in (2, 1)]
    stuck_path = tmp_path / next(r.path for r in index.segments() if r.id == stuck)
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self == stuck_path:
            raise PermissionError(13, "Permission denied")
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    retention = Retention(tmp_path, index, config(), clock=lambda: NOW, free_space=Disk(1e12))
    first = retention.run_once()  # by age: the stuck one; then gate's 4000 bytes > 3000
    assert first.failed == [stuck] and "[E412]" in caplog.text  # once: then skipped
    assert stuck in ids(index) and stuck_path.exists()  # row and file kept
    assert ids(index) == {stuck, others[1]}  # the next oldest went instead: the run went on
    monkeypatch.setattr(Path, "unlink", real_unlink)  # the file is deletable again
    second = retention.run_once()
    assert stuck not in ids(index) and second.failed == []


def test_footage_recorded_before_the_clock_was_set_forward_is_not_aged_by_the_step(
    tmp_path: Path, index: Index
) -> None:
    # a machine without a battery-backed clock boots on 2 January 1970, records two minutes,
    # then NTP sets its clock to ten minutes ago
    boot = 100_000.0
    early = [add_at(tmp_path, index, boot), add_at(tmp_path, index, boot + 60)]
    index.add_clock_step(before=boot + 120, after=NOW - 600)
    since = add_at(tmp_path, index, NOW - 540)
    older_run = add_at(tmp_path, index, NOW - 8 * DAY)  # an earlier run's, on a right clock
    retention = Retention(tmp_path, index, config(), clock=lambda: NOW, free_space=Disk(1e12))
    result = retention.run_once()
    assert result.ids == [older_run]  # 8 days old: past the 7; the 1970 ones are minutes old
    assert ids(index) == {*early, since}
    assert all((tmp_path / r.path).exists() for r in index.segments())


def test_a_clock_set_back_ages_footage_by_the_time_that_really_passed(
    tmp_path: Path, index: Index
) -> None:
    recorded = NOW - 7 * DAY + 1800  # half an hour inside the 7 days, on the clock then
    segment = add_at(tmp_path, index, recorded)
    index.add_clock_step(before=recorded + 7200, after=recorded + 3600)  # set back an hour
    retention = Retention(tmp_path, index, config(), clock=lambda: NOW, free_space=Disk(1e12))
    # an hour more than the clock says has passed since: 7 days and half an hour
    assert retention.run_once().ids == [segment]


def test_step_spans_move_each_start_by_the_steps_after_it() -> None:
    assert step_spans([]) == [(float("-inf"), float("inf"), 0.0)]
    spans = step_spans([(2000.0, 1000.0), (100.0, 500.0)])  # given in any order
    assert spans == [
        (float("-inf"), 100.0, 400.0 - 1000.0),  # before both: +400, then -1000
        (100.0, 2000.0, -1000.0),
        (2000.0, float("inf"), 0.0),
    ]
