"""The command line: check-config exit codes, and `vigil run` end to end in its own process."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CAM_SECRET, CAM_USER, SimThread, free_port, wait_for
from vigil.cli import main

VIGIL = [sys.executable, "-m", "vigil.cli"]


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("cameras:\n  a:\n    inputs: [{url: 'rtsp://192.0.2.1/s'}]\n")
    assert main(["check-config", str(path)]) == 0
    assert "OK (1 camera(s))" in capsys.readouterr().out


def test_check_config_reports_every_error_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "cameras:\n  a:\n    inputs: [{url: 'ftp://h/x', password: '${NOPE_NOT_SET}'}]\n"
        "    colour: red\n"
    )
    result = subprocess.run(
        [*VIGIL, "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "NOPE_NOT_SET"},
    )
    assert result.returncode == 2
    assert f"{path}:3: cameras.a.inputs[0].url: [E110]" in result.stderr
    assert "[E106]" in result.stderr and "NOPE_NOT_SET" in result.stderr
    assert f"{path}:4: cameras.a.colour: [E102]" in result.stderr


def test_rebalance_without_a_server_says_it_cant_reach_it(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text(f"server: {{port: {free_port()}}}\nstorage: {{path: {tmp_path / 'd'}}}\n")
    result = subprocess.run(
        [*VIGIL, "workers", "rebalance", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "vigil: the server at http://127.0.0.1:" in result.stderr
    assert "can't be reached" in result.stderr


def test_run_with_missing_file_exits_2(tmp_path: Path) -> None:
    assert main(["run", "--config", str(tmp_path / "none.yaml")]) == 2


def _get(port: int, path: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body


def _token(config: Path) -> str:
    """An admin and a token for it, made with the CLI before the server's first start."""
    subprocess.run(
        [
            *VIGIL,
            "user",
            "add",
            "tester",
            "--role",
            "admin",
            "--password-stdin",
            "--config",
            str(config),
        ],
        input="tester password\n",
        text=True,
        check=True,
        capture_output=True,
    )
    made = subprocess.run(
        [*VIGIL, "token", "create", "test", "--user", "tester", "--config", str(config)],
        text=True,
        check=True,
        capture_output=True,
    )
    return made.stdout.strip()


def test_run_serves_file_and_rtsp_cameras_and_stops_on_sigterm(
    tmp_path: Path, sim: SimThread, video_file: Path
) -> None:
    port = free_port()
    secret_url = sim.url("cam3").replace("rtsp://", f"rtsp://{CAM_USER}:{CAM_SECRET}@")
    config = tmp_path / "vigil.yaml"
    config.write_text(
        f"server: {{port: {port}}}\n"
        f"storage: {{path: {tmp_path / 'data'}}}\n"
        "cameras:\n"
        f"  file: {{inputs: [{{url: 'file://{video_file}'}}]}}\n"
        f"  rtsp: {{inputs: [{{url: '{sim.url('cam1')}'}}]}}\n"
        f"  secret: {{inputs: [{{url: '{secret_url}'}}]}}\n"
        f"  dead: {{inputs: [{{url: 'rtsp://127.0.0.1:{free_port()}/x'}}]}}\n"
    )
    token = _token(config)
    log = tmp_path / "vigil.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*VIGIL, "run", "--config", str(config)], stdout=out, stderr=out)
    try:

        def fps_ok() -> dict[str, Any] | None:
            try:
                cams = {c["name"]: c for c in _get(port, "/api/cameras", token)["cameras"]}
            except OSError:
                return None
            good = all(
                cams[n]["state"] == "streaming" and abs(cams[n]["fps_in"] - 15) <= 0.75
                for n in ("file", "rtsp", "secret")
            )
            return cams if good and cams["dead"]["state"] == "reconnecting" else None

        cams = wait_for(fps_ok, 40, "file, rtsp and secret cameras at 15 fps")
        assert cams["dead"]["last_error"]["code"] == "E201"
        api_text = json.dumps(cams) + json.dumps(_get(port, "/api/health", token))
        assert CAM_SECRET not in api_text
        # vigil workers rebalance asks the running server, as an admin: refused without a
        # token; with one, a single process has nothing to move
        rebalance = [*VIGIL, "workers", "rebalance", "--config", str(config)]
        env = {k: v for k, v in os.environ.items() if k != "VIGIL_TOKEN"}
        refused = subprocess.run(rebalance, capture_output=True, text=True, timeout=60, env=env)
        assert refused.returncode == 1 and "[E609]" in refused.stderr
        assert "VIGIL_TOKEN or --token-stdin" in refused.stderr
        asked = subprocess.run(
            [*rebalance, "--token-stdin"], input=token + "\n", capture_output=True, text=True
        )
        assert asked.returncode == 0, asked.stderr
        assert asked.stdout == "0 camera(s) moved; 0 worker(s)\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0  # a clean stop (its own deadline is SHUTDOWN_TIMEOUT, 10 s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # SIGTERM closed the open segments properly: finalized and indexed, nothing partial
    data = tmp_path / "data"
    assert not list(data.rglob("*.partial.mp4"))
    recorded = {p.relative_to(data).parts[1] for p in data.rglob("*.mp4")}
    assert {"file", "rtsp", "secret"} <= recorded
    # vigil's umask (027): footage 0640 in 0750 folders; the database (hashes) 0600
    assert {stat.S_IMODE(p.stat().st_mode) for p in data.rglob("*.mp4")} == {0o640}
    folders = [p for p in data.rglob("*") if p.is_dir()]
    assert folders and {stat.S_IMODE(p.stat().st_mode) for p in folders} == {0o750}
    databases = [p for p in data.iterdir() if p.name.startswith("vigil.db")]
    assert databases and {stat.S_IMODE(p.stat().st_mode) for p in databases} == {0o600}
    text = log.read_text()
    assert CAM_SECRET not in text
    assert "vigil.camera.rtsp: streaming" in text
    assert "vigil.camera.rtsp: stopped" in text
    assert "[E201]" in text
