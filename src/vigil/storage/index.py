"""The recordings index: one row per closed segment, with versioned schema migrations
(the tables and the migrations are in :mod:`vigil.storage.schema`).

Writes are serialised by one lock (SQLite has one writer anyway), so readers never see
"database is locked"; WAL lets them read while a write is under way.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Table,
    and_,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

from vigil.storage.ages import expired_query, step_spans
from vigil.storage.schema import (
    MIGRATIONS,  # read from here at each open, so a test can add one
    clock_steps,
    events,
    metadata,
    schema_version,
    segments,
    storage_meta,
)


@dataclass(frozen=True, slots=True)
class Usage:
    """What the recordings in the index take, summed by the database."""

    bytes: int  # all segments
    bytes_since: int  # segments that start at or after the time asked
    oldest: float | None  # start of the oldest segment; None without any


@dataclass(frozen=True, slots=True)
class SegmentRow:
    id: int
    camera: str
    start: float
    end: float
    duration: float
    bytes: int
    codec: str
    has_event: bool
    keep: bool
    path: str
    missing: bool = False


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    camera: str
    start: float
    end: float
    peak_area: float
    zones: list[str]
    has_thumbnail: bool


@dataclass(frozen=True, slots=True)
class Page:
    """Which part of a listing: the cameras it may show (None: all), at most `limit` rows,
    after the row at `after` = (start, id) in (start, id) order (the cursor)."""

    cameras: Collection[str] | None = None
    limit: int | None = None
    after: tuple[float, int] | None = None


ALL = Page()


class Index:
    """The recordings index, and the events found in the footage."""

    def __init__(self, url_or_path: str | Path):
        url = str(url_or_path)
        if "://" not in url:
            Path(url).parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{url}"
        self.engine: Engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._write = threading.Lock()
        self._migrate()

    def _migrate(self) -> None:
        with self._write, self.engine.begin() as conn:
            metadata.create_all(conn, tables=[schema_version])
            current = conn.execute(select(schema_version.c.version)).scalar() or 0
            for version in range(current + 1, len(MIGRATIONS) + 1):
                MIGRATIONS[version - 1](conn)
            if current == 0:
                conn.execute(insert(schema_version).values(version=len(MIGRATIONS)))
            elif current < len(MIGRATIONS):
                conn.execute(schema_version.update().values(version=len(MIGRATIONS)))

    @property
    def version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(schema_version.c.version)).scalar_one())

    def add_segment(self, **fields: Any) -> int:
        """Index a segment; its id. Idempotent by path: a segment indexed already (a crash
        between the index and a rename, a recovery run twice) keeps its row and its id."""
        with self._write, self.engine.begin() as conn:
            found = conn.execute(
                select(segments.c.id).where(segments.c.path == fields["path"])
            ).scalar()
            if found is not None:
                conn.execute(segments.update().where(segments.c.id == found).values(missing=False))
                return int(found)
            result = conn.execute(insert(segments).values(**fields))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def set_missing(self, segment_ids: Collection[int], missing: bool = True) -> None:
        """Mark rows whose files are gone (or back)."""
        ids = list(segment_ids)
        with self._write, self.engine.begin() as conn:
            for at in range(0, len(ids), 500):
                chunk = ids[at : at + 500]
                conn.execute(
                    segments.update().where(segments.c.id.in_(chunk)).values(missing=missing)
                )

    def meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            query = select(storage_meta.c.value).where(storage_meta.c.key == key)
            value = conn.execute(query).scalar()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self._write, self.engine.begin() as conn:
            conn.execute(delete(storage_meta).where(storage_meta.c.key == key))
            conn.execute(insert(storage_meta).values(key=key, value=value))

    def segments(
        self,
        camera: str | None = None,
        start: float | None = None,
        end: float | None = None,
        page: Page = ALL,
    ) -> list[SegmentRow]:
        """Segments overlapping [start, end), oldest first."""
        query = _overlapping(select(segments), segments, camera, start, end, page)
        with self.engine.connect() as conn:
            return [SegmentRow(**row._mapping) for row in conn.execute(query)]

    def usage(self, since: float) -> Usage:
        """Bytes of all segments and of those from `since` on, in one query (no rows)."""
        recent = case((segments.c.start >= since, segments.c.bytes), else_=0)
        query = select(
            func.coalesce(func.sum(segments.c.bytes), 0),
            func.coalesce(func.sum(recent), 0),
            func.min(segments.c.start),
        )
        with self.engine.connect() as conn:
            total, latest, oldest = conn.execute(query).one()
        return Usage(int(total), int(latest), None if oldest is None else float(oldest))

    def bytes_since(self, since: float) -> int:
        """Bytes of the segments that start at or after `since` (by the start index)."""
        query = select(func.coalesce(func.sum(segments.c.bytes), 0)).where(
            segments.c.start >= since
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def expired(
        self, cutoffs: dict[str, float], default: float, events_before: float
    ) -> list[SegmentRow]:
        """Segments not kept that ended before their cutoff, oldest first: a segment with an
        event before `events_before`, others before their camera's cutoff (`default` for a
        camera not in `cutoffs`). Only those rows are read. Ages don't count the wall
        clock's steps (:mod:`vigil.storage.ages`)."""
        with self.engine.connect() as conn:
            steps = [
                (b, a) for b, a in conn.execute(select(clock_steps.c.before, clock_steps.c.after))
            ]
            found: list[SegmentRow] = []
            for span in step_spans(steps):
                query = expired_query(span, cutoffs, default, events_before)
                found += [SegmentRow(**row._mapping) for row in conn.execute(query)]
        return found

    def add_clock_step(self, before: float, after: float) -> None:
        """Record that the wall clock jumped from `before` to `after`."""
        with self._write, self.engine.begin() as conn:
            conn.execute(insert(clock_steps).values(before=before, after=after))

    def clock_steps(self, limit: int = 20) -> list[tuple[float, float]]:
        """The latest steps of the wall clock, (before, after), newest first."""
        query = select(clock_steps.c.before, clock_steps.c.after)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(clock_steps.c.id.desc()).limit(limit))
            return [(float(b), float(a)) for b, a in rows]

    def last_end(self, camera: str) -> float | None:
        """Where the camera's footage ends: the latest end of its segments; None without."""
        query = select(func.max(segments.c.end)).where(segments.c.camera == camera)
        with self.engine.connect() as conn:
            end = conn.execute(query).scalar()
        return None if end is None else float(end)

    def count(self) -> int:
        """How many segments the index holds."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(segments)).scalar_one())

    def stored_bytes(self) -> dict[str, int]:
        """Bytes of the segments not kept, by camera (one pass over the table)."""
        query = (
            select(segments.c.camera, func.sum(segments.c.bytes))
            .where(segments.c.keep.is_(False))
            .group_by(segments.c.camera)
        )
        with self.engine.connect() as conn:
            return {camera: int(total) for camera, total in conn.execute(query)}

    def oldest(
        self, camera: str | None = None, limit: int = 100, skip: Collection[int] = ()
    ) -> list[SegmentRow]:
        """The oldest segments not kept (of one camera, or all), at most `limit`, leaving
        out the ids in `skip` (files retention couldn't delete this run)."""
        query = select(segments).where(segments.c.keep.is_(False))
        if skip:
            query = query.where(segments.c.id.not_in(list(skip)))
        if camera is not None:
            query = query.where(segments.c.camera == camera)
        query = query.order_by(segments.c.start).limit(limit)
        with self.engine.connect() as conn:
            return [SegmentRow(**row._mapping) for row in conn.execute(query)]

    def segment(self, segment_id: int) -> SegmentRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(segments).where(segments.c.id == segment_id)).first()
        return SegmentRow(**row._mapping) if row is not None else None

    def has_path(self, path: str) -> bool:
        with self.engine.connect() as conn:
            query = select(segments.c.id).where(segments.c.path == path)
            return conn.execute(query).first() is not None

    def mark_event(self, camera: str, start: float, end: float) -> int:
        """Mark the camera's segments overlapping [start, end] as holding an event."""
        query = (
            segments.update()
            .where(segments.c.camera == camera, segments.c.end > start, segments.c.start < end)
            .values(has_event=True)
        )
        with self._write, self.engine.begin() as conn:
            return int(conn.execute(query).rowcount)

    def delete_segment(self, segment_id: int) -> None:
        with self._write, self.engine.begin() as conn:
            conn.execute(delete(segments).where(segments.c.id == segment_id))

    def add_event(
        self,
        *,
        camera: str,
        start: float,
        end: float,
        peak_area: float,
        zones: list[str],
        thumbnail: bytes | None = None,
    ) -> int:
        """Store one finished event; its id."""
        values = {
            "camera": camera,
            "start": start,
            "end": end,
            "peak_area": peak_area,
            "zones": json.dumps(sorted(zones)),
            "thumbnail": thumbnail,
        }
        with self._write, self.engine.begin() as conn:
            key = conn.execute(insert(events).values(**values)).inserted_primary_key
            assert key is not None
            return int(key[0])

    def events(
        self,
        camera: str | None = None,
        start: float | None = None,
        end: float | None = None,
        page: Page = ALL,
    ) -> list[EventRow]:
        """Events overlapping [start, end), oldest first (without their thumbnails)."""
        columns = [c for c in events.c if c.name != "thumbnail"]
        query = select(*columns, (events.c.thumbnail.is_not(None)).label("has_thumbnail"))
        query = _overlapping(query, events, camera, start, end, page)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            EventRow(
                id=row.id,
                camera=row.camera,
                start=row.start,
                end=row.end,
                peak_area=row.peak_area,
                zones=[str(z) for z in json.loads(row.zones)],
                has_thumbnail=bool(row.has_thumbnail),
            )
            for row in rows
        ]

    def event_thumbnail(self, event_id: int) -> tuple[str, bytes | None] | None:
        """An event's camera and JPEG thumbnail (None if it has none); None if no event."""
        with self.engine.connect() as conn:
            query = select(events.c.camera, events.c.thumbnail).where(events.c.id == event_id)
            row = conn.execute(query).first()
        if row is None:
            return None
        return row.camera, bytes(row.thumbnail) if row.thumbnail is not None else None

    def close(self) -> None:
        self.engine.dispose()


def _overlapping(
    query: Select[Any],
    table: Table,
    camera: str | None,
    start: float | None,
    end: float | None,
    page: Page = ALL,
) -> Select[Any]:
    """`query` narrowed to `camera`'s rows overlapping [start, end), oldest first, and to
    the `page`."""
    query = query.order_by(table.c.start, table.c.id)
    if camera is not None:
        query = query.where(table.c.camera == camera)
    if page.cameras is not None:
        query = query.where(table.c.camera.in_(list(page.cameras)))
    if page.after is not None:
        after_start, after_id = page.after
        query = query.where(
            or_(
                table.c.start > after_start,
                and_(table.c.start == after_start, table.c.id > after_id),
            )
        )
    if page.limit is not None:
        query = query.limit(page.limit)
    if start is not None:
        query = query.where(table.c.end > start)
    if end is not None:
        query = query.where(table.c.start < end)
    return query


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
