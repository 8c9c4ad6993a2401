"""Fuzz: a WebRTC offer with random lines dropped, repeated, replaced or garbled (hypothesis)
gets an answer or an OfferError (the API's 400, E505), never another error; no session or
relay is left once the sessions close."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import fuzzing
from vigil.media.hub import PacketHub
from vigil.streaming.webrtc import OfferError, WebRtcSessions


async def _offer() -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp


@pytest.fixture(scope="module")
def offer() -> list[str]:
    """A real viewer's offer (aiortc's), by lines."""
    return asyncio.run(_offer()).splitlines()


LINE = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=80)
CHANGES = st.lists(
    st.tuples(
        st.sampled_from(["drop", "repeat", "replace", "insert", "garble"]),
        st.floats(0, 1, exclude_max=True),  # which line, as a fraction of them
        LINE,
        st.sampled_from(["a=", "m=", "c=", "v=", "o=", "t=", "b=", ""]),
    ),
    min_size=1,
    max_size=8,
)


def mutated(lines: list[str], changes: list[tuple[str, float, str, str]]) -> str:
    out = list(lines)
    for kind, where, text, prefix in changes:
        at = int(where * len(out)) if out else 0
        if kind == "drop" and out:
            del out[at]
        elif kind == "repeat" and out:
            out.insert(at, out[at])
        elif kind == "replace" and out:
            out[at] = prefix + text
        elif kind == "insert":
            out.insert(at, prefix + text)
        elif out:  # garble the value: keep the line's type, and the start of its value
            head, _, value = out[at].partition("=")
            out[at] = f"{head}={value[: len(value) // 2]}{text}"
    return "\r\n".join(out) + "\r\n"


async def _answer(sdp: str) -> bool:
    """Whether `sdp` was answered; OfferError is the one refusal allowed."""
    sessions = WebRtcSessions(direct=False, addresses=["127.0.0.1"])
    hub = PacketHub("cam")
    answered = False
    try:
        session, answer = await sessions.answer("cam", sdp, hub, on_close=lambda: None)
        answered = True
        assert answer.startswith("v=0")
        await sessions.close(session.id)
    except OfferError:
        pass
    finally:
        await sessions.close_all()
        hub.close()
    assert sessions.count("cam") == 0
    assert sessions.relay("cam") is None
    return answered


@fuzzing(150)
@given(CHANGES)
def test_any_offer_is_answered_or_refused_with_e505(
    offer: list[str], changes: list[tuple[str, float, str, str]]
) -> None:
    asyncio.run(_answer(mutated(offer, changes)))


def test_the_offer_unchanged_is_answered(offer: list[str]) -> None:
    assert asyncio.run(_answer("\r\n".join(offer) + "\r\n"))
