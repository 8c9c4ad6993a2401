"""What a camera's detection has done: its figures for the API, the metrics and the bench."""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.pipeline.detect_decoder import DetectDecoder


@dataclass(frozen=True, slots=True)
class DetectStatus:
    """A snapshot of a camera's detection for the API."""

    input: int  # index of the input decoded
    mode: str  # full | keyframes
    hwaccel: str  # software, cuda, v4l2m2m
    events: int
    idle_switches: int
    catch_ups: int
    governor_steps: int
    frames: dict[str, int]


@dataclass(slots=True)
class DetectStats:
    """What detection has done, for the API and the bench."""

    mode: str = "full"  # full | keyframes
    hwaccel: str = "none"
    events: int = 0
    idle_switches: int = 0  # times idle decoding began
    catch_ups: int = 0  # times motion brought it back to full rate
    governor_steps: int = 0
    frames: dict[str, int] = field(default_factory=dict)  # decoder counts


def decoder_counts(decoder: DetectDecoder) -> dict[str, int]:
    c = decoder.counts
    return {
        "decoded": c.decoded,
        "decoded_keyframes_only": c.decoded_keyframes_only,
        "processed": c.processed,
        "processed_full": c.by_mode.get("full", 0),
        "processed_keyframes": c.by_mode.get("keyframes", 0),
        "skipped_packets": c.skipped_packets,
        "errors": c.errors,
    }
