"""How many malloc arenas vigil's processes use (glibc): two, unless ``MALLOC_ARENA_MAX`` says.

glibc gives threads arenas of their own, up to 8 per core, and keeps what each one grew to.
vigil runs over a hundred threads (several per camera, and the API's), so a long run's RSS
climbs as arenas fill and fragment: in a one-hour soak of 16 cameras, 374 -> 430 MB with
glibc's default, against 345 -> 363 MB, flat after the first 15 minutes, with two arenas
(docs/benchmarks.md, "Soak"). The Python heap was flat in both: the growth was the C
allocator's. Two arenas is what ``MALLOC_ARENA_MAX=2`` gives, set from inside with
``mallopt`` before any thread starts; the environment variable, when set, wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

_log = logging.getLogger(__name__)

ARENAS = 2
M_ARENA_MAX = -8  # glibc's malloc.h


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap this process's malloc arenas at `arenas`; call it before threads start. False
    where it does nothing: ``MALLOC_ARENA_MAX`` is set (glibc read it already), or the C
    library isn't glibc."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    if not mallopt(M_ARENA_MAX, arenas):
        _log.debug("mallopt(M_ARENA_MAX, %d) refused", arenas)
        return False
    return True
