"""Writing camera changes back: atomic, comments and ${VAR} kept, bad changes refused."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from vigil.config.file import ConfigFile
from vigil.errors import ConfigError

TEXT = """\
# vigil config: hand-written
server:
  port: 8080  # the API
cameras:
  # the one by the gate
  driveway:
    inputs:
      - url: rtsp://${CAM_HOST}:554/stream1  # main
        username: ${CAM_USER}
        password: ${CAM_PASS}
        roles: [record]
      - url: rtsp://${CAM_HOST}:554/stream2
        roles: [detect, live]
"""
ENV = {"CAM_HOST": "192.0.2.20", "CAM_USER": "admin", "CAM_PASS": "hunter2"}


def file_of(cfg: ConfigFile) -> Path:
    """The file a config is written to (every config here has one)."""
    assert cfg.path is not None
    return cfg.path


@pytest.fixture
def cfg(tmp_path: Path) -> ConfigFile:
    path = tmp_path / "vigil.yaml"
    path.write_text(TEXT)
    config_file = ConfigFile(path, ENV)
    config_file.load()
    return config_file


def test_add_camera_keeps_comments_and_vars(cfg: ConfigFile) -> None:
    config = cfg.set_camera("porch", {"inputs": [{"url": "rtsp://192.0.2.30/s1"}]})
    assert set(config.cameras) == {"driveway", "porch"}
    text = file_of(cfg).read_text()
    assert "# vigil config: hand-written" in text
    assert "# the one by the gate" in text
    assert "port: 8080  # the API" in text
    assert "password: ${CAM_PASS}" in text
    assert "url: rtsp://${CAM_HOST}:554/stream1  # main" in text
    assert "hunter2" not in text
    assert "porch:" in text
    reloaded = ConfigFile(cfg.path, ENV).load()
    assert set(reloaded.cameras) == {"driveway", "porch"}


def test_replace_without_password_keeps_stored_reference(cfg: ConfigFile) -> None:
    # What an API client sends back: the expanded values, no password.
    fields = {
        "inputs": [
            {"url": "rtsp://192.0.2.20:554/stream1", "username": "admin", "roles": ["record"]},
            {"url": "rtsp://192.0.2.20:554/stream2", "roles": ["detect", "live"]},
        ],
        "hwaccel": "none",
    }
    config = cfg.set_camera("driveway", fields)
    text = file_of(cfg).read_text()
    assert "password: ${CAM_PASS}" in text
    assert "username: ${CAM_USER}" in text
    assert "url: rtsp://${CAM_HOST}:554/stream1" in text
    assert "hwaccel: none" in text
    secret = config.cameras["driveway"].inputs[0].password
    assert secret is not None and secret.get_secret_value() == "hunter2"


def test_changed_value_replaces_the_reference(cfg: ConfigFile) -> None:
    cfg.set_camera(
        "driveway",
        {
            "inputs": [
                {"url": "rtsp://192.0.2.99:554/stream1", "roles": ["record", "detect", "live"]}
            ]
        },
    )
    text = file_of(cfg).read_text()
    assert "rtsp://192.0.2.99:554/stream1" in text
    assert "stream2" not in text


def test_remove_camera(cfg: ConfigFile) -> None:
    config = cfg.remove_camera("driveway")
    assert config.cameras == {}
    assert "driveway" not in file_of(cfg).read_text()
    assert "# vigil config: hand-written" in file_of(cfg).read_text()


def test_invalid_change_is_refused_and_file_untouched(cfg: ConfigFile) -> None:
    before = file_of(cfg).read_text()
    with pytest.raises(ConfigError) as info:
        cfg.set_camera("porch", {"inputs": [{"url": "ftp://h/x"}]})
    assert info.value.errors[0].path == "cameras.porch.inputs[0].url"
    assert info.value.errors[0].code == "E110"
    assert file_of(cfg).read_text() == before
    cfg.set_camera("ok", {"inputs": [{"url": "rtsp://h/x"}]})  # the tree was not corrupted
    assert "porch" not in file_of(cfg).read_text()


def test_failed_write_is_e107_and_leaves_file_and_no_temp(cfg: ConfigFile) -> None:
    before = file_of(cfg).read_text()
    with (
        mock.patch("vigil.config.file.os.replace", side_effect=OSError(28, "No space left")),
        pytest.raises(ConfigError) as info,
    ):
        cfg.set_camera("porch", {"inputs": [{"url": "rtsp://h/x"}]})
    assert info.value.code == "E107"
    assert file_of(cfg).read_text() == before
    assert sorted(p.name for p in file_of(cfg).parent.iterdir()) == ["vigil.yaml"]
    assert cfg.camera_fields("porch") is None


def test_writes_are_private(cfg: ConfigFile) -> None:
    file_of(cfg).chmod(0o644)  # the file holds camera passwords: whatever it was, 0600 after
    cfg.set_camera("porch", {"inputs": [{"url": "rtsp://h/x"}]})
    assert file_of(cfg).stat().st_mode & 0o777 == 0o600
