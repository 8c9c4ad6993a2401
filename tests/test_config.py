"""Config loading: defaults, ${VAR} substitution, and every kind of bad input at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.config import CameraConfig, Role, expand_vars, load_config, validate_data
from vigil.errors import ConfigError

GOOD = """\
# a comment
server: {port: 8081}
cameras:
  driveway:
    inputs:
      - url: rtsp://192.0.2.20:554/stream1
        username: ${CAM_USER}
        password: ${CAM_PASS}
        roles: [record]
      - url: rtsp://192.0.2.20:554/stream2
        roles: [detect, live]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    return path


def codes(err: ConfigError) -> list[tuple[str, str]]:
    return [(e.path, e.code) for e in err.errors]


def test_defaults_match_design() -> None:
    config = validate_data({})
    assert (config.server.host, config.server.port, config.server.nice) == ("127.0.0.1", 8080, 0)
    assert config.storage.path == "./vigil-data"
    assert str(config.storage.database) == "vigil-data/vigil.db"
    assert config.storage.retention.days == 7
    assert config.storage.retention.events_days == 30
    assert config.storage.retention.min_free_gb == 1
    assert (config.governor.cpu_high, config.governor.cpu_critical) == (80, 85)
    assert (config.governor.cpu_low, config.governor.hold_seconds) == (60, 30)
    cam = CameraConfig.model_validate({"inputs": [{"url": "rtsp://h/x"}]})
    assert cam.hwaccel == "auto"
    assert cam.record.mode == "continuous" and cam.record.segment_seconds == 60
    assert cam.record.codec == "copy" and cam.record.export_max_minutes == 120
    assert (cam.record.pre_seconds, cam.record.post_seconds) == (5, 10)
    assert cam.detect.fps == 5 and cam.detect.width == 320
    assert cam.detect.motion.threshold == 25 and cam.detect.motion.min_area == 0.002
    assert cam.detect.idle_keyframes_after_seconds == 60
    assert cam.live.mjpeg_fps == 10 and cam.live.idle_stop_seconds == 300
    assert cam.inputs[0].roles == [Role.RECORD, Role.DETECT, Role.LIVE]


def test_loads_with_env_substitution(tmp_path: Path) -> None:
    env = {"CAM_USER": "admin", "CAM_PASS": "hunter2"}
    config = load_config(write(tmp_path, GOOD), env)
    cam = config.cameras["driveway"]
    assert cam.inputs[0].username == "admin"
    assert cam.inputs[0].password is not None
    assert cam.inputs[0].password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(cam)
    assert config.server.port == 8081


def test_env_default_syntax() -> None:
    assert expand_vars("${A:-x}/${B}", {"B": "b"}) == ("x/b", [])
    assert expand_vars("${A}", {}) == ("${A}", ["A"])


def test_missing_env_var_names_file_key_and_code(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD), {"CAM_USER": "admin"})
    err = info.value
    assert codes(err) == [("cameras.driveway.inputs[0].password", "E106")]
    assert err.errors[0].line == 8
    report = err.report()
    assert "vigil.yaml:8" in report and "CAM_PASS" in report and "hint:" in report


def test_broken_yaml_is_e101_with_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "cameras:\n  a: [unclosed\n"))
    assert info.value.errors[0].code == "E101"
    assert info.value.errors[0].line is not None


def test_duplicate_camera_is_e105(tmp_path: Path) -> None:
    text = "cameras:\n  a: {inputs: [{url: rtsp://h/1}]}\n  a: {inputs: [{url: rtsp://h/2}]}\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.errors[0].code == "E105"
    assert info.value.errors[0].line == 3


def test_all_errors_reported_at_once(tmp_path: Path) -> None:
    text = """\
server: {port: eighty, colour: blue}
cameras:
  "bad name!": {inputs: [{url: rtsp://h/1}]}
  a:
    inputs:
      - url: ftp://h/1
      - url: "rtsp://h/x;rm -rf /"
      - url: -rtsp://h
    hwaccel: vaapi
  b: {}
"""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    found = codes(info.value)
    assert ("server.port", "E103") in found
    assert ("server.colour", "E102") in found
    assert ("cameras.bad name!", "E114") in found
    assert ("cameras.a.inputs[0].url", "E110") in found
    assert ("cameras.a.inputs[1].url", "E111") in found
    assert ("cameras.a.inputs[2].url", "E111") in found
    assert ("cameras.a.hwaccel", "E103") in found
    assert ("cameras.b.inputs", "E104") in found
    assert all(e.line for e in info.value.errors if e.path != "cameras.bad name!")


def test_roles(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        validate_data(
            {
                "cameras": {
                    "a": {
                        "inputs": [
                            {"url": "rtsp://h/1", "roles": ["record"]},
                            {"url": "rtsp://h/2", "roles": ["record", "live"]},
                        ]
                    }
                }
            }
        )
    assert info.value.errors[0].code == "E115"
    with pytest.raises(ConfigError) as info:
        validate_data({"cameras": {"a": {"inputs": [{"url": "rtsp://h/1", "roles": ["live"]}]}}})
    assert "record role" in info.value.errors[0].message
    ok = validate_data(
        {
            "cameras": {
                "a": {
                    "inputs": [{"url": "rtsp://h/1", "roles": ["live"]}],
                    "record": {"mode": "off"},
                }
            }
        }
    )
    assert ok.cameras["a"].input_for(Role.LIVE) is not None


def test_unreadable_file_is_e100(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.yaml")
    assert info.value.errors[0].code == "E100"


def test_empty_file_is_a_valid_config_without_cameras(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")).cameras == {}


def test_governor_thresholds_must_be_ordered() -> None:
    with pytest.raises(ConfigError) as info:
        validate_data({"governor": {"cpu_low": 90}})
    assert info.value.errors[0].path == "governor"


def test_workers_default_to_one_process_and_auto_is_the_usable_cores() -> None:
    import os

    assert validate_data({}).server.worker_count == 1
    assert validate_data({"server": {"workers": 3}}).server.worker_count == 3
    auto = validate_data({"server": {"workers": "auto"}}).server
    assert auto.workers == "auto" and auto.worker_count == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("value", [0, 257, "many", True, 1.5])
def test_bad_workers_is_e103_naming_the_key(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f"server: {{workers: {str(value).lower()}}}\n"))
    (error,) = info.value.errors
    assert (error.path, error.code) == ("server.workers", "E103")
    assert "from 1 to 256, or auto" in error.message
