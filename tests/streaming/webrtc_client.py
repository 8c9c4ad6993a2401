"""A WebRTC viewer for tests: an aiortc peer that offers to receive video over WHEP and
collects the decoded frames."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx2 as httpx
from aiortc import RTCPeerConnection, RTCSessionDescription


class Viewer:
    """An aiortc viewer: offers to receive video, collects decoded frames."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.pc.addTransceiver("video", direction="recvonly")
        self.frames: list[Any] = []
        self.location = ""
        self.readers: list[asyncio.Future[None]] = []

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self.readers.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: Any) -> None:
        while True:
            try:
                self.frames.append(await track.recv())
            except Exception:
                return

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def connect(self, url: str) -> httpx.Response:
        sdp = await self.offer()
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                url, content=sdp, headers={"content-type": "application/sdp"}
            )
        if response.status_code == 201:
            self.location = response.headers["location"]
            answer = RTCSessionDescription(sdp=response.text, type="answer")
            await self.pc.setRemoteDescription(answer)
        return response

    async def wait_frames(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.frames) < count:
            assert time.monotonic() < deadline, f"only {len(self.frames)} frames"
            await asyncio.sleep(0.1)
