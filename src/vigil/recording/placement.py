"""Where a connection's first segment starts on the wall clock.

A packet's arrival is its wall time plus a delay, and the delay varies: the reader hands
over a connection's first packets in one burst, once FFmpeg has probed the stream (measured
on the simulator: 0.4 s late), and a loaded machine reads late now and then. The packets
read after the first one say how late it was: the least delayed of them, taken back to the
first frame by the stream's own timestamps, is the better wall time. The recorder takes
those of the batch it holds when it opens a segment.
"""

from __future__ import annotations

from collections.abc import Sequence

from vigil.media.packets import MediaPacket


def first_frame_wall(
    first: MediaPacket,
    batch: Sequence[MediaPacket],
    base: float,
    arrival_of: float,
    max_step: float,
) -> float:
    """The wall time of `first`'s frame, whose arrival was `arrival_of` (wall seconds).

    `batch` holds the packets read with it, in order (`first` among them); `base` is the
    video time base in seconds. Only the video packets of the same connection that follow
    `first` in step count: past a jump of the camera's timestamps (more than `max_step`
    seconds, or back), their times say nothing of the first one's."""
    dts = first.packet.dts
    if dts is None or not base:
        return arrival_of
    start = last = dts * base
    offset = arrival_of - start
    behind = first.received  # time.monotonic() of first's arrival
    try:
        at = next(i for i, item in enumerate(batch) if item is first)
    except StopIteration:
        return arrival_of
    for item in batch[at + 1 :]:
        if not item.is_video or item.info is not first.info or item.packet.dts is None:
            continue
        stream = item.packet.dts * base
        if not 0 <= stream - last <= max_step:
            break
        last = stream
        # its arrival on the wall clock, from first's: both were read on the monotonic one
        offset = min(offset, arrival_of + (item.received - behind) - stream)
    return float(start + offset)
