"""``vigil demo``: the simulator in its own process plus the server, with no config to write."""

from __future__ import annotations

from pathlib import Path

from vigil.server import serve
from vigil.sim import process as simulator
from vigil.sim.media import CLOCK_REGION

SIM_PORT = 8554


def demo_config(cameras: int, port: int, data: Path, sim_port: int = SIM_PORT) -> str:
    """A config for `cameras` simulated cameras: record main, detect and view the sub-stream."""
    lines = [
        "# Written by `vigil demo`: simulated cameras from `vigil sim`.",
        f"server: {{host: 127.0.0.1, port: {port}}}",
        f"storage: {{path: {data.resolve()}}}",
        "cameras:",
    ]
    for n in range(1, cameras + 1):
        lines += [
            f"  cam{n}:",
            "    inputs:",
            f"      - url: rtsp://127.0.0.1:{sim_port}/cam{n}/main",
            "        roles: [record]",
            f"      - url: rtsp://127.0.0.1:{sim_port}/cam{n}/sub",
            "        roles: [detect, live]",
            "    # No footage by default: 4 such cameras write about 7 GB an hour.",
            "    # Set mode: continuous to try recording (retention: storage.retention).",
            '    record: {mode: "off"}',
            "    detect:",
            "      motion:",
            "        # the simulator's burnt-in clock, masked as you would a camera's",
            f"        masks: [{_polygon(CLOCK_REGION)}]",
        ]
    return "\n".join(lines) + "\n"


def _polygon(points: list[tuple[float, float]]) -> str:
    return "[" + ", ".join(f"[{x}, {y}]" for x, y in points) + "]"


def run_demo(
    cameras: int, port: int, data: Path, sim_port: int = SIM_PORT, sim_http_port: int = 8555
) -> int:
    """Start `vigil sim` in its own process, then serve a config made for its cameras."""
    data.mkdir(parents=True, exist_ok=True)
    config = data / "demo.yaml"
    config.write_text(demo_config(cameras, port, data, sim_port))
    with simulator.running(sim_port, cameras, http_port=sim_http_port, quiet=False):
        print(
            f"vigil demo: open the login link below, or http://127.0.0.1:{port}/ "
            f"(simulator faults and ground truth: http://127.0.0.1:{sim_http_port}/api/cameras)",
            flush=True,
        )
        return serve(config, login_link=True)
