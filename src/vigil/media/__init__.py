"""What every stage shares, below all of them: the packets an input demuxes and their fan-out,
the CPU meter and the pools whose work is charged to it, clocks, and JPEG encoding.

- :mod:`vigil.media.packets`: :class:`~vigil.media.packets.MediaPacket`,
  :class:`~vigil.media.packets.StreamInfo`, :class:`~vigil.media.packets.EndOfStream`;
- :mod:`vigil.media.hub`: :class:`~vigil.media.hub.PacketHub`, one input's fan-out to its
  consumers (bounded queues, or taps called on the reader thread);
- :mod:`vigil.media.cpu`: :class:`~vigil.media.cpu.CpuMeter`, a camera's share of a core;
- :mod:`vigil.media.pools`: the shared, niced analysis pool, its jobs timed for the meter;
- :mod:`vigil.media.clock`: :class:`~vigil.media.clock.StreamClock`, stream time to wall time;
- :mod:`vigil.media.jpeg`: JPEG encoding with FFmpeg's mjpeg encoder.

It imports nothing of vigil but :mod:`vigil.const` and :mod:`vigil.errors`.
"""
