"""The camera manager changes cameras at runtime without touching the others."""

from __future__ import annotations

import threading

import pytest

from tests.helpers import SimThread, wait_for
from vigil.api.errors import http_status
from vigil.camera.manager import CameraManager
from vigil.camera.reader import Timing
from vigil.camera.state import State
from vigil.config import CameraConfig
from vigil.errors import CameraNotFound, RequestError


def cfg(url: str, enabled: bool = True) -> CameraConfig:
    return CameraConfig.model_validate({"enabled": enabled, "inputs": [{"url": url}]})


def streaming(manager: CameraManager, name: str) -> bool:
    return manager.status(name).state is State.STREAMING


def test_add_remove_replace_start_stop_leave_others_alone(sim: SimThread) -> None:
    manager = CameraManager(
        {"steady": cfg(sim.url("cam1"))}, timing=Timing(open_timeout=3, stall=3)
    )
    manager.start()
    try:
        wait_for(lambda: streaming(manager, "steady"), 15, "steady streaming")
        steady = manager.get("steady")
        packets = steady.inputs[0].counters.packets

        manager.add("extra", cfg(sim.url("cam2")))
        wait_for(lambda: streaming(manager, "extra"), 15, "extra streaming")
        with pytest.raises(RequestError) as info:
            manager.add("extra", cfg(sim.url("cam2")))
        assert info.value.code == "E603" and http_status(info.value) == 409

        manager.replace("extra", cfg(sim.url("cam4", "main")))
        wait_for(lambda: streaming(manager, "extra"), 15, "replaced extra streaming")
        assert manager.get("extra").inputs[0].spec.display.endswith("/cam4/main")

        manager.stop_camera("extra")
        assert manager.status("extra").state is State.STOPPED
        manager.start_camera("extra")
        wait_for(lambda: streaming(manager, "extra"), 15, "restarted extra")

        manager.remove("extra")
        assert manager.names() == ["steady"]
        with pytest.raises(CameraNotFound):
            manager.status("extra")

        manager.add("off", cfg(sim.url("cam2"), enabled=False))
        assert manager.status("off").state is State.STOPPED

        assert manager.get("steady") is steady
        status = manager.status("steady")
        assert status.state is State.STREAMING and status.reconnects == 0
        assert steady.inputs[0].counters.packets > packets
    finally:
        manager.shutdown()
    mine = tuple(f"vigil-cam-{name}-" for name in ("steady", "extra", "off"))
    left = [t.name for t in threading.enumerate() if t.name.startswith(mine)]
    assert left == []  # every camera's threads ended within the one shared deadline


def test_monitor_fills_in_figures(sim: SimThread) -> None:
    manager = CameraManager({"a": cfg(sim.url("cam1"))})
    manager.start()
    try:
        status = wait_for(
            lambda: (s := manager.status("a")).cpu_pct is not None and s.fps_in > 0 and s,
            15,
            "figures from the monitor thread",
        )
        assert status.cpu_pct is not None and 0 <= status.cpu_pct < 100
    finally:
        manager.shutdown()
