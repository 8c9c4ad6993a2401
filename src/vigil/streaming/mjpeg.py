"""MJPEG over HTTP: ``multipart/x-mixed-replace``, every part the feed's shared JPEG.

Each viewer is one async generator on the event loop. It waits for the feed's next frame
and sends it; while a send is slow (the client reads slowly), the frames made meanwhile are
never queued for it: it takes the newest one when it is ready. The server's flow control
(uvicorn pauses a send while the socket's buffer is full) bounds what is buffered per
viewer to one part. A client that goes away cancels its generator (Starlette listens for
the disconnect), which counts the viewer out; without frames, a part is sent again every
:data:`RESEND_SECONDS` so that a stalled camera still shows and a dead socket is noticed.
The stream ends when the camera is removed or replaced (its feed closes), and a viewer
that can't take a part for 15 s is dropped (:class:`vigil.api.live.MjpegResponse`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from vigil.streaming.live import FRAMES, FRESH, LiveFeed, LiveFrame

BOUNDARY = "vigilframe"
MEDIA_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
RESEND_SECONDS = 5.0


def part(frame: LiveFrame) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n\r\n"
    return head.encode() + frame.jpeg + b"\r\n"


async def mjpeg_stream(feed: LiveFeed) -> AsyncGenerator[bytes, None]:
    """The parts of one viewer's stream, until the client goes."""
    async with feed.watch(FRAMES):
        latest = feed.latest
        seq = 0 if latest is None or latest.age() < FRESH else latest.seq  # no stale first
        while not feed.closed:
            frame = await feed.next_frame(seq, RESEND_SECONDS)
            if frame is None:
                frame = feed.latest  # nothing new: send the last again (keeps the socket honest)
                if frame is None:
                    continue
            seq = frame.seq
            yield part(frame)
