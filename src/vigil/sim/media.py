"""Synthetic camera media: a still, noisy scene with a burnt-in clock and a moving object.

The object moves across and back during :data:`MOTION_WINDOW` of every :data:`MOTION_PERIOD`
seconds of clip time, and stands still at its start the rest of the time, so the clip loops
without a jump; :func:`motion_windows` is the ground truth for detection tests. Clips are
encoded with libx264 (no B-frames, fixed GOP, SPS/PPS before every key frame, like a camera)
and cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vigil.sim.rtp import CLOCK_RATE, MAX_PAYLOAD, PreparedUnit

MOTION_PERIOD = 20.0  # seconds
MOTION_WINDOW = (5.0, 10.0)  # seconds into each period during which the object moves
# the burnt-in clock's corner in fractions of the frame (at every size): mask it for detection
CLOCK_REGION = [(0.0, 0.0), (0.3, 0.0), (0.3, 0.17), (0.0, 0.17)]
GENERATOR_VERSION = 3  # bump when the picture or the encoding changes, to refresh caches


@dataclass(frozen=True, slots=True)
class ClipSpec:
    """What to encode."""

    width: int = 1920
    height: int = 1080
    fps: int = 30
    gop: int = 60
    bitrate: int = 4_000_000  # bits per second
    seconds: float = 20.0
    codec: str = "h264"
    still: bool = False  # the object stays parked: a still scene (clock and noise only)

    def key(self) -> str:
        text = json.dumps({**asdict(self), "v": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def frame_count(self) -> int:
        # a whole number of GOPs, so the loop point is a key frame
        frames = round(self.seconds * self.fps)
        return max(self.gop, frames - frames % self.gop)


MAIN = ClipSpec()
SUB = ClipSpec(width=640, height=360, fps=15, gop=30, bitrate=500_000)


@dataclass(frozen=True, slots=True)
class AccessUnit:
    nals: tuple[bytes, ...]
    key: bool


@dataclass(frozen=True, slots=True)
class Clip:
    """Encoded access units, packetized once for every client; parameter sets for the SDP."""

    spec: ClipSpec
    units: tuple[AccessUnit, ...]
    sps: bytes
    pps: bytes
    prepared: tuple[PreparedUnit, ...] = ()
    vps: bytes = b""  # H.265 only

    @property
    def duration(self) -> float:
        return len(self.units) / self.spec.fps

    @property
    def rate(self) -> float:
        """Access units per second."""
        return float(self.spec.fps)

    @property
    def clock_rate(self) -> int:
        return CLOCK_RATE

    @property
    def ticks_per_unit(self) -> int:
        """RTP clock ticks (90 kHz) per frame."""
        return CLOCK_RATE // self.spec.fps

    def key_at_or_before(self, index: int) -> int:
        index %= len(self.units)
        while index > 0 and not self.units[index].key:
            index -= 1
        return index


def motion_windows(duration: float) -> list[tuple[float, float]]:
    """Clip-time intervals (seconds) during which the object moves, up to `duration`."""
    windows = []
    start = 0.0
    while start < duration:
        windows.append((start + MOTION_WINDOW[0], min(start + MOTION_WINDOW[1], duration)))
        start += MOTION_PERIOD
    return [w for w in windows if w[0] < duration]


def split_nals(data: bytes) -> list[bytes]:
    """Split an Annex B byte stream into NAL units (start codes removed)."""
    nals = []
    i, n = 0, len(data)
    start = -1
    while i + 3 <= n:
        if (
            data[i] == 0
            and data[i + 1] == 0
            and (data[i + 2] == 1 or (data[i + 2] == 0 and i + 3 < n and data[i + 3] == 1))
        ):
            if start >= 0:
                nals.append(data[start:i].rstrip(b"\x00"))
            i += 3 if data[i + 2] == 1 else 4
            start = i
        else:
            i += 1
    if start >= 0 and start < n:
        nals.append(data[start:])
    return [nal for nal in nals if nal]


# ---- the picture ------------------------------------------------------------------------

_DIGITS = {  # 7-segment: a b c d e f g
    "0": "abcdef",
    "1": "bc",
    "2": "abdeg",
    "3": "abcdg",
    "4": "bcfg",
    "5": "acdfg",
    "6": "acdefg",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
}


class Scene:
    """Renders frames of the scene at one size, in yuv420p."""

    def __init__(self, width: int, height: int, seed: int = 7, still: bool = False):
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:height, 0:width]
        base = 60 + 80 * (xx / width) + 40 * (yy / height)
        blocks = rng.integers(0, 40, size=(8, 12))  # a still, textured "room"
        base += np.kron(blocks, np.ones((height // 8 + 1, width // 12 + 1)))[:height, :width]
        self.background = base.astype(np.int16)
        self.noise = [rng.integers(-3, 4, size=(height, width), dtype=np.int16) for _ in range(4)]
        self.width, self.height = width, height
        self.still = still
        self.chroma = np.full((height // 2 * 2 // 2, width), 128, dtype=np.uint8)

    def render(self, index: int, fps: int) -> np.ndarray:
        t = index / fps
        luma = self.background + self.noise[index % len(self.noise)]
        self._object(luma, t)
        self._clock(luma, t)
        return np.vstack([np.clip(luma, 0, 255).astype(np.uint8), self.chroma])

    def _object(self, luma: np.ndarray, t: float) -> None:
        phase = 0.0 if self.still else t % MOTION_PERIOD
        lo, hi = MOTION_WINDOW
        # out and back within the window, so the clip loops with no jump (a jump would be
        # motion outside the ground-truth windows)
        through = 0.0 if phase < lo or phase >= hi else (phase - lo) / (hi - lo)
        progress = 1.0 - abs(2.0 * through - 1.0)
        w, h = self.width, self.height
        size = max(8, h // 6)
        x = int(w * 0.1 + progress * (w * 0.8 - size))
        y = int(h * 0.55)
        luma[y : y + size, x : x + size] = 235

    def _clock(self, luma: np.ndarray, t: float) -> None:
        text = f"{int(t) // 60:02d}{int(t) % 60:02d}{int(t * 10) % 10}"
        scale = max(1, self.height // 90)
        x = 4 * scale
        for ch in text:
            self._digit(luma, ch, x, 4 * scale, scale)
            x += 8 * scale

    @staticmethod
    def _digit(luma: np.ndarray, ch: str, x: int, y: int, s: int) -> None:
        seg = {
            "a": (0, 0, 5, 1),
            "b": (4, 0, 1, 5),
            "c": (4, 4, 1, 5),
            "d": (0, 8, 5, 1),
            "e": (0, 4, 1, 5),
            "f": (0, 0, 1, 5),
            "g": (0, 4, 5, 1),
        }
        for name in _DIGITS[ch]:
            sx, sy, sw, sh = seg[name]
            luma[y + sy * s : y + (sy + sh) * s, x + sx * s : x + (sx + sw) * s] = 250


# ---- encoding and cache -------------------------------------------------------------------

Progress = Callable[[int, int], None]


def encode(spec: ClipSpec, progress: Progress | None = None) -> list[bytes]:
    """Encode the clip; return one Annex B access unit per frame."""
    codec = "libx264" if spec.codec == "h264" else "libx265"
    ctx = av.CodecContext.create(codec, "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height = spec.width, spec.height
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = Fraction(1, spec.fps)
    ctx.framerate = Fraction(spec.fps, 1)
    ctx.gop_size = spec.gop
    ctx.max_b_frames = 0
    ctx.bit_rate = spec.bitrate
    params = (
        f"keyint={spec.gop}:min-keyint={spec.gop}:scenecut=0:bframes=0:"
        f"vbv-maxrate={spec.bitrate // 1000}:vbv-bufsize={spec.bitrate // 1000}"
    )
    if codec == "libx265":
        params += ":repeat-headers=1:log-level=error"  # VPS/SPS/PPS before every key frame
    ctx.options = {
        "preset": "superfast",  # CABAC and deblocking on, like a camera; 2x faster than veryfast
        "x264-params" if codec == "libx264" else "x265-params": params,
    }
    scene = Scene(spec.width, spec.height, still=spec.still)
    units: list[bytes] = []
    total = spec.frame_count
    for index in range(total):
        frame = av.VideoFrame.from_ndarray(scene.render(index, spec.fps), format="yuv420p")
        frame.pts = index
        units.extend(bytes(packet) for packet in ctx.encode(frame))
        if progress:
            progress(index + 1, total)
    units.extend(bytes(packet) for packet in ctx.encode(None))
    return units


_AUD = {"h264": 9, "h265": 35}
_PARAMETER_SETS = {"h264": {7: "sps", 8: "pps"}, "h265": {32: "vps", 33: "sps", 34: "pps"}}


def nal_type(codec: str, nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F if codec == "h265" else nal[0] & 0x1F


def is_key_nal(codec: str, kind: int) -> bool:
    """IDR for H.264; IRAP (BLA, IDR, CRA) for H.265."""
    return 16 <= kind <= 21 if codec == "h265" else kind == 5


def to_clip(spec: ClipSpec, encoded: list[bytes], max_payload: int = MAX_PAYLOAD) -> Clip:
    """Split access units into NAL units and pick out the parameter sets for the SDP."""
    codec = spec.codec
    units: list[AccessUnit] = []
    found: dict[str, bytes] = {}
    for data in encoded:
        nals = [n for n in split_nals(data) if nal_type(codec, n) != _AUD[codec]]
        for nal in nals:
            name = _PARAMETER_SETS[codec].get(nal_type(codec, nal))
            if name and name not in found:
                found[name] = nal
        key = any(is_key_nal(codec, nal_type(codec, n)) for n in nals)
        units.append(AccessUnit(tuple(nals), key=key))
    if not units or not units[0].key or set(found) != set(_PARAMETER_SETS[codec].values()):
        raise ValueError("encoded clip does not start with parameter sets and a key frame")
    prepared = tuple(PreparedUnit(u.nals, max_payload, codec=codec) for u in units)
    return Clip(spec, tuple(units), found["sps"], found["pps"], prepared, found.get("vps", b""))


def _pack(units: list[bytes]) -> bytes:
    return b"".join(len(u).to_bytes(4, "big") + u for u in units)


def _unpack(data: bytes) -> list[bytes]:
    units, i = [], 0
    while i + 4 <= len(data):
        size = int.from_bytes(data[i : i + 4], "big")
        units.append(data[i + 4 : i + 4 + size])
        i += 4 + size
    return units


def cache_dir() -> Path:
    root = os.environ.get("VIGIL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vigil"
    )
    return Path(root) / "sim"


def load_clip(spec: ClipSpec, *, quiet: bool = False, max_payload: int = MAX_PAYLOAD) -> Clip:
    """The clip for `spec`, from the cache or freshly encoded (with a progress bar)."""
    path = cache_dir() / f"{spec.width}x{spec.height}-{spec.fps}-{spec.key()}.aus"
    if path.exists():
        return to_clip(spec, _unpack(path.read_bytes()), max_payload)
    label = f"{spec.width}x{spec.height}@{spec.fps}"
    units = encode(spec, None if quiet else _progress_bar(label))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(_pack(units))
    os.replace(tmp, path)
    return to_clip(spec, units, max_payload)


def _progress_bar(label: str) -> Progress:
    def show(done: int, total: int) -> None:
        if done == total or done % 15 == 0:
            filled = 30 * done // total
            end = "\n" if done == total else ""
            sys.stderr.write(
                f"\rgenerating sim media {label}: [{'#' * filled}{'.' * (30 - filled)}] "
                f"{100 * done // total:3d}%{end}"
            )
            sys.stderr.flush()

    return show
