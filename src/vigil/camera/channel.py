"""The control channel between the main process and one worker: typed messages on a pipe.

    main ──Command(id, ...)──> worker          (add, replace, remove, start, stop, trigger,
                                                watch, snapshot, WebRTC offer and end,
                                                a governor's step, quit)
    main <──Reply(id, ...)──── worker          (one per command, in order)
    main <──Report(...)─────── worker          (about once a second, unasked: status, figures)
    main <──DiskFull()──────── worker          (unasked: a recorder met a full disk)
    main <──LiveJpeg(...)───── worker          (unasked: a watched camera's next JPEG)

The pipe is a :func:`multiprocessing.Pipe`; messages are the frozen dataclasses below
(pickled by it). The main process never waits on a worker to answer a read: status comes from
the last :class:`Report`. A command is answered by a :class:`Reply` whose ``error`` is the
worker's :class:`~vigil.errors.VigilError` as code and message, raised again on the main
side with the same code.

Live view: the main process keeps a :class:`~vigil.streaming.live.LiveFeed` per camera, and
its first viewer (and its last) becomes a :class:`Watch`. While watched, the worker encodes
each due frame once and sends it as a :class:`LiveJpeg`; the main feed fans it out to every
viewer there. A JPEG crosses the pipe once, whatever the number of viewers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.camera.status import CameraFigures, CameraStatus
from vigil.config import CameraConfig
from vigil.errors import ErrorDetail
from vigil.streaming.live import LiveFrame


@dataclass(frozen=True, slots=True)
class Add:
    name: str
    config: CameraConfig
    start: bool = True
    token: int = 0  # the lease's fencing token


@dataclass(frozen=True, slots=True)
class Replace:
    name: str
    config: CameraConfig


@dataclass(frozen=True, slots=True)
class Remove:
    name: str


@dataclass(frozen=True, slots=True)
class Start:
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    name: str


@dataclass(frozen=True, slots=True)
class Trigger:
    name: str
    at: float  # wall time


@dataclass(frozen=True, slots=True)
class Watch:
    """The first viewer of `kind` came (`wanted`), or the last one left, in the main process."""

    name: str
    kind: str
    wanted: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The camera's last decoded frame as JPEG, if at most `max_age` s old (vigil.api.live)."""

    name: str
    max_age: float | None


@dataclass(frozen=True, slots=True)
class WebRtcOffer:
    """A viewer's SDP offer, for a session the worker holds; answered (id, SDP answer)."""

    name: str
    sdp: str
    owner: str  # who opened it: only they (or an admin) may end it


@dataclass(frozen=True, slots=True)
class WebRtcClose:
    name: str
    session: str
    user: str
    admin: bool


@dataclass(frozen=True, slots=True)
class SetLevel:
    """The main process's governor steps the camera's detection (vigil.pipeline.governor)."""

    name: str
    level: int
    reason: str


@dataclass(frozen=True, slots=True)
class Quit:
    """Stop every camera (closing segments) and exit."""


Action = (
    Add
    | Replace
    | Remove
    | Start
    | Stop
    | Trigger
    | Watch
    | Snapshot
    | WebRtcOffer
    | WebRtcClose
    | SetLevel
    | Quit
)


@dataclass(frozen=True, slots=True)
class Command:
    id: int
    action: Action


@dataclass(frozen=True, slots=True)
class Reply:
    id: int
    error: ErrorDetail | None = None  # raised again in the main process, with its code
    error_status: int | None = None  # the error's HTTP status, where not its code's
    value: tuple[float, float] | None = None  # a trigger's event (start, end)
    status: CameraStatus | None = None  # the camera's, once the command is done
    at: float = 0.0  # time.monotonic() when `status` was taken (one clock for the machine)
    frame: LiveFrame | None = None  # a snapshot's JPEG
    answer: tuple[str, str] | None = None  # a WebRTC offer's (session id, SDP answer)


@dataclass(frozen=True, slots=True)
class LiveJpeg:
    """A live JPEG of a watched camera, encoded once in the worker, for every viewer here."""

    name: str
    frame: LiveFrame


@dataclass(frozen=True, slots=True)
class DiskFull:
    """A recorder met a full disk: retention, in the main process, should run now."""


@dataclass(frozen=True, slots=True)
class Report:
    """A worker's cameras as they are now; sent about once a second."""

    worker: int
    pid: int
    at: float  # time.monotonic() when the statuses were taken (one clock for the machine)
    statuses: list[CameraStatus]
    figures: dict[str, CameraFigures] = field(default_factory=dict)
    clock_steps: int = 0
    cpu_seconds: float = 0.0  # the worker process's own, user + system
    rss_bytes: int = 0

    def costs(self) -> dict[str, float]:
        """Each measured camera's CPU, % of one core: what the leases balance by."""
        return {s.name: s.cpu_pct for s in self.statuses if s.cpu_pct is not None}
