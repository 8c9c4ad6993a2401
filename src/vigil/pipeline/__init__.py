"""Frame processing: decoding for detection, motion, the frame ring and bus, the governor.

See :mod:`vigil.pipeline.detector` (a camera's detect thread) for how the parts join, and
docs/detection.md for what they do.
"""
