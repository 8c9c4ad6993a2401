"""Frame processing: decoding for detection, motion, the frame ring and bus, the governor.

Work in progress (issue 5): :mod:`vigil.pipeline.decoder` (packets to small gray frames,
key-frames-only mode with catch-up) and :mod:`vigil.pipeline.motion` are here and tested on
their own. The camera's detect thread that runs them, events in the index and the API, the
frame ring and bus, and the governor are not built yet, so nothing runs them today.
"""
