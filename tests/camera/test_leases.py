"""Leases: cameras spread over workers by measured cost, moved only when asked or orphaned."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.camera.leases import LocalLeases


def test_new_cameras_go_to_the_least_loaded_worker_by_cost_not_count() -> None:
    leases = LocalLeases(2)
    assert leases.grant("big").holder == 0
    assert leases.grant("small1").holder == 1
    leases.measured({"big": 30.0, "small1": 2.0})
    # by count worker 0 and 1 are even; by cost worker 1 is far lighter, so it takes both
    assert leases.grant("small2").holder == 1
    assert leases.grant("small3").holder == 1
    assert leases.loads()[0] == 30.0


def test_a_grant_is_stable_and_tokens_only_grow() -> None:
    leases = LocalLeases(3)
    first = leases.grant("a")
    assert leases.grant("a") == first  # asking again changes nothing
    second = leases.grant("b")
    assert second.token > first.token
    leases.release("a")
    assert leases.lease("a") is None
    assert leases.grant("a").token > second.token


def test_a_restarted_worker_keeps_its_cameras_under_new_tokens() -> None:
    leases = LocalLeases(2)
    old = {c: leases.grant(c) for c in ("a", "b", "c", "d")}
    mine = leases.held_by(0)
    renewed = leases.renewed(0)
    assert [lease.camera for lease in renewed] == mine
    assert all(lease.holder == 0 and lease.token > old[lease.camera].token for lease in renewed)
    assert leases.held_by(1) == [c for c in old if old[c].holder == 1]


def test_a_lost_worker_s_cameras_go_to_the_others_and_nothing_else_moves() -> None:
    leases = LocalLeases(3)
    for c in "abcdef":
        leases.grant(c)
    kept = {c: leases.lease(c) for c in "abcdef" if leases.lease(c).holder != 1}  # type: ignore[union-attr]
    orphans = leases.held_by(1)
    moved = leases.lost(1)
    assert sorted(lease.camera for lease in moved) == orphans
    assert all(lease.holder in (0, 2) for lease in moved)
    assert all(leases.lease(c) == lease for c, lease in kept.items())
    with pytest.raises(ValueError):
        leases.lost(1)


def test_the_last_worker_is_never_lost() -> None:
    leases = LocalLeases(1)
    leases.grant("a")
    with pytest.raises(ValueError):
        leases.lost(0)


def test_rebalance_spreads_by_cost_and_leaves_a_balanced_shard_alone() -> None:
    leases = LocalLeases(2)
    for c in ("a", "b", "c", "d"):
        leases.grant(c)
    # a and c landed on worker 0, b and d on 1; make worker 0 carry nearly everything
    leases.measured({"a": 40.0, "c": 38.0, "b": 1.0, "d": 1.0})
    moves = leases.rebalance()
    assert moves, "an unbalanced shard is spread"
    loads = leases.loads()
    assert max(loads.values()) <= 41.0
    assert leases.rebalance() == []  # once balanced, asking again moves nothing
    assert leases.lease("a").holder != leases.lease("c").holder  # type: ignore[union-attr]


@given(
    st.lists(st.floats(min_value=0.1, max_value=50.0), min_size=1, max_size=40), st.integers(1, 8)
)
def test_rebalance_is_never_worse_than_the_greedy_bound(costs: list[float], workers: int) -> None:
    leases = LocalLeases(workers)
    names = [f"cam{i}" for i in range(len(costs))]
    for name in names:
        leases.grant(name)
    leases.measured(dict(zip(names, costs, strict=True)))
    leases.rebalance()
    loads = leases.loads()
    # LPT: the busiest worker carries at most the mean load plus the largest one camera
    assert max(loads.values()) <= sum(costs) / workers + max(costs) + 1e-9
    assert sorted(c for w in range(workers) for c in leases.held_by(w)) == sorted(names)
