"""Each fault does what it names, switched at runtime."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator

import av
import pytest

from tests.helpers import SMALL, SimThread, wait_for
from tests.sim.rtsp_client import RawRtsp, access_units, read_until_error, timestamps_until_error
from vigil.sim.sender import FLOOD_FACTOR
from vigil.sim.server import build_cameras


@pytest.fixture
def faulty() -> Iterator[SimThread]:
    with SimThread(build_cameras(2, SMALL, None, quiet=True, alt=True)) as server:
        yield server


def test_refuse_closes_connections(faulty: SimThread) -> None:
    faulty.set_faults("cam1", refuse=True)
    with RawRtsp(faulty.port) as client, pytest.raises(ConnectionError):
        client.request("DESCRIBE", faulty.url("cam1"))
    with RawRtsp(faulty.port) as client:  # the other camera is untouched
        assert client.request("DESCRIBE", faulty.url("cam2")).status == 200
    faulty.set_faults("cam1", refuse=False)
    with RawRtsp(faulty.port) as client:
        assert client.request("DESCRIBE", faulty.url("cam1")).status == 200


def test_refuse_also_drops_playing_clients(faulty: SimThread) -> None:
    with RawRtsp(faulty.port) as client:
        client.play(faulty.url("cam1"))
        client.read_frame()
        faulty.set_faults("cam1", refuse=True)
        with pytest.raises(ConnectionError):
            read_until_error(client)


def test_drop_after_closes_the_connection_after_n_seconds(faulty: SimThread) -> None:
    faulty.set_faults("cam1", drop_after=1.0)
    with RawRtsp(faulty.port) as client:
        client.play(faulty.url("cam1"))
        first = client.read_frame().timestamp
        t0 = time.monotonic()
        stamps = timestamps_until_error(client)
        lived = time.monotonic() - t0
    sent = ((stamps[-1] - first) % 2**32) / 90_000  # seconds of video before the drop
    assert lived > 0.7  # not at once
    assert sent <= 1.0 + 2 / SMALL.fps  # and no more video than a second of PLAY holds


def test_stall_keeps_the_socket_open_and_sends_nothing(faulty: SimThread) -> None:
    faulty.set_faults("cam1", stall_after=0.5)
    with RawRtsp(faulty.port, timeout=2.0) as client:
        client.play(faulty.url("cam1"))
        client.read_frame()
        with pytest.raises(socket.timeout):
            read_until_error(client)
        # still open: the server answers a keep-alive
        assert client.request("GET_PARAMETER", faulty.url("cam1")).status == 200


def test_garbage_sends_bytes_that_are_not_rtp(faulty: SimThread) -> None:
    with RawRtsp(faulty.port) as client:
        client.play(faulty.url("cam1"))
        access_units(client, 1)
        faulty.set_faults("cam1", garbage=True)
        with pytest.raises(ValueError, match="not an interleaved frame"):
            read_until_error(client)


def test_resolution_change_sends_new_parameter_sets(faulty: SimThread) -> None:
    sizes: list[tuple[int, int]] = []
    with av.open(faulty.url("cam1"), options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as c:
        stream = c.streams.video[0]
        switched = False
        for packet in c.demux(stream):
            for frame in packet.decode():
                sizes.append((frame.width, frame.height))
            if len(sizes) == SMALL.fps and not switched:
                faulty.set_faults("cam1", resolution="alt")
                switched = True
            if (sizes and sizes[-1] == (160, 90)) or len(sizes) > 6 * SMALL.fps:
                break
    assert sizes[0] == (320, 180)
    assert sizes[-1] == (160, 90)
    change = sizes.index((160, 90))
    assert all(s == (320, 180) for s in sizes[:change])


def test_jump_back_makes_timestamps_go_backwards_once(faulty: SimThread) -> None:
    with RawRtsp(faulty.port) as client:
        client.play(faulty.url("cam1"))
        before = access_units(client, 5)
        faulty.set_faults("cam1", jump_back=5.0)
        after = access_units(client, 2 * SMALL.fps)
    stamps = [ts for ts, _ in before + after]
    steps = [(b - a + 2**31) % 2**32 - 2**31 for a, b in itertools.pairwise(stamps)]
    frame = 90_000 // SMALL.fps
    backwards = [s for s in steps if s < 0]
    assert backwards == [frame - 5 * 90_000]
    assert steps.count(frame) == len(steps) - 1


def test_jump_forward_makes_timestamps_leap_once(faulty: SimThread) -> None:
    with RawRtsp(faulty.port) as client:
        client.play(faulty.url("cam2"))
        before = access_units(client, 5)
        faulty.set_faults("cam2", jump_forward=60.0)
        after = access_units(client, 2 * SMALL.fps)
    faulty.set_faults("cam2", jump_forward=None)
    stamps = [ts for ts, _ in before + after]
    steps = [(b - a + 2**31) % 2**32 - 2**31 for a, b in itertools.pairwise(stamps)]
    frame = 90_000 // SMALL.fps
    assert [s for s in steps if s != frame] == [frame + 60 * 90_000]


def test_slow_sends_at_half_rate(faulty: SimThread) -> None:
    faulty.set_faults("cam1", slow=True)
    with RawRtsp(faulty.port) as client:
        client.play(faulty.url("cam1"))
        access_units(client, 2)
        t0 = time.monotonic()
        units = access_units(client, SMALL.fps)  # one second of video
        elapsed = time.monotonic() - t0
    assert elapsed > 1.8  # at most half the rate; every frame of it, as below
    stamps = [ts for ts, _ in units]
    assert {b - a for a, b in itertools.pairwise(stamps)} == {90_000 // SMALL.fps}


def test_bad_fault_values_are_refused_and_change_nothing(faulty: SimThread) -> None:
    for bad in ({"nope": 1}, {"drop_after": -1}, {"slow": "yes"}, {"resolution": "4k"}):
        with pytest.raises((KeyError, ValueError)):
            faulty.set_faults("cam1", **bad)
    cam = faulty.cameras["cam1"]
    assert (cam.faults.drop_after, cam.faults.slow, cam.faults.resolution) == (
        None,
        False,
        "normal",
    )


def test_clients_are_counted(faulty: SimThread) -> None:
    with RawRtsp(faulty.port) as client:
        client.play(faulty.url("cam2"))
        client.read_frame()
        assert faulty.cameras["cam2"].clients == 1
    wait_for(lambda: faulty.cameras["cam2"].clients == 0, 5, "client gone")


def test_flood_sends_ten_times_the_frame_rate_in_order(faulty: SimThread) -> None:
    faulty.set_faults("cam1", flood=True)
    with RawRtsp(faulty.port) as client:
        client.play(faulty.url("cam1"))
        access_units(client, 2)
        t0 = time.monotonic()
        units = access_units(client, FLOOD_FACTOR * SMALL.fps)  # a second of the flood
        elapsed = time.monotonic() - t0
    faulty.set_faults("cam1", flood=False)
    assert elapsed < 0.5 * FLOOD_FACTOR  # far faster than real time (which takes 10 s)
    stamps = [ts for ts, _ in units]
    assert {b - a for a, b in itertools.pairwise(stamps)} == {90_000 // SMALL.fps // FLOOD_FACTOR}
