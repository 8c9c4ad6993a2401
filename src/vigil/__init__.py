"""vigil: a camera management system (NVR) that costs a few percent of a core per camera.

Threads and who owns them:

- one reader thread per camera input (``vigil-cam-{camera}-{roles}``) owns its PyAV
  container; it demuxes and publishes packets to the input's :class:`PacketHub`. It stops
  when its ``stop_event`` is set; a thread blocked in a connect is abandoned after
  ``STOP_TIMEOUT`` and, its hub token revoked, publishes nothing more;
- one monitor thread (``vigil-monitor``) samples figures and runs the stall watchdogs;
- the asyncio event loop (uvicorn) serves the API and calls the manager through
  ``asyncio.to_thread`` for anything that may block.

Data flows ``sources -> camera (worker, hub) -> consumers``; see DESIGN.md.
"""

from __future__ import annotations

__version__ = "0.1.0"
