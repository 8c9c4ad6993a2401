"""The RAM pre-buffer of event recording: the last seconds of packets, from a key frame.

In ``record.mode: events`` nothing is written until a trigger, yet the footage from
``pre_seconds`` before it must be in the file. The buffer keeps packets back to the video key
frame at or before ``newest - pre_seconds``, so a recording that starts from it decodes from
its first frame. It is bounded in bytes as well as in time: a camera with a very long GOP
or a huge bitrate loses the oldest GOPs, never the process's memory.
"""

from __future__ import annotations

from collections import deque

from vigil.media.packets import MediaPacket

PREBUFFER_MAX_BYTES = 64 * 1024 * 1024  # per camera; 5 s of 4 Mbit/s is 2.5 MB


class PreBuffer:
    """Packets with their wall times, always starting at a video key frame."""

    def __init__(self, seconds: float, max_bytes: int = PREBUFFER_MAX_BYTES):
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: deque[tuple[float, MediaPacket]] = deque()
        self._keys: deque[float] = deque()  # wall times of the key frames in _items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def span(self) -> float:
        """Seconds from the first buffered packet to the newest."""
        return self._items[-1][0] - self._items[0][0] if self._items else 0.0

    def push(self, item: MediaPacket, at: float) -> None:
        key = _is_key(item)
        if not self._items and not key:
            return  # the buffer starts at a key frame
        self._items.append((at, item))
        self.bytes += item.packet.size
        if key:
            self._keys.append(at)
        # drop whole GOPs while the next key frame alone still reaches back far enough
        cutoff = at - self.seconds
        while len(self._keys) >= 2 and (self._keys[1] <= cutoff or self.bytes > self.max_bytes):
            self._drop_gop()

    def _drop_gop(self) -> None:
        self._keys.popleft()
        self._pop()  # the oldest key frame, then everything up to the next one
        while self._items and not _is_key(self._items[0][1]):
            self._pop()

    def _pop(self) -> None:
        _, item = self._items.popleft()
        self.bytes -= item.packet.size

    def take(self, since: float) -> list[MediaPacket]:
        """Empty the buffer, returning its packets from the key frame at or before `since`
        (or from the oldest one, if none reaches that far back)."""
        start = 0
        for n, (at, item) in enumerate(self._items):
            if at > since:
                break
            if _is_key(item):
                start = n
        out = [item for _, item in list(self._items)[start:]]
        self.clear()
        return out

    def clear(self) -> None:
        self._items.clear()
        self._keys.clear()
        self.bytes = 0


def _is_key(item: MediaPacket) -> bool:
    return item.is_video and item.keyframe
