"""``GET /metrics``: Prometheus' text format (0.0.4), written by hand from the camera statuses.

Per camera (label ``camera``): state (one series per state, 1 for the current one), input
and detection frame rates, dropped packets, reconnects, CPU seconds, bytes recorded,
viewers and the governor's level (:data:`CAMERA_FAMILIES`). Per process: CPU seconds,
resident memory, and the blocks the interpreter holds for Python objects (which tells a
leak of Python objects from growth in native memory: FFmpeg's, or the C allocator's).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

import psutil
from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from vigil import __version__
from vigil.api.deps import ManagerDep
from vigil.api.guard import UserDep
from vigil.camera.cameras import Cameras
from vigil.camera.state import State
from vigil.camera.status import CameraFigures, CameraStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

router = APIRouter(tags=["metrics"])

_process = psutil.Process()


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{labels} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _camera(name: str, **extra: str) -> str:
    # camera names are [A-Za-z0-9_-]: nothing to escape
    labels = {"camera": name, **extra}
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


Sample = Callable[[CameraStatus, CameraFigures], float | None]  # None: no series

# (name, type, help, the camera's value): one series per camera, labelled with its name
CAMERA_FAMILIES: tuple[tuple[str, str, str, Sample], ...] = (
    (
        "vigil_camera_input_fps",
        "gauge",
        "Frames a second received on the camera's detect input (else its first input).",
        lambda s, _fig: float(s.fps_in),
    ),
    (
        "vigil_camera_detect_fps",
        "gauge",
        "Frames a second processed by motion detection.",
        lambda s, _fig: float(s.fps_detect or 0.0),
    ),
    (
        "vigil_camera_dropped_packets_total",
        "counter",
        "Packets dropped by slow consumers (recorder, detection, live view).",
        lambda s, _fig: s.dropped,
    ),
    (
        "vigil_camera_reconnects_total",
        "counter",
        "Reconnections of the camera's inputs.",
        lambda s, _fig: s.reconnects,
    ),
    (
        "vigil_camera_cpu_seconds_total",
        "counter",
        "CPU seconds used for the camera (its threads and its share of the pools).",
        lambda _s, fig: fig.cpu_seconds,
    ),
    (
        "vigil_camera_recorded_bytes_total",
        "counter",
        "Bytes of recording segments written.",
        lambda _s, fig: fig.recorded_bytes,
    ),
    (
        "vigil_camera_recorder_interruptions_total",
        "counter",
        "Unexpected errors or stalls of the camera's recorder, each followed by a new start.",
        lambda s, _fig: s.interruptions.get("recorder", 0),
    ),
    (
        "vigil_camera_recorder_behind_packets_total",
        "counter",
        "Packets the recorder dropped for being more than record.queue_seconds behind.",
        lambda _s, fig: fig.dropped,
    ),
    (
        "vigil_camera_live_interruptions_total",
        "counter",
        "Unexpected errors or stalls of the camera's live decoding and JPEG encoding.",
        lambda s, _fig: s.interruptions.get("live", 0),
    ),
    (
        "vigil_camera_stalled_parts",
        "gauge",
        "The camera's parts (recorder, detector, live) stuck now.",
        lambda s, _fig: len(s.stalled),
    ),
    (
        "vigil_camera_detector_interruptions_total",
        "counter",
        "Unexpected errors or stalls of the camera's detection, each followed by a new start.",
        lambda s, _fig: s.interruptions.get("detector", 0),
    ),
    (
        "vigil_camera_viewers",
        "gauge",
        "Live viewers now (MJPEG, WebRTC, snapshots being made).",
        lambda s, _fig: s.viewers,
    ),
    (
        "vigil_camera_governor_level",
        "gauge",
        "The governor's detection level (0 as configured, up to 3).",
        lambda s, _fig: s.governor.level if s.governor is not None else None,
    ),
)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
def metrics(manager: ManagerDep, user: UserDep) -> PlainTextResponse:
    """Prometheus metrics of every camera and of the process."""
    out = _Writer()
    cams = [
        (s, f)
        for s in manager.statuses()
        if user.sees(s.name) and (f := manager.figures(s.name)) is not None
    ]
    out.family("vigil_info", "gauge", "vigil's version.", [(f'{{version="{__version__}"}}', 1)])
    out.family(
        "vigil_camera_state",
        "gauge",
        "1 for the camera's current state, 0 for the others.",
        [
            (_camera(s.name, state=str(state)), int(s.state is state))
            for s, _cam in cams
            for state in State
        ],
    )
    for name, kind, help_text, sample in CAMERA_FAMILIES:
        values = [(_camera(s.name), sample(s, cam)) for s, cam in cams]
        out.family(name, kind, help_text, [(labels, v) for labels, v in values if v is not None])
    _process_families(out)
    out.family(
        "vigil_clock_steps_total",
        "counter",
        "Steps of the wall clock seen since the start (E416).",
        [("", manager.clock_steps)],
    )
    _worker_families(out, manager)
    return PlainTextResponse(out.text(), media_type=CONTENT_TYPE)


def _worker_families(out: _Writer, manager: Cameras) -> None:
    """The camera worker processes (none with ``server.workers: 1``)."""
    workers = manager.workers()
    out.family(
        "vigil_worker_deaths_total",
        "counter",
        "Camera worker processes that died and were started again (E701).",
        [("", manager.worker_deaths)],
    )
    out.family(
        "vigil_worker_cpu_seconds_total",
        "counter",
        "CPU seconds used by a camera worker process (user and system), at its last report.",
        [(f'{{worker="{w.number}"}}', w.cpu_seconds) for w in workers],
    )
    out.family(
        "vigil_worker_resident_memory_bytes",
        "gauge",
        "Resident memory of a camera worker process, at its last report.",
        [(f'{{worker="{w.number}"}}', w.rss_bytes) for w in workers],
    )


def _process_families(out: _Writer) -> None:
    times = _process.cpu_times()
    out.family(
        "vigil_process_cpu_seconds_total",
        "counter",
        "CPU seconds used by the vigil process (user and system).",
        [("", round(times.user + times.system, 3))],
    )
    out.family(
        "vigil_process_resident_memory_bytes",
        "gauge",
        "Resident memory of the vigil process.",
        [("", _process.memory_info().rss)],
    )
    out.family(
        "vigil_python_allocated_blocks",
        "gauge",
        "Memory blocks the interpreter has allocated for Python objects.",
        [("", sys.getallocatedblocks())],
    )
