"""``GET /metrics``: Prometheus' text format (0.0.4), written by hand from the camera statuses.

Per camera (label ``camera``): state (one series per state, 1 for the current one), input
and detection frame rates, dropped packets, reconnects, CPU seconds, bytes recorded,
viewers and the governor's level. Per process: CPU seconds and resident memory.
"""

from __future__ import annotations

from collections.abc import Iterable

import psutil
from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from vigil import __version__
from vigil.api.deps import ManagerDep
from vigil.camera.state import State

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


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
def metrics(manager: ManagerDep) -> PlainTextResponse:
    """Prometheus metrics of every camera and of the process."""
    out = _Writer()
    statuses = manager.statuses()
    cams = [(s, manager.get(s.name)) for s in statuses]
    out.family("vigil_info", "gauge", "vigil's version.", [(f'{{version="{__version__}"}}', 1)])
    out.family(
        "vigil_camera_state",
        "gauge",
        "1 for the camera's current state, 0 for the others.",
        [
            (_camera(s.name, state=str(state)), int(s.state is state))
            for s in statuses
            for state in State
        ],
    )
    out.family(
        "vigil_camera_input_fps",
        "gauge",
        "Frames a second received on the camera's main input.",
        [(_camera(s.name), float(s.fps_in)) for s in statuses],
    )
    out.family(
        "vigil_camera_detect_fps",
        "gauge",
        "Frames a second processed by motion detection.",
        [(_camera(s.name), float(s.fps_detect or 0.0)) for s in statuses],
    )
    out.family(
        "vigil_camera_dropped_packets_total",
        "counter",
        "Packets dropped by slow consumers (recorder, detection, live view).",
        [(_camera(s.name), s.dropped) for s in statuses],
    )
    out.family(
        "vigil_camera_reconnects_total",
        "counter",
        "Reconnections of the camera's inputs.",
        [(_camera(s.name), s.reconnects) for s in statuses],
    )
    out.family(
        "vigil_camera_cpu_seconds_total",
        "counter",
        "CPU seconds used for the camera (its threads and its share of the pools).",
        [(_camera(s.name), round(cam.cpu.seconds(), 3)) for s, cam in cams],
    )
    out.family(
        "vigil_camera_recorded_bytes_total",
        "counter",
        "Bytes of recording segments written.",
        [(_camera(s.name), cam.recorded_bytes) for s, cam in cams],
    )
    out.family(
        "vigil_camera_viewers",
        "gauge",
        "Live viewers now (MJPEG, WebRTC, snapshots being made).",
        [(_camera(s.name), s.viewers) for s in statuses],
    )
    out.family(
        "vigil_camera_governor_level",
        "gauge",
        "The governor's detection level (0 as configured, up to 3).",
        [(_camera(s.name), s.governor.level) for s in statuses if s.governor is not None],
    )
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
    return PlainTextResponse(out.text(), media_type=CONTENT_TYPE)
