"""Loading the config file: YAML (comments kept), ``${VAR}`` substitution, and every error at
once with its code, key path and line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from vigil.config.models import VigilConfig
from vigil.errors import ConfigError, FieldError
from vigil.sources.network import parse_networks, refused_host

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_PYDANTIC_CODES = {"extra_forbidden": "E102", "missing": "E104", "string_pattern_mismatch": "E103"}


def expand_vars(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Substitute ``${VAR}`` and ``${VAR:-default}``; return the text and missing names."""
    missing: list[str] = []

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return match.group(0)

    return _VAR.sub(sub, text), missing


def format_path(loc: tuple[int | str, ...]) -> str:
    """``("cameras", "a", "inputs", 0, "url")`` -> ``cameras.a.inputs[0].url``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _walk(
    node: Any, loc: tuple[int | str, ...] = ()
) -> Iterator[tuple[tuple[int | str, ...], Any, Any]]:
    """Yield (path, container, key) for every scalar in a loaded YAML tree."""
    items: Any
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, value in items:
        if isinstance(value, dict | list):
            yield from _walk(value, (*loc, key))
        else:
            yield (*loc, key), node, key


def line_of(doc: Any, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of `loc` in a ruamel round-trip tree, as far as it can be followed."""
    node, line = doc, None
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None:
                pos = lc.key(part) if isinstance(node, dict) else lc.item(part)
                line = int(pos[0]) + 1
            node = node[part]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line


def parse_yaml(text: str, file: str) -> Any:
    """Load YAML in round-trip mode (comments kept); raise E101/E105 with the line."""
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except DuplicateKeyError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise ConfigError(
            "duplicate key",
            file=file,
            errors=[FieldError("", "E105", _duplicate_problem(err), line)],
        ) from None
    except MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise ConfigError(
            "YAML syntax error",
            file=file,
            errors=[FieldError("", "E101", _yaml_problem(err), line)],
        ) from None
    except YAMLError as err:
        raise ConfigError(
            "YAML syntax error", file=file, errors=[FieldError("", "E101", str(err))]
        ) from None


def _duplicate_problem(err: MarkedYAMLError) -> str:
    """The duplicate key's name only: ruamel's message quotes both values, and a value may
    be a password."""
    found = re.search(r'duplicate key "(.{0,200}?)" with value', str(err.problem or ""))
    return f"duplicate key {found.group(1)!r}" if found else "duplicate key"


def _yaml_problem(err: MarkedYAMLError) -> str:
    parts = [p for p in (err.context, err.problem) if p]
    return "; ".join(str(p).strip().splitlines()[0] for p in parts) or "invalid YAML"


def validate_data(
    raw: Any, file: str = "<config>", env: Mapping[str, str] | None = None
) -> VigilConfig:
    """Substitute variables in a loaded tree and validate it, reporting every error at once."""
    env = os.environ if env is None else env
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            "config must be a mapping",
            file=file,
            errors=[FieldError("", "E103", "the top level must be a mapping of keys")],
        )
    data = plain(raw)
    errors: list[FieldError] = []
    var_paths: set[tuple[int | str, ...]] = set()
    for loc, container, key in list(_walk(data)):
        value = container[key]
        if isinstance(value, str) and "${" in value:
            expanded, missing = expand_vars(value, env)
            container[key] = expanded
            for name in missing:
                var_paths.add(loc)
                errors.append(
                    FieldError(
                        format_path(loc),
                        "E106",
                        f"environment variable {name} is not set",
                        line_of(raw, loc),
                    )
                )
    try:
        config = VigilConfig.model_validate(data)
    except ValidationError as err:
        for item in err.errors():
            loc = tuple(part for part in item["loc"] if part != "[key]")
            if any(loc[: len(p)] == p for p in var_paths):
                continue  # already reported as a missing variable
            code = (
                item["type"]
                if re.fullmatch(r"E\d{3}", item["type"])
                else (_PYDANTIC_CODES.get(item["type"], "E103"))
            )
            message = item["msg"]
            if item["type"] == "string_pattern_mismatch" and loc[:1] == ("cameras",):
                code, message = "E114", f"invalid camera name {loc[1]!r}"
            errors.append(FieldError(format_path(loc), code, message, line_of(raw, loc)))
    else:
        errors.extend(policy_errors(config, raw))
        if not errors:
            return config
    errors.sort(key=lambda e: (e.line or 0, e.path))
    raise ConfigError(f"{len(errors)} error(s) in {file}", file=file, errors=errors)


def policy_errors(config: VigilConfig, raw: Any) -> list[FieldError]:
    """What each field allows but the whole refuses: auth off on a network address (E617),
    and camera hosts refused by ``server.camera_networks`` or by default (E118)."""
    errors = []
    if not config.auth.enabled and not config.server.loopback:
        loc: tuple[int | str, ...] = ("auth", "enabled")
        message = f"auth can't be off with server.host {config.server.host} (not loopback)"
        errors.append(FieldError(format_path(loc), "E617", message, line_of(raw, loc)))
    allowed = parse_networks(config.server.camera_networks)
    for name, camera in config.cameras.items():
        for index, item in enumerate(camera.inputs):
            host = item.source().host
            if host and refused_host(host, allowed):
                loc = ("cameras", name, "inputs", index, "url")
                message = f"the host {host} is link-local, a metadata service or not allowed"
                errors.append(FieldError(format_path(loc), "E118", message, line_of(raw, loc)))
    return errors


def plain(node: Any) -> Any:
    """A ruamel tree as plain dicts and lists (what pydantic validates)."""
    if isinstance(node, dict):
        return {key: plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [plain(value) for value in node]
    return node


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> VigilConfig:
    """Read, substitute and validate a config file; raise :class:`ConfigError` with all errors."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise ConfigError(
            f"cannot read {file}: {reason}",
            file=file,
            errors=[FieldError("", "E100", f"cannot read the file: {reason}")],
        ) from None
    return validate_data(parse_yaml(text, file), file, env)
