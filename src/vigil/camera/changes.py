"""Camera changes from the API: validated like the config file, written back, applied at once.

One :class:`CameraChanges` per service joins the :class:`~vigil.config.file.ConfigFile` (the
round-trip YAML, written atomically with comments and ``${VAR}`` kept) and the
:class:`~vigil.camera.manager.CameraManager` (the running cameras). Every change is:

1. validated as part of the whole config, so errors carry the codes and key paths
   ``vigil check-config`` gives (``cameras.{name}.inputs[0].url``);
2. checked for what only the API refuses: a local source (``file://``, ``usb://``) is E608,
   since API callers must not reach the server's files or devices;
3. written to the file, and only then applied to the one camera it names.

A failure at any step leaves the file and the cameras as they were. Passwords are
write-only: a PUT that omits one keeps the stored one (see
:meth:`~vigil.config.file.ConfigFile.set_camera`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import SecretStr

from vigil.camera.cameras import Cameras
from vigil.config import CameraConfig, VigilConfig, format_path
from vigil.config.file import ConfigFile
from vigil.errors import FieldError, RequestError
from vigil.sources.url import redact


class CameraChanges:
    """Add, replace and remove cameras; one change at a time."""

    def __init__(self, manager: Cameras, config_file: ConfigFile):
        self.manager = manager
        self.config_file = config_file
        self._lock = threading.Lock()

    def add(self, name: str, fields: Mapping[str, Any]) -> None:
        """A new camera, started at once; 409 (E603) if the name is taken."""
        with self._lock:
            if name in self.manager.names():
                raise RequestError(f"camera {name!r} already exists", code="E603")
            config = self.config_file.set_camera(
                name, fields, check=lambda c: _refuse_local(name, c)
            ).cameras[name]
            self.manager.add(name, config)

    def replace(self, name: str, fields: Mapping[str, Any]) -> None:
        """The camera's whole config replaced (a missing password keeps the stored one)."""
        with self._lock:
            self.manager.config(name)  # 404 before anything else
            config = self.config_file.set_camera(
                name, fields, check=lambda c: _refuse_local(name, c)
            ).cameras[name]
            self.manager.replace(name, config)

    def remove(self, name: str) -> None:
        with self._lock:
            self.manager.config(name)
            self.config_file.remove_camera(name)
            self.manager.remove(name)


def _refuse_local(name: str, config: VigilConfig) -> None:
    """E608 for a local source: checked on the validated config, so ``${VAR}`` can't hide one."""
    errors = [
        FieldError(
            format_path(("cameras", name, "inputs", index, "url")),
            "E608",
            "local sources (file://, usb://) come only from the config file",
        )
        for index, item in enumerate(config.cameras[name].inputs)
        if item.source().is_local
    ]
    if errors:
        raise RequestError(
            "local sources can't be added through the API", code="E608", errors=errors
        )


def public_config(config: CameraConfig) -> dict[str, Any]:
    """The camera's config as the API shows it: the fields set (in the file or by the API;
    defaults left out, as docs/config.md gives them), no password, credentials in URLs
    redacted. Sent back unchanged in a PUT, it keeps the stored credentials, and the file
    keeps its shape."""
    data = config.model_dump(mode="python", exclude_unset=True)
    for item in data["inputs"]:
        item.pop("password", None)
        item["url"] = redact(item["url"])
    return _plain(data)  # type: ignore[no-any-return]


def stored_fields(config: CameraConfig) -> dict[str, Any]:
    """The camera's config as plain data, secrets included: for a config kept in memory."""
    return _plain(config.model_dump(mode="python"), reveal=True)  # type: ignore[no-any-return]


def _plain(value: Any, reveal: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v, reveal) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, reveal) for v in value]
    if isinstance(value, SecretStr):
        return value.get_secret_value() if reveal else None
    if isinstance(value, StrEnum):
        return str(value)
    return value
