"""The camera simulator: synthetic H.264 cameras served over RTSP, with fault injection.

Media is encoded once with PyAV (libx264) and cached; serving never encodes, it sends the
cached access units, paced in real time, to each client.
"""

from __future__ import annotations
