"""Turn what PyAV raises into vigil errors with a code, and never with a credential.

PyAV's messages include the URL it was given (with its password), so only the bare
``strerror`` of an FFmpeg error is kept, next to the redacted URL.
"""

from __future__ import annotations

import av.error

from vigil.errors import CATALOGUE, DecodeError, SourceError, VigilError
from vigil.sources.url import SourceKind, SourceSpec, redact_text

_BY_TYPE: tuple[tuple[type[BaseException], str], ...] = (
    (av.error.HTTPUnauthorizedError, "E203"),
    (av.error.HTTPForbiddenError, "E210"),
    (av.error.HTTPNotFoundError, "E204"),
    (ConnectionRefusedError, "E201"),
    (ConnectionResetError, "E206"),
    (EOFError, "E206"),
)


def _reason(err: BaseException) -> str:
    if isinstance(err, av.error.FFmpegError):
        return str(err.strerror or type(err).__name__)
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return redact_text(type(err).__name__)


def _error(code: str, spec: SourceSpec, detail: str) -> VigilError:
    message = f"{CATALOGUE[code].title}: {spec.display} ({detail})"
    cls = DecodeError if code.startswith("E3") else SourceError
    return cls(message, code=code)


def classify_open_error(
    err: BaseException, spec: SourceSpec, elapsed: float, open_timeout: float
) -> VigilError:
    """Classify a failure to open `spec`, which took `elapsed` seconds."""
    if isinstance(err, VigilError):
        return err
    reason = _reason(err)
    for exc_type, code in _BY_TYPE:
        if isinstance(err, exc_type):
            return _error(code, spec, reason)
    if isinstance(err, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        return _error("E208" if spec.kind is SourceKind.USB else "E211", spec, reason)
    timed_out = elapsed >= open_timeout * 0.9
    if isinstance(err, TimeoutError | av.error.ExitError) or timed_out:
        # FFmpeg's RTSP demuxer reports a silent peer as "invalid data" once its timeout hits.
        return _error("E202", spec, f"no answer within {elapsed:.1f} s")
    if isinstance(err, av.error.InvalidDataError):
        return _error("E303", spec, reason)
    if "resolve" in reason.lower() or "name or service" in reason.lower():
        return _error("E209", spec, reason)
    return _error("E207", spec, reason)


def classify_read_error(err: BaseException, spec: SourceSpec) -> VigilError:
    """Classify a failure while reading packets from an open input."""
    if isinstance(err, VigilError):
        return err
    if isinstance(err, TimeoutError | av.error.ExitError):
        return _error("E205", spec, "no packet within the stall timeout")
    if isinstance(err, EOFError | av.error.EOFError | ConnectionResetError):
        return _error("E206", spec, _reason(err))
    if isinstance(err, av.error.InvalidDataError):
        return _error("E303", spec, _reason(err))
    return _error("E207", spec, _reason(err))


def refused_resolution_error(spec: SourceSpec, address: str) -> VigilError:
    """The error for a host name that resolves to an address vigil refuses (E118)."""
    return _error("E118", spec, f"the name resolves to {address}, which is refused")


def no_video(spec: SourceSpec) -> VigilError:
    """The error for a source that opened but carries no video track."""
    return _error("E301", spec, "no video track")
