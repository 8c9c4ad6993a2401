"""The index's schema: its tables, and the migrations that take a database from each
version to the next (``schema_version`` holds the number reached).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    inspect,
    text,
)
from sqlalchemy import (
    Index as SqlIndex,
)
from sqlalchemy.engine import Connection

metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

segments = Table(
    "segments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("camera", String(64), nullable=False, index=True),
    Column("start", Float, nullable=False, index=True),  # Unix time, UTC
    Column("end", Float, nullable=False),
    Column("duration", Float, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("codec", String(16), nullable=False),
    Column("has_event", Boolean, nullable=False, default=False),
    Column("keep", Boolean, nullable=False, default=False),
    Column("path", String(1024), nullable=False, unique=True),  # relative to storage.path
    # its file was not found at a start: kept (a disk may be back), reported, not listed as
    # playable; cleared when the file is there again
    Column("missing", Boolean, nullable=False, default=False, server_default="0"),
)
# Retention sums bytes by camera every minute: this index answers that without reading the
# table (a month of 50 cameras is two million rows).
bytes_by_camera = SqlIndex(
    "ix_segments_camera_keep_bytes", segments.c.camera, segments.c.keep, segments.c.bytes
)


events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("camera", String(64), nullable=False, index=True),
    Column("start", Float, nullable=False, index=True),  # Unix time, UTC
    Column("end", Float, nullable=False),
    Column("peak_area", Float, nullable=False),  # fraction of the frame
    Column("zones", String(1024), nullable=False),  # zone names, a JSON list
    Column("thumbnail", LargeBinary, nullable=True),  # a small JPEG
)


# What the database knows of its storage: ``storage_id``, the marker its folder must hold.
storage_meta = Table(
    "storage_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(1024), nullable=False),
)


# Steps of the wall clock seen while vigil ran: `before` and `after` are the same instant
# on the clock before and after the step. Retention counts them out of a segment's age.
clock_steps = Table(
    "clock_steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("before", Float, nullable=False),  # Unix time, UTC, on the clock before the step
    Column("after", Float, nullable=False),
)


def _migration_1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[segments])


def _migration_2(conn: Connection) -> None:
    metadata.create_all(conn, tables=[events])


def _migration_3(conn: Connection) -> None:
    bytes_by_camera.create(conn, checkfirst=True)  # a new database has it from migration 1


def _migration_4(conn: Connection) -> None:
    metadata.create_all(conn, tables=[storage_meta])


def _migration_5(conn: Connection) -> None:
    if "missing" not in {c["name"] for c in inspect(conn).get_columns("segments")}:
        conn.execute(text("ALTER TABLE segments ADD COLUMN missing BOOLEAN NOT NULL DEFAULT 0"))


def _migration_6(conn: Connection) -> None:
    metadata.create_all(conn, tables=[clock_steps])


# Each migration takes the schema from version N-1 to N; add new ones at the end.
MIGRATIONS: list[Callable[[Connection], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
]
