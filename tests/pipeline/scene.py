"""The simulator's scene as small files, for detection tests that decode as fast as they can."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vigil.sim.media import CLOCK_REGION, Scene

WIDTH, HEIGHT, FPS, GOP = 320, 180, 15, 30  # a camera's sub-stream, at test size
# the burnt-in clock (top left), masked as a user would mask a camera's clock
CLOCK_MASK = CLOCK_REGION


class StillScene(Scene):
    """The scene with its object parked: nothing moves but sensor noise and the clock."""

    def _object(self, luma: np.ndarray, t: float) -> None:
        super()._object(luma, 0.0)


def encode_scene(path: Path, seconds: float, *, still: bool = False, noise: float = 2.0) -> Path:
    """`seconds` of the scene at 320x180 15 fps, GOP 30, no B-frames, like the simulator's
    sub-stream; `noise` adds Gaussian sensor noise (standard deviation in levels) per frame
    on top of the scene's own."""
    rng = np.random.default_rng(3)
    scene = (StillScene if still else Scene)(WIDTH, HEIGHT)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.gop_size = GOP
        stream.codec_context.max_b_frames = 0
        stream.codec_context.time_base = Fraction(1, FPS)
        stream.options = {
            "preset": "ultrafast",
            "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0",
        }
        for index in range(int(seconds * FPS)):
            picture = scene.render(index, FPS).astype(np.int16)
            if noise:
                picture[:HEIGHT] += rng.normal(0, noise, (HEIGHT, WIDTH)).astype(np.int16)
            frame = av.VideoFrame.from_ndarray(
                np.clip(picture, 0, 255).astype(np.uint8), format="yuv420p"
            )
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
