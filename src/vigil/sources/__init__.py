"""Camera sources: URL parsing and redaction, PyAV input options, error classification, hwaccel."""

from __future__ import annotations

from vigil.sources.url import SourceKind, SourceSpec, SourceURLError, parse_source, redact

__all__ = ["SourceKind", "SourceSpec", "SourceURLError", "parse_source", "redact"]
