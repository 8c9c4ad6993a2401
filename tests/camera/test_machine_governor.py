"""One governor for every worker's cameras: it steps the busiest camera of the machine, once
per hold, whichever worker runs it, and ticks on reports (never twice a second). Real
statuses and a real Governor; the machine's CPU and the clock are injected."""

from __future__ import annotations

import dataclasses
import itertools

from vigil.camera.channel import Action, SetLevel
from vigil.camera.machine_governor import MachineGovernor
from vigil.camera.manager import CameraManager
from vigil.camera.state import State
from vigil.camera.status import CameraStatus, GovernorStatus
from vigil.config import CameraConfig, GovernorConfig

CONFIG = GovernorConfig(cpu_high=80, cpu_critical=95, cpu_low=40, hold_seconds=10)


def status(
    name: str, cpu: float, level: int | None = 0, state: State = State.STREAMING
) -> CameraStatus:
    config = CameraConfig.model_validate({"inputs": [{"url": "rtsp://192.0.2.1/s"}]})
    base = CameraManager({name: config}).status(name)  # a real status, of a camera not started
    governor = GovernorStatus(level, "as configured", 2) if level is not None else None
    return dataclasses.replace(base, state=state, cpu_pct=cpu, governor=governor)


class Machine:
    """Two workers' cameras as their reports give them, the steps sent, a clock, a CPU."""

    def __init__(self, statuses: list[CameraStatus]):
        self.statuses = {s.name: s for s in statuses}
        self.sent: list[tuple[str, Action]] = []
        self.now = 0.0
        self.cpu = 50.0
        self.governor = MachineGovernor(
            CONFIG,
            lambda: list(self.statuses.values()),
            self.send,
            sampler=lambda: self.cpu,
            clock=lambda: self.now,
        )

    def send(self, name: str, action: Action) -> None:
        self.sent.append((name, action))
        assert isinstance(action, SetLevel)
        old = self.statuses[name]
        governor = GovernorStatus(action.level, action.reason, 2)
        self.statuses[name] = dataclasses.replace(old, governor=governor)  # its next report

    def seconds(self, count: int) -> None:
        """`count` seconds of reports from both workers (each once a second)."""
        for _ in range(count):
            self.now += 0.5
            self.governor.reported()  # worker 0's report
            self.now += 0.5
            self.governor.reported()  # worker 1's, half a second later


def test_the_busiest_camera_of_the_machine_steps_first_once_per_hold() -> None:
    # worker 0 runs a and b, worker 1 runs c (the busiest) and d (stopped), e detects nothing
    machine = Machine(
        [
            status("a", 20.0),
            status("b", 10.0),
            status("c", 40.0),
            status("d", 90.0, state=State.STOPPED),
            status("e", 60.0, level=None),
        ]
    )
    machine.seconds(20)
    assert machine.sent == []  # between low and high: nothing moves
    machine.cpu = 86.0  # excess 6 % of the machine; c is 40 % of one core of the machine's
    machine.seconds(15)
    assert [name for name, _ in machine.sent] == ["c"]  # one step, the machine's busiest
    action = machine.sent[0][1]
    assert isinstance(action, SetLevel) and action.level == 1
    assert "machine CPU 86 % above 80 % for 10 s" in action.reason
    machine.seconds(20)  # a full hold each: c to key frames only (its floor), then a
    assert [(n, a.level) for n, a in machine.sent] == [("c", 1), ("c", 2), ("a", 1)]  # type: ignore[union-attr]
    assert machine.governor.governor.steps_down == 3
    machine.cpu = 20.0
    machine.seconds(60)
    levels = {n: s.governor.level for n, s in machine.statuses.items() if s.governor}
    assert levels == {"a": 0, "b": 0, "c": 0, "d": 0}  # back as configured
    assert not {n for n, _ in machine.sent} & {"b", "d", "e"}  # never touched
    assert "as configured" in machine.sent[-1][1].reason  # type: ignore[union-attr]


def test_reports_from_every_worker_tick_it_once_a_second() -> None:
    machine = Machine([status("a", 5.0)])
    ticks: list[float] = []
    sample = machine.governor.governor.sampler

    def counted() -> float:
        ticks.append(machine.now)
        return sample()

    machine.governor.governor.sampler = counted
    machine.seconds(10)  # 20 reports
    assert len(ticks) == 10
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(ticks))
