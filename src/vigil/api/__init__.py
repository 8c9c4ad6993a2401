"""The HTTP API: an app factory, one router per resource, errors in one JSON shape."""

from __future__ import annotations

from vigil.api.app import create_app

__all__ = ["create_app"]
