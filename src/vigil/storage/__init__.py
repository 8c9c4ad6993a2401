"""Database access, behind one small interface (:class:`Index`), in portable SQL.

SQLite (WAL) by default; the same SQLAlchemy Core statements run on PostgreSQL for the
multi-node deployment. Nothing outside this package writes SQL.
"""

from __future__ import annotations

from vigil.storage.index import Index, SegmentRow

__all__ = ["Index", "SegmentRow"]
