"""Write camera changes back to the config file: atomically, keeping comments and ``${VAR}``.

The API edits the round-trip YAML tree (not the substituted values), so everything a user
wrote by hand stays as written. A value whose ``${VAR}`` still expands to what was sent keeps
its reference. The new tree is validated whole before anything touches the disk.
"""

from __future__ import annotations

import copy
import io
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.util import load_yaml_guess_indent

from vigil.config.loading import expand_vars, parse_yaml, plain, validate_data
from vigil.config.models import VigilConfig
from vigil.errors import ConfigError, FieldError
from vigil.sources.url import redact


class ConfigFile:
    """The config file on disk and its round-trip tree; thread-safe edits of cameras."""

    def __init__(self, path: str | Path | None, env: Mapping[str, str] | None = None):
        self.path = Path(path) if path is not None else None
        self._env = env if env is not None else os.environ
        self._lock = threading.Lock()
        self._yaml = YAML(typ="rt")
        self._yaml.preserve_quotes = True
        self._doc: Any = None

    @classmethod
    def in_memory(cls, data: Mapping[str, Any]) -> ConfigFile:
        """A config that is never written (an app built without a file, as in tests)."""
        config_file = cls(None)
        config_file._doc = _to_yaml(data)
        return config_file

    def load(self) -> VigilConfig:
        """Read and validate the file; keep its tree for later edits."""
        assert self.path is not None
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(
                f"cannot read {self.path}: {err.strerror}",
                file=str(self.path),
                errors=[FieldError("", "E100", f"cannot read the file: {err.strerror}")],
            ) from None
        doc = parse_yaml(text, str(self.path))
        config = validate_data(doc, str(self.path), self._env)
        self._match_indent(text)
        with self._lock:
            self._doc = doc if doc is not None else CommentedMap()
        return config

    def _match_indent(self, text: str) -> None:
        """Write sequences indented the way the file already has them."""
        try:
            _, indent, dash_offset = load_yaml_guess_indent(text)
        except Exception:  # an empty file or one with nothing to learn from
            return
        if indent and dash_offset is not None:
            mapping = max(2, indent - dash_offset) if dash_offset else indent
            self._yaml.indent(mapping=mapping, sequence=indent, offset=dash_offset)

    def set_camera(
        self,
        name: str,
        fields: Mapping[str, Any],
        check: Callable[[VigilConfig], None] | None = None,
    ) -> VigilConfig:
        """Add or replace camera `name` with `fields`, validate, and write the file.

        `check` sees the validated config before anything is written, and may raise."""
        with self._lock:
            doc = copy.deepcopy(self._doc)
            cameras = doc.get("cameras")
            if cameras is None:
                cameras = doc["cameras"] = CommentedMap()
            old = cameras.get(name)
            new = dict(fields)
            if old is not None:
                new = _keep_credentials(old, new, self._env)
                cameras[name] = _merge(old, new, self._env)
            else:
                cameras[name] = _to_yaml(new)
            return self._commit(doc, check)

    def remove_camera(self, name: str) -> VigilConfig:
        """Remove camera `name` and write the file."""
        with self._lock:
            doc = copy.deepcopy(self._doc)
            cameras = doc.get("cameras") or {}
            if name in cameras:
                del cameras[name]
            return self._commit(doc)

    def camera_fields(self, name: str) -> dict[str, Any] | None:
        """The camera's fields as written (``${VAR}`` unexpanded), or None."""
        with self._lock:
            cam = (self._doc.get("cameras") or {}).get(name)
            return None if cam is None else plain(cam)

    def _commit(self, doc: Any, check: Callable[[VigilConfig], None] | None = None) -> VigilConfig:
        config = validate_data(doc, str(self.path or "<api>"), self._env)
        if check is not None:
            check(config)
        if self.path is not None:
            buf = io.StringIO()
            self._yaml.dump(doc, buf)
            write_atomic(self.path, buf.getvalue())
        self._doc = doc
        return config


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temp file and a rename, 0600 (it holds camera
    passwords); raise E107 on failure."""
    folder = path.parent if str(path.parent) else Path(".")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise ConfigError(
            f"cannot write {path}: {err.strerror}",
            code="E107",
            file=str(path),
            errors=[FieldError("", "E107", f"cannot write the file: {err.strerror}")],
        ) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _keep_credentials(old: Any, new: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """A PUT without a password keeps the stored one of the input at the same place, if its
    URL still names the same scheme, host and port; and a URL sent back as the API showed it
    (credentials redacted) keeps the stored URL."""
    old_inputs = old.get("inputs") or []
    new_inputs = new.get("inputs")
    if not isinstance(new_inputs, list):
        return new
    kept = []
    for index, item in enumerate(new_inputs):
        if not isinstance(item, Mapping):
            kept.append(item)
            continue
        item = dict(item)
        stored_item = old_inputs[index] if index < len(old_inputs) else {}
        stored_url = stored_item.get("url")
        expanded = expand_vars(stored_url, env)[0] if isinstance(stored_url, str) else None
        same_place = expanded is not None and _endpoint(item.get("url")) == _endpoint(expanded)
        if item.get("password") is None and same_place:  # never send it to a new host
            stored = stored_item.get("password")
            if stored is not None:
                item["password"] = stored
        sent = item.get("url")
        if expanded is not None and sent != expanded and sent == redact(expanded):
            item["url"] = expanded
        if item.get("password") is None:
            item.pop("password", None)
        kept.append(item)
    return {**new, "inputs": kept}


def _endpoint(url: object) -> tuple[str, str, int | None] | None:
    """Where a URL connects: (scheme, host, port), or None if it can't be read."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None


def _merge(old: Any, new: Any, env: Mapping[str, str]) -> Any:
    """`new` as a YAML node, reusing `old`'s nodes (comments, ``${VAR}``) where they agree."""
    if isinstance(new, Mapping) and isinstance(old, CommentedMap):
        out = old
        for key in [k for k in out if k not in new]:
            del out[key]
        for key, value in new.items():
            out[key] = _merge(out.get(key), value, env)
        return out
    if isinstance(new, list) and isinstance(old, CommentedSeq):
        merged = [_merge(old[i] if i < len(old) else None, v, env) for i, v in enumerate(new)]
        del old[:]
        old.extend(merged)
        return old
    if isinstance(old, str) and "${" in old and not isinstance(new, Mapping | list):
        expanded, missing = expand_vars(old, env)
        if not missing and expanded == _scalar_text(new):
            return old
    return _to_yaml(new)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_yaml(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _to_yaml(item)
        return out
    if isinstance(value, list | tuple):
        seq = CommentedSeq(_to_yaml(v) for v in value)
        if all(not isinstance(v, Mapping | list | tuple) for v in value):
            seq.fa.set_flow_style()  # roles: [detect, live], as people write them
        return seq
    return value
