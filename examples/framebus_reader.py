"""Read a vigil camera's frames from its frame bus, from another process.

    python examples/framebus_reader.py /dev/shm/vigil-<id>/<camera>.frames [--frames N]

Turn the bus on with ``detect.framebus: true`` for the camera; vigil logs the bus's path
when it creates it. Each frame is a gray numpy array at ``detect.width``; here we print its
number, times and mean brightness: put your own detector where the print is.
"""

from __future__ import annotations

import argparse

from vigil.framebus import FrameReader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="the bus file, e.g. /dev/shm/vigil-<id>/<camera>.frames")
    parser.add_argument("--frames", type=int, default=0, help="stop after N frames (0: never)")
    args = parser.parse_args()
    with FrameReader(args.path) as reader:
        print(f"bus {reader.width}x{reader.height}, {reader.slots} slots", flush=True)
        for count, frame in enumerate(reader.follow(), 1):
            print(
                f"frame {frame.number} at {frame.at:.3f} s (wall {frame.wall}), "
                f"mean {frame.gray.mean():.1f}, missed so far {reader.missed}",
                flush=True,
            )
            if args.frames and count >= args.frames:
                break


if __name__ == "__main__":
    main()
