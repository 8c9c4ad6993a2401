"""vigil's own loads of ``vigil bench``: its camera manager ingesting, recording or detecting,
and the bare-demux floor (plain PyAV threads, no vigil), each against the simulator.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path

import av
import av.error
import psutil

from vigil.bench.load import LoadFigures
from vigil.bench.options import DetectOptions
from vigil.camera.cameras import Cameras
from vigil.camera.manager import CameraManager
from vigil.camera.state import State
from vigil.camera.status import CameraStatus
from vigil.camera.worker import WorkerSettings
from vigil.camera.workers import WorkerPool
from vigil.config import validate_data
from vigil.recording.recorder import RecordingContext
from vigil.sim.media import CLOCK_REGION
from vigil.storage.index import Index


def camera_configs(
    profile: str,
    cameras: int,
    port: int,
    segment_seconds: float,
    record_options: dict[str, str] | None,
    detect: DetectOptions,
) -> dict[str, dict[str, object]]:
    """The cameras of a vigil profile, in the config file's shape."""
    record_config: dict[str, object] = {"segment_seconds": segment_seconds}
    record_config.update(record_options or {})
    if profile == "ingest":
        record_config["mode"] = "off"
    detect_config: dict[str, object] = {
        "fps": detect.fps,
        "idle_keyframes_after_seconds": detect.idle_after,
        "motion": {"masks": [CLOCK_REGION], "event_gap_seconds": detect.event_gap},
    }
    cams: dict[str, dict[str, object]] = {}
    for n in range(1, cameras + 1):
        main = f"rtsp://127.0.0.1:{port}/cam{n}/main"
        if profile in ("ingest", "record"):
            inputs: list[dict[str, object]] = [{"url": main, "roles": ["record"]}]
        elif profile == "detect-main":
            inputs = [{"url": main, "roles": ["record", "detect"]}]
        else:
            sub = f"rtsp://127.0.0.1:{port}/cam{n}/sub"
            inputs = [{"url": main, "roles": ["record"]}, {"url": sub, "roles": ["detect"]}]
        cams[f"cam{n}"] = {
            "inputs": inputs,
            "record": record_config,
            "detect": detect_config if profile.startswith("detect") else {"enabled": False},
        }
    return cams


