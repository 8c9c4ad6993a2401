"""Which worker runs which camera: leases, handed out by the main process.

A camera belongs to one holder (a worker process) through a :class:`Lease`. Its ``token``
grows with every grant, so a holder that was replaced (a worker that died and came back,
or, in a cluster, a node that lost its lease) can be told from the current one: the cluster
issue keeps the same leases as rows in PostgreSQL behind this same :class:`Leases`
interface.

Shards are balanced by measured cost (``cpu_pct``, % of one core), not by count. A camera
not measured yet counts as the mean of those that are (1 when none is). A lease moves only
when its holder is gone (:meth:`Leases.lost`) or on a :meth:`Leases.rebalance` an admin asks
for; nothing moves on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

UNMEASURED = 1.0  # % of a core counted for a camera when nothing has been measured


@dataclass(frozen=True, slots=True)
class Lease:
    camera: str
    holder: int  # the worker's number, 0 to workers - 1
    token: int  # grows with every grant: a fencing token


@dataclass(frozen=True, slots=True)
class Move:
    camera: str
    before: int
    after: int


class Leases(Protocol):
    """Camera ownership, whatever keeps it (memory here; PostgreSQL in a cluster)."""

    def grant(self, camera: str) -> Lease:
        """The camera's lease: its current one, else a new one on the least loaded holder."""
        ...

    def release(self, camera: str) -> None: ...

    def lease(self, camera: str) -> Lease | None: ...

    def held_by(self, holder: int) -> list[str]: ...

    def measured(self, costs: Mapping[str, float]) -> None:
        """The cameras' latest costs, % of one core each."""
        ...

    def renewed(self, holder: int) -> list[Lease]:
        """`holder` was restarted: its cameras stay with it, under new tokens."""
        ...

    def lost(self, holder: int) -> list[Lease]:
        """`holder` is gone for good: its cameras, granted again to the others."""
        ...

    def rebalance(self) -> list[Move]:
        """Spread the cameras again by cost; the moves it makes."""
        ...


class LocalLeases:
    """Leases kept in this process, over ``holders`` workers (numbers 0 to holders - 1)."""

    def __init__(self, holders: int):
        if holders < 1:
            raise ValueError("at least one holder")
        self.holders = list(range(holders))
        self._leases: dict[str, Lease] = {}
        self._costs: dict[str, float] = {}
        self._token = 0
        self._lock = threading.Lock()

    def _cost(self, camera: str) -> float:
        if camera in self._costs:
            return self._costs[camera]
        known = [self._costs[c] for c in self._leases if c in self._costs]
        return sum(known) / len(known) if known else UNMEASURED

    def loads(self) -> dict[int, float]:
        """Each holder's cameras' cost, summed."""
        with self._lock:
            return self._loads()

    def _loads(self) -> dict[int, float]:
        loads = dict.fromkeys(self.holders, 0.0)
        for lease in self._leases.values():
            loads[lease.holder] += self._cost(lease.camera)
        return loads

    def _new(self, camera: str, holder: int) -> Lease:
        self._token += 1
        lease = self._leases[camera] = Lease(camera, holder, self._token)
        return lease

    def _least_loaded(self, loads: Mapping[int, float]) -> int:
        # ties go to the holder with fewer cameras, then the lowest number
        counts = {h: 0 for h in self.holders}
        for lease in self._leases.values():
            counts[lease.holder] += 1
        return min(self.holders, key=lambda h: (loads[h], counts[h], h))

    def grant(self, camera: str) -> Lease:
        with self._lock:
            held = self._leases.get(camera)
            if held is not None:
                return held
            return self._new(camera, self._least_loaded(self._loads()))

    def release(self, camera: str) -> None:
        with self._lock:
            self._leases.pop(camera, None)
            self._costs.pop(camera, None)

    def lease(self, camera: str) -> Lease | None:
        with self._lock:
            return self._leases.get(camera)

    def held_by(self, holder: int) -> list[str]:
        with self._lock:
            return sorted(c for c, lease in self._leases.items() if lease.holder == holder)

    def measured(self, costs: Mapping[str, float]) -> None:
        with self._lock:
            for camera, cost in costs.items():
                if camera in self._leases and cost >= 0:
                    self._costs[camera] = cost

    def renewed(self, holder: int) -> list[Lease]:
        with self._lock:
            mine = sorted(c for c, lease in self._leases.items() if lease.holder == holder)
            return [self._new(camera, holder) for camera in mine]

    def lost(self, holder: int) -> list[Lease]:
        with self._lock:
            if holder not in self.holders or len(self.holders) == 1:
                raise ValueError(f"holder {holder} is not one of several")
            self.holders.remove(holder)
            orphans = sorted(
                (c for c, lease in self._leases.items() if lease.holder == holder),
                key=lambda c: (-self._cost(c), c),
            )
            for camera in orphans:
                del self._leases[camera]
            return [self._new(c, self._least_loaded(self._loads())) for c in orphans]

    def rebalance(self) -> list[Move]:
        """Longest first onto the least loaded (LPT); a camera whose holder comes out the same
        keeps its lease and token."""
        with self._lock:
            before = {c: lease.holder for c, lease in self._leases.items()}
            order = sorted(before, key=lambda c: (-self._cost(c), c))
            loads = dict.fromkeys(self.holders, 0.0)
            counts = dict.fromkeys(self.holders, 0)
            after: dict[str, int] = {}
            for camera in order:
                # the current holder wins ties, so a balanced shard stays where it is
                best = min(
                    self.holders,
                    key=lambda h: (loads[h], counts[h], h != before[camera], h),
                )
                after[camera] = best
                loads[best] += self._cost(camera)
                counts[best] += 1
            moves = []
            for camera in sorted(after):
                if after[camera] != before[camera]:
                    self._new(camera, after[camera])
                    moves.append(Move(camera, before[camera], after[camera]))
            return moves
