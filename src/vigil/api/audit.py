"""``GET /api/audit``: who logged in, changed users, tokens or cameras, and exported
footage, when and from where (admins only). Kept ``auth.audit_days``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from vigil.api.auth import AccessDep
from vigil.api.guard import AdminDep
from vigil.auth.store import AuditRow

router = APIRouter(prefix="/api", tags=["auth"])


class AuditEntry(BaseModel):
    id: int
    at: datetime
    user: str | None
    address: str | None
    action: str
    target: str | None
    ok: bool
    detail: str | None

    @classmethod
    def of(cls, row: AuditRow) -> AuditEntry:
        return cls(
            id=row.id,
            at=datetime.fromtimestamp(row.at, UTC),
            user=row.user,
            address=row.address,
            action=row.action,
            target=row.target,
            ok=row.ok,
            detail=row.detail,
        )


class AuditList(BaseModel):
    entries: list[AuditEntry]
    next: str | None  # the cursor of the next (older) page


@router.get("/audit")
def audit_log(
    admin: AdminDep,
    access: AccessDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
) -> AuditList:
    """The newest entries first; pass `next` back as `cursor` for older ones."""
    rows = access.audit_log(limit, int(cursor) if cursor else None)
    last = str(rows[-1].id) if len(rows) == limit else None
    return AuditList(entries=[AuditEntry.of(r) for r in rows], next=last)
