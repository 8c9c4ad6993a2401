"""`vigil sim` from the command line: options, faults and audio, and bad arguments."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any

import av
import pytest

from tests.helpers import free_port, wait_for
from tests.sim.rtsp_client import RawRtsp
from vigil.sim.server import parse_fault

SIM = [sys.executable, "-m", "vigil.cli", "--log-level", "WARNING", "sim"]
SMALL_ARGS = [
    "--main-size",
    "320x180",
    "--main-fps",
    "15",
    "--sub-size",
    "160x90",
    "--sub-fps",
    "5",
    "--seconds",
    "2",
]


def test_parse_fault() -> None:
    assert parse_fault("cam2:drop_after=20") == ("cam2", {"drop_after": 20.0})
    assert parse_fault("cam1:slow") == ("cam1", {"slow": True})
    assert parse_fault("cam1:garbage=false") == ("cam1", {"garbage": False})
    assert parse_fault("cam3:resolution=alt") == ("cam3", {"resolution": "alt"})
    for bad in ("cam1:boom", "cam1:drop_after=soon", "cam1:drop_after=-3", "cam1:resolution=8k"):
        with pytest.raises(ValueError):
            parse_fault(bad)


def test_sim_command_serves_with_faults_and_audio() -> None:
    port, http_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            *SIM,
            "--port",
            str(port),
            "--http-port",
            str(http_port),
            "--cameras",
            "2",
            *SMALL_ARGS,
            "--fault",
            "cam1:refuse",
            "--fault",
            "cam2:drop_after=30",
            "--audio",
            "cam2:aac",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def cams() -> dict[str, Any] | None:
            try:
                url = f"http://127.0.0.1:{http_port}/api/cameras"
                with urllib.request.urlopen(url, timeout=2) as r:
                    listed: dict[str, Any] = json.loads(r.read())
                    return listed
            except OSError:
                return None

        state = wait_for(cams, 60, "vigil sim up")
        assert state["cam1"]["faults"]["refuse"] is True
        assert state["cam2"]["faults"]["drop_after"] == 30.0
        assert state["cam2"]["streams"] == {"main": [320, 180, 15], "sub": [160, 90, 5]}
        with RawRtsp(port) as client, pytest.raises(ConnectionError):
            client.request("DESCRIBE", f"rtsp://127.0.0.1:{port}/cam1/main")
        url = f"rtsp://127.0.0.1:{port}/cam2/sub"
        with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as c:
            assert (c.streams.video[0].width, c.streams.video[0].height) == (160, 90)
            assert c.streams.audio[0].codec_context.name == "aac"
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--fault", "cam9:slow"],
        ["--fault", "cam1:nope"],
        ["--audio", "cam1:mp3"],
        ["--auth", "cam1:onlyuser"],
    ],
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    result = subprocess.run(
        [*SIM, "--port", "0", "--http-port", "0", "--cameras", "1", *SMALL_ARGS, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("vigil sim: ")
