"""The simulator's HTTP port: MJPEG and snapshots like cheap IP cameras, and a control API.

- ``GET /camN/snapshot.jpg`` and ``GET /camN/mjpeg`` (``multipart/x-mixed-replace``);
- ``GET /api/cameras``: each camera's faults and client count;
- ``GET /api/cameras/camN/faults`` and ``PUT`` (a JSON object of faults to change);
- ``GET /api/schedule?start=&end=``: the motion ground truth, in Unix time.

These encode JPEG, at a low rate; the RTSP streams never encode.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from fractions import Fraction
from typing import Any, Protocol

import av
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from vigil.sim.media import Scene
from vigil.sim.rtsp import SimCamera
from vigil.sim.sender import Faults

MJPEG_FPS = 5.0  # frames per second of /camN/mjpeg
JPEG_SIZE = (640, 360)
BOUNDARY = "vigilsimframe"


class Simulated(Protocol):
    """What the HTTP port serves and controls: the cameras, their clock, their faults (the
    :class:`~vigil.sim.server.Simulator` that starts this port has this shape)."""

    cameras: dict[str, SimCamera]
    epoch: float  # time.monotonic() of frame 0 of every camera

    async def set_faults(self, camera: str, changes: dict[str, object]) -> Faults: ...

    def motion_schedule(self, start: float, end: float) -> list[tuple[float, float]]: ...


class JpegSource:
    """Renders the scene at the camera clock's current frame and encodes it as JPEG."""

    def __init__(self, sim: Simulated):
        self.sim = sim
        self.scene = Scene(*JPEG_SIZE)
        clip = next(iter(sim.cameras.values())).streams["main"]
        self.fps, self.frames = clip.spec.fps, len(clip.units)

    def jpeg(self) -> bytes:
        index = int((time.monotonic() - self.sim.epoch) * self.fps) % self.frames
        image = self.scene.render(index, self.fps)
        frame = av.VideoFrame.from_ndarray(image, format="yuv420p").reformat(format="yuvj420p")
        ctx = av.CodecContext.create("mjpeg", "w")
        assert isinstance(ctx, av.VideoCodecContext)
        ctx.width, ctx.height, ctx.pix_fmt = JPEG_SIZE[0], JPEG_SIZE[1], "yuvj420p"
        ctx.time_base = Fraction(1, 25)
        return b"".join(bytes(p) for p in ctx.encode(frame))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _Routes:
    """The HTTP port's handlers, over one simulator."""

    def __init__(self, sim: Simulated):
        self.sim = sim
        self.source = JpegSource(sim)

    def _camera(self, request: Request) -> str | None:
        name = str(request.path_params["cam"])
        return name if name in self.sim.cameras else None

    async def snapshot(self, request: Request) -> Response:
        if self._camera(request) is None:
            return _error(404, "no such camera")
        data = await asyncio.to_thread(self.source.jpeg)
        return Response(data, media_type="image/jpeg")

    async def mjpeg(self, request: Request) -> Response:
        if self._camera(request) is None:
            return _error(404, "no such camera")
        media = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        return StreamingResponse(self._parts(), media_type=media)

    async def _parts(self) -> AsyncIterator[bytes]:
        while True:
            data = await asyncio.to_thread(self.source.jpeg)
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}"
            yield head.encode() + b"\r\n\r\n" + data + b"\r\n"
            await asyncio.sleep(1 / MJPEG_FPS)

    async def cameras(self, request: Request) -> Response:
        return JSONResponse(
            {
                name: {
                    "clients": cam.clients,
                    "faults": dataclasses.asdict(cam.faults),
                    "streams": {
                        s: [c.spec.width, c.spec.height, c.spec.fps] for s, c in cam.streams.items()
                    },
                }
                for name, cam in self.sim.cameras.items()
            }
        )

    async def faults(self, request: Request) -> Response:
        name = self._camera(request)
        if name is None:
            return _error(404, "no such camera")
        if request.method == "PUT":
            try:
                changes: Any = await request.json()
                if not isinstance(changes, dict):
                    raise ValueError("send a JSON object of faults")
                await self.sim.set_faults(name, changes)
            except KeyError as err:
                return _error(422, f"unknown fault {err.args[0]!r}")
            except ValueError as err:
                return _error(422, str(err))
        return JSONResponse(dataclasses.asdict(self.sim.cameras[name].faults))

    async def schedule(self, request: Request) -> Response:
        now = time.time()
        try:
            start = float(request.query_params.get("start", now - 60))
            end = float(request.query_params.get("end", now + 60))
        except ValueError:
            return _error(422, "start and end are Unix times")
        windows = self.sim.motion_schedule(start, end)
        return JSONResponse({"motion": [{"start": a, "end": b} for a, b in windows]})


def build_app(sim: Simulated) -> Starlette:
    routes = _Routes(sim)
    return Starlette(
        routes=[
            Route("/{cam}/snapshot.jpg", routes.snapshot),
            Route("/{cam}/mjpeg", routes.mjpeg),
            Route("/api/cameras", routes.cameras),
            Route("/api/cameras/{cam}/faults", routes.faults, methods=["GET", "PUT"]),
            Route("/api/schedule", routes.schedule),
        ]
    )


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the simulator's loop: signals belong to the simulator, not to it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def start_http(
    sim: Simulated, host: str, port: int
) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve the HTTP port on the running loop; returns the server and its task."""
    config = uvicorn.Config(
        build_app(sim), host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task  # raises what stopped it (a port in use, say)
            raise OSError(f"HTTP port {port} did not start")
        await asyncio.sleep(0.02)
    return server, task
