"""``GET /api/system``: the machine and the process, disk use and the retention forecast.
``POST /api/system/rebalance``: spread the cameras over the workers again."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from datetime import UTC, datetime

import psutil
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from vigil.api.deps import ManagerDep
from vigil.api.guard import AdminDep, audit

router = APIRouter(prefix="/api", tags=["system"])
_process = psutil.Process()
DAY = 86400.0


class Disk(BaseModel):
    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    recordings_bytes: int = Field(description="Bytes of the recordings in the index.")


class ClockStepOut(BaseModel):
    before: datetime = Field(description="The wall clock's time just before it was stepped.")
    after: datetime = Field(description="Its time at that same instant, after the step.")
    seconds: float = Field(description="How far it jumped: negative when set back.")


class WorkerOut(BaseModel):
    number: int
    pid: int | None
    alive: bool
    cameras: list[str] = Field(description="The cameras the worker runs (its leases).")
    cpu_seconds: float = Field(description="The worker process's CPU, user and system.")
    rss_bytes: int
    restarts: int = Field(description="Times it was started again after dying (E701).")


class SystemOut(BaseModel):
    cpu_pct: float = Field(description="The whole machine's CPU, % of all cores.")
    cores: int
    memory_pct: float = Field(description="The machine's memory in use, %.")
    process_cpu_pct: float = Field(description="vigil's process, % of one core.")
    process_rss_bytes: int
    cameras: int
    cameras_streaming: int
    disk: Disk | None = Field(None, description="The storage folder's disk; null without one.")
    recorded_bytes_per_day: float | None = Field(
        None, description="Footage written over the last 24 hours (all cameras)."
    )
    days_fit: float | None = Field(
        None,
        description="At that rate, how many days of footage the recordings' space and the "
        "free space hold (the retention forecast); null before any footage.",
    )
    workers: list[WorkerOut] = Field(
        default_factory=list,
        description="The camera worker processes (server.workers above 1); empty when "
        "every camera runs in the main process.",
    )
    worker_deaths: int = Field(0, description="Worker processes that died since the start.")
    clock_steps: list[ClockStepOut] = Field(
        default_factory=list,
        description="The latest steps of the wall clock vigil saw (E416), newest first; "
        "retention counts them out of the footage's age.",
    )


@router.get("/system")
def system(manager: ManagerDep, admin: AdminDep) -> SystemOut:
    """The machine's CPU and memory, vigil's own, disk use and the retention forecast
    (admins only)."""
    statuses = manager.statuses()
    out = SystemOut(
        cpu_pct=psutil.cpu_percent(interval=None),
        cores=psutil.cpu_count() or 1,
        memory_pct=psutil.virtual_memory().percent,
        process_cpu_pct=round(_process.cpu_percent(interval=None), 1),
        process_rss_bytes=_process.memory_info().rss,
        cameras=len(statuses),
        cameras_streaming=sum(1 for s in statuses if s.state == "streaming"),
        workers=[WorkerOut(**asdict(w)) for w in manager.workers()],
        worker_deaths=manager.worker_deaths,
    )
    recording = manager.recording
    if recording is None:
        return out
    out.clock_steps = [
        ClockStepOut(
            before=datetime.fromtimestamp(before, UTC),
            after=datetime.fromtimestamp(after, UTC),
            seconds=round(after - before, 3),
        )
        for before, after in recording.index.clock_steps()
    ]
    usage = shutil.disk_usage(recording.root)
    now = time.time()
    # summed by the database: a month of 50 cameras is two million rows
    footage = recording.index.usage(since=now - DAY)
    stored = footage.bytes
    out.disk = Disk(
        path=str(recording.root),
        total_bytes=usage.total,
        used_bytes=usage.used,
        free_bytes=usage.free,
        recordings_bytes=stored,
    )
    day = footage.bytes_since
    if day and footage.oldest is not None:
        span = min(DAY, max(now - footage.oldest, 60.0))  # footage younger than a day
        out.recorded_bytes_per_day = round(day * DAY / span)
        out.days_fit = round((usage.free + stored) / out.recorded_bytes_per_day, 1)
    return out


class MoveOut(BaseModel):
    camera: str
    before: int = Field(description="The worker that ran it.")
    after: int = Field(description="The worker that runs it now.")


class RebalanceOut(BaseModel):
    moves: list[MoveOut] = Field(description="The cameras that moved; empty if none had to.")
    workers: list[WorkerOut]


@router.post("/system/rebalance")
def rebalance(request: Request, manager: ManagerDep, admin: AdminDep) -> RebalanceOut:
    """Spread the cameras over the worker processes again by their measured CPU, longest
    first onto the least loaded (admins only). Cameras move only when asked like this, or
    when their worker is gone. Each moving camera stops on its old worker, closing its
    segment, then starts on its new one: a second or two of its footage is not recorded,
    and its viewers reconnect. With `server.workers: 1` nothing moves."""
    moves = manager.rebalance()
    audit(request, admin, "rebalance", None, moves=len(moves))
    return RebalanceOut(
        moves=[MoveOut(camera=m.camera, before=m.before, after=m.after) for m in moves],
        workers=[WorkerOut(**asdict(w)) for w in manager.workers()],
    )
