"""Reference loads for ``vigil bench``: the same job done with the ffmpeg program.

- ``floor``: per camera, one ffmpeg copying the main stream into 10 s MP4 segments and one
  ffmpeg decoding every frame of the sub-stream (or of the main stream, for
  ``detect-main-floor``) into nothing. No NVR that looks at every frame does less.
- ``record-floor``: per camera, only the ffmpeg copying the main stream into 10 s MP4
  segments: what recording by copy costs with nothing else (``record-vs-ffmpeg`` puts it
  beside vigil's ``record`` in one run).
- ``frigate``: Frigate's architecture. The same copy, and an ffmpeg decoding the sub-stream
  at the detection rate, scaled to the detection width, as raw gray frames down a pipe to
  this process, where a thread per camera runs vigil's own motion detector on them.

The ffmpeg program comes from the ``imageio-ffmpeg`` wheel (a development dependency), so
no system FFmpeg is needed. Its processes' CPU is measured with this process's.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from vigil.bench.load import LoadFigures
from vigil.config import MotionConfig
from vigil.pipeline.motion import MotionDetector
from vigil.sim.media import CLOCK_REGION

DETECT_FPS = 5
DETECT_WIDTH, DETECT_HEIGHT = 320, 180


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise SystemExit(
            "this profile needs the ffmpeg program from imageio-ffmpeg: pip install imageio-ffmpeg"
        ) from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


class FfmpegLoad:
    """`cameras` cameras, each an ffmpeg copy of main plus an ffmpeg decode of sub."""

    def __init__(self, cameras: int, port: int, frigate: bool, decode: str | None = "sub"):
        self.exe = ffmpeg_exe()
        # the stream decoded: "sub", "main" (detect-main-floor), or None (copy only)
        self.decode = decode
        self.port = port
        self.cameras = cameras
        self.frigate = frigate
        self.folder = tempfile.TemporaryDirectory(prefix="vigil-bench-ffmpeg-")
        self.procs: list[subprocess.Popen[bytes]] = []
        self.readers: list[threading.Thread] = []
        self.frames = [0] * cameras
        self.stop_event = threading.Event()

    def _url(self, n: int, stream: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam{n}/{stream}"

    def start(self) -> None:
        self.started = time.monotonic()
        base = [self.exe, "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp"]
        out = Path(self.folder.name)
        for n in range(1, self.cameras + 1):
            copy = [
                *base,
                "-i",
                self._url(n, "main"),
                "-map",
                "0:v",
                "-c",
                "copy",
                "-f",
                "segment",
                "-segment_time",
                "10",
                "-segment_format",
                "mp4",
                "-reset_timestamps",
                "1",
                str(out / f"cam{n}-%05d.mp4"),
            ]
            self.procs.append(subprocess.Popen(copy, stdout=subprocess.DEVNULL))  # noqa: S603
            if self.decode is None:
                continue
            if self.frigate:
                decode = [
                    *base,
                    "-i",
                    self._url(n, "sub"),
                    "-an",
                    "-vf",
                    f"fps={DETECT_FPS},scale={DETECT_WIDTH}:{DETECT_HEIGHT}",
                    "-pix_fmt",
                    "gray",
                    "-f",
                    "rawvideo",
                    "pipe:",
                ]
                proc = subprocess.Popen(decode, stdout=subprocess.PIPE)  # noqa: S603
                reader = threading.Thread(target=self._detect, args=(n - 1, proc), daemon=True)
                self.readers.append(reader)
                reader.start()
            else:
                decode = [*base, "-i", self._url(n, self.decode), "-an", "-f", "null", "-"]
                proc = subprocess.Popen(decode, stdout=subprocess.DEVNULL)  # noqa: S603
            self.procs.append(proc)

    def _detect(self, index: int, proc: subprocess.Popen[bytes]) -> None:
        """Frigate's frame reader: whole frames off the pipe, motion on each."""
        assert proc.stdout is not None
        size = DETECT_WIDTH * DETECT_HEIGHT
        detector = MotionDetector(MotionConfig(masks=[CLOCK_REGION]))
        while not self.stop_event.is_set():
            data = proc.stdout.read(size)
            if len(data) < size:
                return
            gray = np.frombuffer(data, np.uint8).reshape(DETECT_HEIGHT, DETECT_WIDTH)
            detector.process(gray, self.frames[index] / DETECT_FPS)
            self.frames[index] += 1

    def ready(self) -> bool:
        if any(p.poll() is not None for p in self.procs):
            codes = [p.returncode for p in self.procs if p.returncode is not None]
            raise SystemExit(f"an ffmpeg process exited ({codes})")
        if self.frigate:
            return all(self.frames)
        return any(Path(self.folder.name).glob("cam*.mp4"))

    def figures(self) -> LoadFigures:
        if self.decode is None:
            return LoadFigures(0, 0, [], "ffmpeg: copy main into 10 s segments")
        if not self.frigate:  # nothing here counts the frames ffmpeg decodes
            return LoadFigures(0, 0, [], f"ffmpeg: copy main, decode {self.decode}")
        fps = [n / self.elapsed() for n in self.frames]
        return LoadFigures(0, 0, fps, "ffmpeg: copy main, decode sub at 5 fps to motion")

    def elapsed(self) -> float:
        return max(1e-6, time.monotonic() - self.started)

    def processes(self) -> list[psutil.Process]:
        return [psutil.Process(p.pid) for p in self.procs if p.poll() is None]

    def stop(self) -> None:
        self.stop_event.set()
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for reader in self.readers:
            reader.join(5)
        self.folder.cleanup()
