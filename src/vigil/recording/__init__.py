"""Recording by stream copy: fragmented MP4 while open, fast-start MP4 once closed.

A recorder thread per recording camera (``vigil-cam-{camera}-recorder``) reads the record
input's hub subscription, cuts segments at key frames and hands closed segments to the
index. Packets are remuxed, never decoded.
"""

from __future__ import annotations