class IngestLoad:
    """vigil's camera manager with the profile's cameras, recording or not; with `workers`
    above 1, the worker pool, its worker processes' CPU and memory counted as the load's.
    With `check`, the figures close every segment and check each one decodes to its length
    (the record profile; the detect profiles record too, but checking is slow)."""

    def __init__(
        self,
        cams: dict[str, dict[str, object]],
        record: bool = False,
        governor: dict[str, float] | None = None,
        check: bool = False,
        workers: int = 1,
    ):
        self.folder = tempfile.TemporaryDirectory(prefix="vigil-bench-")
        root = Path(self.folder.name)
        context = RecordingContext(root, Index(root / "vigil.db")) if record else None
        config = validate_data({"cameras": cams, "governor": governor or {}})
        self.manager: Cameras
        if workers > 1:
            settings = WorkerSettings(
                0,
                root if record else None,
                root / "vigil.db" if record else None,
                governor=config.governor,
                log_level=logging.getLogger().level,
            )
            self.manager = WorkerPool(config.cameras, settings, workers=workers, recording=context)
        else:
            self.manager = CameraManager(
                config.cameras, recording=context, governor=config.governor
            )
        self.check = check and record

    def start(self) -> None:
        self.manager.start()

    def ready(self) -> bool:
        return all(s.state is State.STREAMING for s in self.manager.statuses())

    def processes(self) -> list[psutil.Process]:
        return [psutil.Process(w.pid) for w in self.manager.workers() if w.pid is not None]

    def figures(self) -> LoadFigures:
        statuses = self.manager.statuses()
        info = statuses[0].inputs[0]
        figures = LoadFigures(
            dropped=sum(s.dropped for s in statuses),
            reconnects=sum(s.reconnects for s in statuses),
            fps=[i.fps for s in statuses for i in s.inputs if "record" in i.roles]
            or [s.fps_in for s in statuses],
            stream=f"{info.codec} {info.width}x{info.height}",
            detect=self._detect_figures(statuses),
        )
        if self.check:
            self.manager.shutdown()  # close the open segments before checking them all
            figures.segments, figures.segments_bad, figures.disk_mb_per_hour = self._segments()
        return figures

    def _detect_figures(self, statuses: list[CameraStatus]) -> dict[str, object] | None:
        detecting = [(s, s.detect) for s in statuses if s.detect is not None]
        if not detecting:
            return None
        frames: dict[str, int] = {}
        for _, detect in detecting:
            for key, value in detect.frames.items():
                frames[key] = frames.get(key, 0) + value
        first = detecting[0][0]
        source = first.inputs[detecting[0][1].input]
        levels = sorted(s.governor.level for s, _ in detecting if s.governor)
        if isinstance(self.manager, CameraManager):
            config = self.manager.governor.config
            governor = self.manager.governor
            said = (
                f"cpu_high {config.cpu_high:.0f} %, cpu_low {config.cpu_low:.0f} %, critical "
                f"{config.cpu_critical:.0f} %, hold {config.hold_seconds:.0f} s; "
                f"{governor.steps_down} steps down, {governor.steps_up} up; "
                f"levels at the end {levels}"
            )
        else:
            said = f"one per worker; levels at the end {levels}"
        return {
            "stream": f"{source.codec} {source.width}x{source.height} at {source.fps:.0f} fps",
            "fps_detect_median": round(
                statistics.median(s.fps_detect or 0 for s, _ in detecting), 2
            ),
            "frames_since_start": frames,
            "events": sum(d.events for _, d in detecting),
            "modes": sorted({d.mode for _, d in detecting}),
            "governor": said,
        }

    def stop(self) -> None:
        self.manager.shutdown()
        context = self.manager.recording
        if context is not None:
            context.index.close()
        self.folder.cleanup()

    def _segments(self) -> tuple[int, int, float | None]:
        """(segments, bad ones, MB an hour of footage): a segment is bad if its frames don't
        fill its duration."""
        context = self.manager.recording
        assert context is not None
        rows = context.index.segments()
        seconds = sum(row.duration for row in rows)
        per_hour = sum(row.bytes for row in rows) / seconds * 3600 / 1e6 if seconds else None
        bad = 0
        for row in rows:
            try:
                with av.open(str(context.root / row.path)) as container:
                    stream = container.streams.video[0]
                    frames = sum(1 for p in container.demux(stream) if p.size)
                    rate = float(stream.average_rate or 30)
            except av.error.FFmpegError:
                bad += 1
                continue
            if abs(frames / rate - row.duration) > 1.5 / rate:
                bad += 1
        return len(rows), bad, per_hour


class BareDemuxLoad:
    """The floor: one plain PyAV demux thread per stream, same options, nothing else."""

    def __init__(self, cameras: int, port: int, pyav_timeout: bool):
        self.urls = [f"rtsp://127.0.0.1:{port}/cam{n}/main" for n in range(1, cameras + 1)]
        self.pyav_timeout = pyav_timeout
        self.stop_event = threading.Event()
        self.counts = [0] * cameras
        self.started = 0.0
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True, name=f"bare-{i}")
            for i in range(cameras)
        ]

    def _run(self, index: int) -> None:
        options = {"rtsp_transport": "tcp", "timeout": "10000000"}
        timeout = (10.0, 10.0) if self.pyav_timeout else (10.0, None)
        with av.open(self.urls[index], options=options, timeout=timeout) as container:
            video = container.streams.video[0]
            for packet in container.demux(video):
                if self.stop_event.is_set():
                    return
                if packet.size:
                    self.counts[index] += 1

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def ready(self) -> bool:
        return all(self.counts)

    def processes(self) -> list[psutil.Process]:
        return []

    def figures(self) -> LoadFigures:
        elapsed = time.monotonic() - self.started
        return LoadFigures(0, 0, [c / elapsed for c in self.counts], "h264 (bare demux)")

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(5)
