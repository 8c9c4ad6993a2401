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


def _monitor_line(manager: CameraManager) -> str:
    """The source line the monitor thread is on now (in vigil's code)."""
    import linecache
    import sys

    assert manager._monitor is not None
    frame = sys._current_frames().get(manager._monitor.ident or -1)
    while frame is not None and "vigil/camera/manager.py" not in frame.f_code.co_filename:
        frame = frame.f_back
    assert frame is not None
    return linecache.getline(frame.f_code.co_filename, frame.f_lineno)


def test_with_no_camera_the_monitor_sleeps_until_one_is_added() -> None:
    """A manager with nothing to watch makes one pass (a worker's first report), then waits
    with no timeout: an idle server doesn't wake. Adding a camera wakes it; removing the
    last one lets it sleep again."""
    manager = CameraManager()
    passes: list[int] = []
    manager.on_tick = lambda: passes.append(manager.ticks)
    manager.start()
    try:
        wait_for(lambda: passes == [1], 10, "the first pass")
        wait_for(lambda: "_wake.wait()" in _monitor_line(manager), 10, "the monitor asleep")
        config = CameraConfig.model_validate({"inputs": [{"url": "rtsp://127.0.0.1:1/x"}]})
        manager.add("yard", config, start=False)
        wait_for(lambda: len(passes) >= 3, 10, "passes while a camera is there")
        manager.remove("yard")
        wait_for(lambda: "_wake.wait()" in _monitor_line(manager), 10, "asleep again")
    finally:
        manager.shutdown()
    assert manager._monitor is not None and not manager._monitor.is_alive()
