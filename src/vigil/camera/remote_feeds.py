"""The live feeds, in the main process, of cameras that run in worker processes.

Each is a plain :class:`~vigil.streaming.live.LiveFeed`: MJPEG viewers and snapshots use it
as they use a local camera's. It encodes nothing itself: its first viewer and its last are
told to the camera's worker (which then decodes and encodes), and the JPEGs the worker sends
back are published to every viewer here. A removed or replaced camera's feed is closed (its
viewers' streams end), and the viewers of a closed feed leaving tell nobody.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from vigil.config import CameraConfig
from vigil.streaming.live import LiveFeed, LiveFrame

Tell = Callable[[str, str, bool], None]  # (camera, kind, wanted)


class RemoteFeeds:
    def __init__(self, tell: Tell):
        self._tell = tell
        self._feeds: dict[str, LiveFeed] = {}
        self._lock = threading.Lock()

    def open(self, name: str, config: CameraConfig) -> LiveFeed:
        """A new feed for `name` (a new camera, or its new config): the old one is closed."""
        feed = LiveFeed(name, config.live)
        feed.hook = lambda kind, wanted: self._hook(name, feed, kind, wanted)
        with self._lock:
            old, self._feeds[name] = self._feeds.get(name), feed
        if old is not None:
            old.close()
        return feed

    def close(self, name: str) -> None:
        with self._lock:
            feed = self._feeds.pop(name, None)
        if feed is not None:
            feed.close()

    def get(self, name: str) -> LiveFeed | None:
        with self._lock:
            return self._feeds.get(name)

    def publish(self, name: str, frame: LiveFrame) -> None:
        feed = self.get(name)
        if feed is not None:
            feed.publish(frame)

    def viewers(self, name: str) -> int:
        feed = self.get(name)
        return feed.viewers if feed is not None else 0

    def watched(self, name: str) -> bool:
        """Someone here wants `name`'s frames (a restarted worker is told again)."""
        feed = self.get(name)
        return feed is not None and feed.frame_viewers > 0

    def _hook(self, name: str, feed: LiveFeed, kind: str, wanted: bool) -> None:
        if feed.closed or self.get(name) is not feed:
            return  # a removed or replaced camera's viewers leaving
        self._tell(name, kind, wanted)
