"""The recordings index: a real SQLite file in WAL mode, versioned migrations, one writer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from vigil.storage import index as index_module
from vigil.storage.index import Index
from vigil.storage.schema import MIGRATIONS


def segment(n: int, camera: str = "cam") -> dict[str, object]:
    return {
        "camera": camera,
        "start": 1_795_000_000.0 + 60 * n,
        "end": 1_795_000_060.0 + 60 * n,
        "duration": 60.0,
        "bytes": 1000 + n,
        "codec": "h264",
        "has_event": False,
        "keep": False,
        "path": f"recordings/{camera}/{n}.mp4",
    }


def test_the_database_is_in_wal_mode(tmp_path: Path) -> None:
    index = Index(tmp_path / "vigil.db")
    with index.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    index.close()


def test_migrations_run_once_and_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "vigil.db"
    first = Index(path)
    assert first.version == len(MIGRATIONS)
    first.add_segment(**segment(1))
    first.close()

    ran: list[int] = []

    def add_note_column(conn: Connection) -> None:
        ran.append(1)
        conn.execute(text("ALTER TABLE segments ADD COLUMN note VARCHAR(32)"))

    monkeypatch.setattr(index_module, "MIGRATIONS", [*MIGRATIONS, add_note_column])
    upgraded = Index(path)
    assert upgraded.version == len(MIGRATIONS) + 1 and ran == [1]
    assert [row.bytes for row in upgraded.segments()] == [1001]  # the data came along
    upgraded.close()
    again = Index(path)  # already at the newest version: nothing runs twice
    assert again.version == len(MIGRATIONS) + 1 and ran == [1]
    again.close()


def test_readers_never_see_database_is_locked_while_one_writes(tmp_path: Path) -> None:
    path = tmp_path / "vigil.db"
    writer_index = Index(path)
    other = Index(path)  # a second pool on the same file, as another process would have
    errors: list[BaseException] = []
    done = threading.Event()
    reads = [0]

    def write() -> None:
        try:
            for n in range(300):
                writer_index.add_segment(**segment(n))
                if n % 10 == 0:
                    writer_index.mark_event("cam", 1_795_000_000.0, 1_795_000_000.0 + 60 * n)
        except BaseException as err:
            errors.append(err)
        finally:
            done.set()

    def read(index: Index) -> None:
        try:
            while not done.is_set():
                index.segments("cam")
                index.segment(1)
                reads[0] += 1
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=write)]
    threads += [threading.Thread(target=read, args=(i,)) for i in (writer_index, other, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert reads[0] > 0
    assert len(other.segments("cam")) == 300
    writer_index.close()
    other.close()


def test_usage_sums_all_bytes_and_the_recent_ones_in_the_database(tmp_path: Path) -> None:
    index = Index(tmp_path / "vigil.db")
    assert index.usage(since=0).bytes == 0 and index.usage(since=0).oldest is None
    for n in range(5):
        index.add_segment(**segment(n, camera="a" if n % 2 else "b"))
    usage = index.usage(since=1_795_000_000.0 + 60 * 3)  # segments 3 and 4 are recent
    assert usage.bytes == sum(1000 + n for n in range(5))
    assert usage.bytes_since == 1003 + 1004
    assert usage.oldest == 1_795_000_000.0
    assert index.count() == 5
    index.close()


def test_a_version_2_database_gains_the_bytes_by_camera_index(tmp_path: Path) -> None:
    path = tmp_path / "vigil.db"
    old = Index(path)
    old.add_segment(**segment(1))
    with old.engine.begin() as conn:  # as a database made before migration 3 is
        conn.execute(text("DROP INDEX ix_segments_camera_keep_bytes"))
        conn.execute(text("UPDATE schema_version SET version = 2"))
    old.close()
    upgraded = Index(path)
    assert upgraded.version == len(MIGRATIONS)
    with upgraded.engine.connect() as conn:
        names = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master"))}
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT camera, sum(bytes) FROM segments "
                    "WHERE keep = 0 GROUP BY camera"
                )
            )
        )
    assert "ix_segments_camera_keep_bytes" in names
    assert "COVERING INDEX ix_segments_camera_keep_bytes" in plan  # no table read
    assert upgraded.stored_bytes() == {"cam": 1001}
    upgraded.close()


def test_a_version_3_database_gains_the_missing_flag_and_the_storage_meta(
    tmp_path: Path,
) -> None:
    path = tmp_path / "vigil.db"
    old = Index(path)
    kept = old.add_segment(**segment(1))
    with old.engine.begin() as conn:  # as a database made before migrations 4 and 5 is
        conn.execute(text("DROP TABLE storage_meta"))
        conn.execute(text("ALTER TABLE segments DROP COLUMN missing"))
        conn.execute(text("UPDATE schema_version SET version = 3"))
    old.close()
    upgraded = Index(path)
    assert upgraded.version == len(MIGRATIONS)
    row = upgraded.segment(kept)
    assert row is not None and row.missing is False
    upgraded.set_missing([kept])
    assert upgraded.segment(kept).missing is True  # type: ignore[union-attr]
    assert upgraded.meta("storage_id") is None
    upgraded.set_meta("storage_id", "abc")
    upgraded.set_meta("storage_id", "def")
    assert upgraded.meta("storage_id") == "def"
    upgraded.close()


def test_adding_a_segment_twice_keeps_one_row(tmp_path: Path) -> None:
    index = Index(tmp_path / "vigil.db")
    first = index.add_segment(**segment(1))
    index.set_missing([first])
    assert index.add_segment(**segment(1)) == first  # a recovery run twice, say
    assert index.count() == 1
    assert index.segment(first).missing is False  # type: ignore[union-attr]  # it is back
    index.close()
