"""The config file, the single source of truth: its models, loading, write-back, reference.

- :mod:`vigil.config.models`: the pydantic models of every key (the contract users rely on);
- :mod:`vigil.config.loading`: YAML with ``${VAR}`` substitution, validated with every error
  at once (file, line, key path, code);
- :mod:`vigil.config.file`: camera changes written back atomically, comments kept;
- :mod:`vigil.config.doc`: ``python -m vigil.config.doc`` regenerates docs/config.md's keys.

The names most callers need are importable from here.
"""

from __future__ import annotations

from vigil.config.loading import (
    expand_vars,
    format_path,
    load_config,
    parse_yaml,
    plain,
    validate_data,
)
from vigil.config.models import (
    CameraConfig,
    DetectConfig,
    GovernorConfig,
    InputConfig,
    LiveConfig,
    MotionConfig,
    RecordConfig,
    RetentionConfig,
    Role,
    ServerConfig,
    StorageConfig,
    VigilConfig,
    Zone,
)

__all__ = [
    "CameraConfig",
    "DetectConfig",
    "GovernorConfig",
    "InputConfig",
    "LiveConfig",
    "MotionConfig",
    "RecordConfig",
    "RetentionConfig",
    "Role",
    "ServerConfig",
    "StorageConfig",
    "VigilConfig",
    "Zone",
    "expand_vars",
    "format_path",
    "load_config",
    "parse_yaml",
    "plain",
    "validate_data",
]
