"""Camera and input states, and how a camera's state follows from its inputs'."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class State(StrEnum):
    STARTING = "starting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    IDLE = "idle"
    STOPPED = "stopped"
    FAILED = "failed"  # a config-level error that retrying cannot fix


_SEVERITY = {
    State.STREAMING: 0,
    State.IDLE: 1,
    State.STOPPED: 2,
    State.STARTING: 3,
    State.RECONNECTING: 4,
    State.FAILED: 5,
}


def worst(states: Iterable[State]) -> State:
    """The camera's state: the worst of its inputs' states (stopped if it has none)."""
    return max(states, key=_SEVERITY.__getitem__, default=State.STOPPED)
