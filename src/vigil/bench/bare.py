"""The ``bare-detect`` load of ``vigil bench``: the detect job as a plain threaded PyAV sketch.

Per camera, two threads and nothing else (no hub, queue, index, events or API):

- one demuxes the main stream and muxes every packet by copy into 10 s MP4 segments;
- one demuxes the sub-stream, decodes every frame (one thread, ``skip_loop_filter``, as
  vigil does) and, at 5 fps, scales the frame to 320x180 gray (one reused swscale context)
  and takes its mean absolute difference from the previous one with numpy.

It is the floor of what threads in one interpreter can do for ``detect``, so that a miss at
many cameras can be told apart: vigil's own overhead, or the machine and the GIL.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import statistics
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import av
import numpy as np
import psutil
from av.video.reformatter import VideoReformatter

from vigil.bench.load import LoadFigures

SEGMENT_SECONDS = 10.0
DETECT_FPS = 5.0
DETECT_WIDTH, DETECT_HEIGHT = 320, 180
OPTIONS = {"rtsp_transport": "tcp", "timeout": "10000000"}


class BareDetectLoad:
    """`cameras` cameras, each a copy thread on main and a decode thread on sub."""

    def __init__(self, cameras: int, port: int, numbers: list[int] | None = None):
        """`numbers`: which of the simulator's cameras (0 for cam1), all `cameras` if None."""
        self.numbers = numbers if numbers is not None else list(range(cameras))
        cameras = len(self.numbers)
        self.cameras = cameras
        self.port = port
        self.folder = tempfile.TemporaryDirectory(prefix="vigil-bench-bare-")
        self.stop_event = threading.Event()
        self.packets = [0] * cameras  # main-stream video packets copied
        self.decoded = [0] * cameras
        self.processed = [0] * cameras
        self.segments = 0
        self.errors: list[str] = []
        self.started = 0.0
        zeros = [0] * cameras
        self._base = (zeros, zeros, zeros)
        self.threads = [
            threading.Thread(target=target, args=(n,), daemon=True, name=f"bare-{kind}-{n}")
            for n in range(cameras)
            for kind, target in (("copy", self._copy), ("detect", self._detect))
        ]

    def _url(self, n: int, stream: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam{self.numbers[n] + 1}/{stream}"

    def _copy(self, n: int) -> None:
        folder = Path(self.folder.name) / f"cam{self.numbers[n] + 1}"
        folder.mkdir()
        try:
            with av.open(self._url(n, "main"), options=OPTIONS, timeout=(10.0, None)) as source:
                video = source.streams.video[0]
                out: Any = None
                started = 0.0
                for packet in source.demux(video):
                    if self.stop_event.is_set():
                        break
                    if packet.dts is None:
                        continue
                    if packet.is_keyframe and (
                        out is None or time.monotonic() - started >= SEGMENT_SECONDS
                    ):
                        if out is not None:
                            out.close()
                            self.segments += 1
                        out = av.open(str(folder / f"{time.time():.3f}.mp4"), "w")
                        target = out.add_stream_from_template(video)
                        started = time.monotonic()
                    if out is None:
                        continue
                    packet.stream = target
                    out.mux(packet)
                    self.packets[n] += 1
                if out is not None:
                    out.close()
        except av.error.FFmpegError as error:
            self.errors.append(f"cam{self.numbers[n] + 1} main: {error}")

    def _detect(self, n: int) -> None:
        try:
            with av.open(self._url(n, "sub"), options=OPTIONS, timeout=(10.0, None)) as source:
                video = source.streams.video[0]
                decoder: Any = av.CodecContext.create(video.codec_context.name, "r")
                decoder.extradata = video.codec_context.extradata
                decoder.thread_count = 1
                decoder.options = {"skip_loop_filter": "all"}  # as vigil's decoder
                # every n-th frame, n from the stream's rate: 15 fps -> every 3rd
                every = max(1, round(float(video.average_rate or DETECT_FPS) / DETECT_FPS))
                previous: Any = None
                scaler = VideoReformatter()  # one swscale context, not one a frame
                for packet in source.demux(video):
                    if self.stop_event.is_set():
                        break
                    for frame in decoder.decode(packet):
                        self.decoded[n] += 1
                        if self.decoded[n] % every:
                            continue
                        small = scaler.reformat(frame, DETECT_WIDTH, DETECT_HEIGHT, "gray")
                        gray = small.to_ndarray()
                        if previous is not None:
                            np.abs(gray.astype(np.int16) - previous).mean()
                        previous = gray
                        self.processed[n] += 1
        except av.error.FFmpegError as error:
            self.errors.append(f"cam{self.numbers[n] + 1} sub: {error}")

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def ready(self) -> bool:
        if self.errors:
            raise SystemExit("; ".join(self.errors))
        if not (all(self.packets) and all(self.processed)):
            return False
        # rates count from here: connecting is not streaming
        self.started = time.monotonic()
        self._base = (list(self.packets), list(self.decoded), list(self.processed))
        return True

    def _rates(self, counts: list[int], base: list[int], elapsed: float) -> list[float]:
        return [(c - b) / elapsed for c, b in zip(counts, base, strict=True)]

    def figures(self) -> LoadFigures:
        elapsed = time.monotonic() - self.started
        packets, decoded, processed = self._base
        return LoadFigures(
            dropped=0,  # a sketch has no queue to drop from: falling behind shows in fps
            reconnects=0,
            fps=self._rates(self.packets, packets, elapsed),
            stream="h264 main copied, sub decoded (bare PyAV threads)",
            detect={
                "fps_decoded_median": round(
                    statistics.median(self._rates(self.decoded, decoded, elapsed)), 2
                ),
                "fps_decoded_min": round(min(self._rates(self.decoded, decoded, elapsed)), 2),
                "fps_detect_median": round(
                    statistics.median(self._rates(self.processed, processed, elapsed)), 2
                ),
                "segments": self.segments,
                "errors": self.errors,
            },
        )

    def processes(self) -> list[psutil.Process]:
        return []

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(5)
        self.folder.cleanup()


class BareDetectProcesses:
    """The same sketch with its cameras spread over `processes` interpreters (spawned, camera
    n in process n % processes): the floor of what every core can do for ``detect``, where
    :class:`BareDetectLoad` is the floor of one interpreter. Each process answers over a pipe:
    ``ready`` and ``figures``; ``stop`` ends it."""

    def __init__(self, cameras: int, port: int, processes: int):
        context = multiprocessing.get_context("spawn")
        self.links: list[Connection] = []
        self.children: list[BaseProcess] = []
        for k in range(processes):
            ours, theirs = context.Pipe()
            numbers = list(range(k, cameras, processes))
            child = context.Process(
                target=_bare_child, args=(theirs, cameras, port, numbers), name=f"bare-{k}"
            )
            self.links.append(ours)
            self.children.append(child)
        self.ready_once = False

    def _ask(self, what: str) -> list[Any]:
        for link in self.links:
            link.send(what)
        return [link.recv() for link in self.links]

    def start(self) -> None:
        for child in self.children:
            child.start()

    def ready(self) -> bool:
        answers = self._ask("ready")
        errors = [a for a in answers if isinstance(a, str)]
        if errors:
            raise SystemExit("; ".join(errors))
        return all(answers)

    def processes(self) -> list[psutil.Process]:
        return [psutil.Process(c.pid) for c in self.children if c.pid is not None]

    def figures(self) -> LoadFigures:
        parts: list[LoadFigures] = self._ask("figures")
        fps = [f for part in parts for f in part.fps]
        details = [part.detect or {} for part in parts]
        return LoadFigures(
            dropped=0,
            reconnects=0,
            fps=fps,
            stream=f"h264 main copied, sub decoded (bare PyAV threads in {len(parts)} processes)",
            detect={
                "fps_decoded_min": min(float(str(d["fps_decoded_min"])) for d in details),
                "fps_detect_median_by_process": [d["fps_detect_median"] for d in details],
                "segments": sum(int(str(d["segments"])) for d in details),
                "errors": [e for d in details for e in d["errors"]],  # type: ignore[attr-defined]
            },
        )

    def stop(self) -> None:
        for link in self.links:
            with contextlib.suppress(OSError):
                link.send("stop")
        for child in self.children:
            child.join(10)
            if child.is_alive():
                child.kill()


def _bare_child(link: Connection, cameras: int, port: int, numbers: list[int]) -> None:
    load = BareDetectLoad(cameras, port, numbers)
    load.start()
    ready = False
    while True:
        what = link.recv()
        if what == "stop":
            load.stop()
            return
        if what == "ready":
            try:
                ready = ready or load.ready()  # once ready, rates count from then on
            except SystemExit as exit_:
                link.send(str(exit_))
                continue
            link.send(ready)
        elif what == "figures":
            link.send(load.figures())
