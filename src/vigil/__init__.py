"""vigil: a camera management system (NVR) that costs a few percent of a core per camera.

Data flows ``sources -> camera (reader threads) -> media.hub -> pipeline | recording |
streaming -> api``; docs/architecture.md maps it onto the packages, and the layers they
import in.

Threads and who owns them:

- each camera's threads (a reader per input, its recorder, its detector, a live decoder
  while watched) belong to its supervisor: :mod:`vigil.camera` names them all and says when
  each stops;
- one monitor thread (``vigil-monitor``, the camera manager's) samples figures and runs the
  stall watchdogs and the governor; it stops with the manager;
- the asyncio event loop (uvicorn) serves the API and calls the manager through
  ``asyncio.to_thread`` for anything that may block; shutdown stops the cameras first.
"""

from __future__ import annotations

__version__ = "0.1.0"
