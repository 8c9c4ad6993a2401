"""Frame processing: decoding for detection, motion, the frame ring and bus, the governor.

Work in progress (issue 5): :mod:`vigil.pipeline.motion` is here and tested; the decoder
thread that feeds it, the frame ring and bus, and the governor are not wired in yet.
"""
