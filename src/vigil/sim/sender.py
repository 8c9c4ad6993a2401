"""Real-time sending: one pacer per frame rate drives every client of every camera.

All cameras share one clock (the simulator's epoch): tick ``n`` of a stream shows clip frame
``n`` (modulo the clip), so every client sees the same picture at the same moment, like a
real camera, and the motion schedule maps exactly to wall-clock time. A client that joins
waits for the next key frame. One timer per frame rate, not per client, keeps the serving
cost per stream low.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Protocol

from vigil.sim.audio import AudioClip
from vigil.sim.media import AccessUnit
from vigil.sim.rtp import PreparedUnit, interleave, sender_report

MAX_CLIENT_BUFFER = 8 * 2**20  # bytes queued for a client before it is dropped as too slow
GARBAGE_BYTES = 4096  # bytes of noise sent per frame under the `garbage` fault
REPORT_INTERVAL = 5.0  # seconds between RTCP sender reports, as cameras send them
FLOOD_FACTOR = 10  # frames sent per frame time under the `flood` fault


class Media(Protocol):
    """A video clip or an audio clip, as a track sends it."""

    @property
    def units(self) -> tuple[AccessUnit, ...]: ...
    @property
    def prepared(self) -> tuple[PreparedUnit, ...]: ...
    @property
    def rate(self) -> float: ...
    @property
    def clock_rate(self) -> int: ...
    @property
    def ticks_per_unit(self) -> int: ...


@dataclass
class Faults:
    """Faults of one camera; the control API and tests change them at runtime."""

    refuse: bool = False  # close every connection at once
    drop_after: float | None = None  # seconds of PLAY after which the connection is dropped
    stall_after: float | None = None  # seconds of PLAY after which sending stops (socket open)
    garbage: bool = False  # send random bytes instead of RTP
    resolution: str = "normal"  # "normal" | "alt": switch streams to the other size
    jump_back: float | None = None  # seconds: timestamps jump back once by this much
    jump_forward: float | None = None  # seconds: timestamps jump forward once by this much
    slow: bool = False  # send at half rate
    flood: bool = False  # send FLOOD_FACTOR times the frame rate, timestamps spaced to match
    unauthorized: bool = False  # answer 401 whatever the credentials

    def update(self, changes: dict[str, object]) -> None:
        """Apply changes by name; raise KeyError/ValueError on a bad name or value."""
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise KeyError(name)
            setattr(self, name, _coerce(name, getattr(type(self)(), name), value))


def _coerce(name: str, default: object, value: object) -> object:
    if name == "resolution":
        if value not in ("normal", "alt"):
            raise ValueError("resolution is 'normal' or 'alt'")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} is true or false")
        return value
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} is a number of seconds >= 0, or null")
    return float(value)


class Track:
    """One client's subscription to one stream: its channel, RTP numbering and faults."""

    def __init__(
        self,
        clips: dict[str, Media],
        channel: int,
        faults: Faults,
        writer: asyncio.StreamWriter,
        ssrc: int,
        seq: int,
        ts_base: int,
    ):
        self.clips = clips  # {"normal": clip, "alt": clip at the other size, if any}
        self.channel = channel
        self.faults = faults
        self.writer = writer
        self.ssrc = ssrc
        self.seq = seq
        self.ts_base = ts_base
        self.sent = 0
        self.elapsed_ticks = 0  # RTP clock ticks from ts_base to the next frame
        self.started: float | None = None  # loop time of the first frame
        self.index: int | None = None  # clip frame index of the next frame, once synced
        self.clip_name = "normal"
        self.jumped_for: float | None = None
        self.jumped_forward_for: float | None = None
        self.ts_offset = 0
        self.closed = False
        self.octets = 0
        self.packets = 0
        self.reported: float | None = None

    @property
    def clip(self) -> Media:
        return self.clips[self.clip_name]

    def tick(self, tick: int, now: float) -> None:
        """Called by the pacer at every frame time of this stream's rate."""
        if self.closed:
            return
        faults = self.faults
        if self.started is not None:
            elapsed = now - self.started
            if faults.refuse or (faults.drop_after is not None and elapsed >= faults.drop_after):
                self.close()
                return
            if faults.stall_after is not None and elapsed >= faults.stall_after:
                return
        if faults.garbage and self.started is not None:
            self._write(os.urandom(GARBAGE_BYTES))
            return
        if not self._position(tick, faults):
            return
        if self.started is None:
            self.started = now
        self._apply_jump(faults)
        frames = FLOOD_FACTOR if self._flooded(faults) else 1
        for _ in range(frames):
            self._send_frame(now, self.clip.ticks_per_unit // frames)

    def _send_frame(self, now: float, duration: int) -> None:
        """Send the clip's next frame, stamped `duration` RTP ticks before the one after."""
        assert self.index is not None
        unit = self.clip.prepared[self.index % len(self.clip.prepared)]
        timestamp = self.ts_base + self.elapsed_ticks - self.ts_offset
        if self.reported is None or now - self.reported >= REPORT_INTERVAL:
            self.reported = now
            report = sender_report(self.ssrc, time.time(), timestamp, self.packets, self.octets)
            self._write(interleave(self.channel + 1, [report]))
        data = unit.render(self.channel, self.seq, timestamp, self.ssrc)
        self._write(data)
        self.seq += unit.count
        self.packets += unit.count
        self.octets += len(data) - 16 * unit.count  # payload bytes, without the headers
        self.sent += 1
        self.elapsed_ticks += duration
        self.index += 1

    def _position(self, tick: int, faults: Faults) -> bool:
        """Decide whether to send on this tick; (re)sync to the camera clock at key frames."""
        wanted = faults.resolution if faults.resolution in self.clips else "normal"
        aligned = not faults.slow and wanted == self.clip_name and self.index == tick
        if aligned:
            return True
        if faults.slow and self.index is not None and wanted == self.clip_name:
            return tick % 2 == 0  # half rate, frames in order
        if self._flooded(faults) and self.index is not None and wanted == self.clip_name:
            return True  # ahead of the clock, frames in order
        clip = self.clips[wanted]
        if clip.units[tick % len(clip.units)].key:  # join or switch at a key frame
            self.clip_name, self.index = wanted, tick
            return True
        return False

    def _flooded(self, faults: Faults) -> bool:
        """The flood is of video: a camera set to a wild frame rate sends no more audio."""
        return faults.flood and not isinstance(self.clip, AudioClip)

    def _apply_jump(self, faults: Faults) -> None:
        if faults.jump_back is None:
            self.jumped_for = None
        elif self.jumped_for != faults.jump_back:
            self.jumped_for = faults.jump_back
            self.ts_offset += int(faults.jump_back * self.clip.clock_rate)
        if faults.jump_forward is None:
            self.jumped_forward_for = None
        elif self.jumped_forward_for != faults.jump_forward:
            self.jumped_forward_for = faults.jump_forward
            self.ts_offset -= int(faults.jump_forward * self.clip.clock_rate)

    def _write(self, data: bytes | bytearray) -> None:
        transport = self.writer.transport
        if transport.is_closing():
            self.close()
            return
        if transport.get_write_buffer_size() > MAX_CLIENT_BUFFER:
            self.close()  # a client this far behind is gone or broken
            return
        transport.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()


@dataclass
class Pacer:
    """Ticks at one frame rate from the shared epoch and hands each tick to its tracks."""

    fps: float
    epoch: float  # time.monotonic() of tick 0
    tracks: set[Track] = field(default_factory=set)
    task: asyncio.Task[None] | None = None

    def add(self, track: Track) -> None:
        self.tracks.add(track)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    def discard(self, track: Track) -> None:
        self.tracks.discard(track)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        # asyncio's clock is time.monotonic() on Linux; map the epoch onto it anyway
        offset = loop.time() - time.monotonic()
        tick = int((time.monotonic() - self.epoch) * self.fps) + 1
        while self.tracks:
            due = self.epoch + offset + tick / self.fps
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            for track in list(self.tracks):
                track.tick(tick, now)
                if track.closed:
                    self.tracks.discard(track)
            tick += 1
