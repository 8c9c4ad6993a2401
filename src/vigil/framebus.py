"""The frame bus for other processes, under the name docs/framebus.md documents.

It lives in :mod:`vigil.pipeline.framebus`, beside the detection that writes it; this module
keeps ``from vigil.framebus import FrameReader`` working for readers written against it.
"""

from __future__ import annotations

from vigil.pipeline.framebus import (
    DEFAULT_SLOTS,
    MAGIC,
    VERSION,
    BusFrame,
    FrameBusError,
    FrameBusWriter,
    FrameReader,
    bus_path,
)

__all__ = [
    "DEFAULT_SLOTS",
    "MAGIC",
    "VERSION",
    "BusFrame",
    "FrameBusError",
    "FrameBusWriter",
    "FrameReader",
    "bus_path",
]
