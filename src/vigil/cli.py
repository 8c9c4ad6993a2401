"""The ``vigil`` command: run, demo, sim, check-config, bench, user, token."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import io
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.bench.profiles import PROFILES, profile_help
from vigil.errors import ConfigError

if TYPE_CHECKING:
    from vigil.sim.media import ClipSpec

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]  # add_subparsers()'s

EXIT_OK = 0
EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="vigil, a camera system (NVR)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_run, _add_demo, _add_sim, _add_check_config, _add_bench):
        add(sub)
    from vigil.admin import add_commands

    add_commands(sub)
    return parser


def _add_run(sub: Subparsers) -> None:
    run = sub.add_parser("run", help="run the server")
    run.add_argument("--config", required=True, type=Path, help="the YAML config file")


def _add_demo(sub: Subparsers) -> None:
    demo = sub.add_parser("demo", help="simulator plus server, no config needed")
    demo.add_argument("--cameras", type=int, default=4)
    demo.add_argument("--port", type=int, default=8080, help="HTTP port of the server")
    demo.add_argument("--sim-port", type=int, default=8554, help="RTSP port of the simulator")
    demo.add_argument("--sim-http-port", type=int, default=8555, help="its HTTP port")
    demo.add_argument("--data", type=Path, default=Path("vigil-data/demo"), help="data folder")


def _add_sim(sub: Subparsers) -> None:
    sim = sub.add_parser("sim", help="serve simulated cameras over RTSP")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8554)
    sim.add_argument("--http-port", type=int, default=8555, help="0 turns it off")
    sim.add_argument("--cameras", type=int, default=4)
    sim.add_argument("--auth", action="append", default=[], metavar="camN:USER:PASS")
    sim.add_argument("--fault", action="append", default=[], metavar="camN:FAULT[=VALUE]")
    sim.add_argument(
        "--audio", action="append", default=[], metavar="camN:pcmu|aac", help="add audio"
    )
    sim.add_argument(
        "--h265", action="append", default=[], metavar="camN", help="H.265 main stream"
    )
    sim.add_argument("--main-size", default="1920x1080", help="WIDTHxHEIGHT of main streams")
    sim.add_argument("--main-fps", type=int, default=30)
    sim.add_argument("--main-gop", type=int, default=None, help="frames per GOP (2 x fps)")
    sim.add_argument("--main-bitrate", type=int, default=4_000_000, help="bits per second")
    sim.add_argument("--sub-size", default="640x360", help="WIDTHxHEIGHT of sub-streams")
    sim.add_argument("--sub-fps", type=int, default=15)
    sim.add_argument("--sub-gop", type=int, default=None, help="frames per GOP (2 x fps)")
    sim.add_argument("--sub-bitrate", type=int, default=500_000, help="bits per second")
    sim.add_argument("--seconds", type=float, default=20.0, help="clip length")
    sim.add_argument("--still", action="store_true", help="a still scene: the object never moves")
    sim.add_argument(
        "--rtp-payload", type=int, default=1400, help="largest RTP payload in bytes (1400)"
    )


def _add_check_config(sub: Subparsers) -> None:
    check = sub.add_parser("check-config", help="validate a config file; exit 2 if invalid")
    check.add_argument("file", type=Path)


def _add_bench(sub: Subparsers) -> None:
    bench = sub.add_parser("bench", help="measure CPU and memory per camera")
    bench.add_argument("--cameras", type=int, default=8)
    bench.add_argument("--seconds", type=float, default=30.0)
    bench.add_argument(
        "--profile", default="ingest", choices=list(PROFILES), metavar="P", help=profile_help()
    )
    bench.add_argument(
        "--live-input",
        choices=["sub", "main"],
        default="sub",
        help="live profile: the stream watched (sub: shares the detect decoder)",
    )
    bench.add_argument(
        "--viewers", type=int, default=10, help="live profile: MJPEG viewers at once (10)"
    )
    bench.add_argument(
        "--idle-after",
        default="60",
        help="detect profiles: detect.idle_keyframes_after_seconds, or 'off' (60)",
    )
    bench.add_argument(
        "--event-gap", type=float, default=10.0, help="detect profiles: motion.event_gap_seconds"
    )
    bench.add_argument("--sim-still", action="store_true", help="a still scene: nothing moves")
    bench.add_argument(
        "--governor-hold", type=float, default=30.0, help="governor.hold_seconds (30)"
    )
    bench.add_argument(
        "--sim-size", default=None, help="WIDTHxHEIGHT of the simulated main streams (1920x1080)"
    )
    bench.add_argument("--sim-fps", type=int, default=None, help="their frame rate (30)")
    bench.add_argument(
        "--sim-rtp-payload", type=int, default=None, help="simulator's RTP payload size (1400)"
    )
    bench.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    bench.add_argument(
        "--workers",
        default="1",
        help="vigil's profiles: server.workers, worker processes for the cameras (N or auto; 1)",
    )
    bench.add_argument(
        "--processes",
        type=int,
        default=1,
        help="bare-detect: interpreters its cameras are spread over (1)",
    )
    bench.add_argument(
        "--segment-seconds", type=float, default=10.0, help="record profile: segment length"
    )
    bench.add_argument(
        "--record-codec",
        choices=["copy", "h264", "h265"],
        default=None,
        help="record profile: record.codec (copy)",
    )
    bench.add_argument("--record-preset", default=None, help="record profile: record.preset")
    bench.add_argument(
        "--record-encoder", default=None, help="record profile: record.encoder (auto)"
    )
    bench.add_argument(
        "--sim-audio", choices=["pcmu", "aac"], default=None, help="give every camera audio"
    )
    bench.add_argument("--sim-h265", action="store_true", help="H.265 main streams")
    bench.add_argument(
        "--days", type=float, default=30.0, help="retention profile: days of footage indexed (30)"
    )
    bench.add_argument("--kills", type=int, default=10, help="chaos profile: kill -9s (10)")
    bench.add_argument("--minutes", type=float, default=30.0, help="soak profile: length (30)")
    bench.add_argument(
        "--mjpeg-cycles", type=int, default=10_000, help="churn profile: MJPEG viewers (10000)"
    )
    bench.add_argument(
        "--webrtc-cycles", type=int, default=1_000, help="churn profile: WebRTC viewers (1000)"
    )
    bench.add_argument(
        "--seed", type=int, default=None, help="chaos profile: of its random moments (new)"
    )
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # a crash in native code (FFmpeg, numpy) prints every thread's Python stack to stderr
    with contextlib.suppress(io.UnsupportedOperation, ValueError):  # stderr without a file
        faulthandler.enable()
    from vigil.log import setup_logging

    setup_logging(args.log_level.upper())
    handler = {
        "run": _run,
        "demo": _demo,
        "sim": _sim,
        "check-config": _check_config,
        "bench": _bench,
        "user": _admin,
        "token": _admin,
        "storage": _admin,
        "workers": _admin,
    }[args.command]
    try:
        return handler(args)
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _check_config(args: argparse.Namespace) -> int:
    from vigil.config import load_config

    config = load_config(args.file)
    print(f"{args.file}: OK ({len(config.cameras)} camera(s))")
    return EXIT_OK


def _admin(args: argparse.Namespace) -> int:
    from vigil.admin import run

    return run(args)


def _run(args: argparse.Namespace) -> int:
    from vigil.server import serve

    return serve(args.config)


def _demo(args: argparse.Namespace) -> int:
    from vigil.demo import run_demo

    return run_demo(args.cameras, args.port, args.data, args.sim_port, args.sim_http_port)


def _clip_spec(
    size: str, fps: int, gop: int | None, bitrate: int, seconds: float, still: bool = False
) -> ClipSpec:
    from vigil.sim.media import ClipSpec

    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise SystemExit(f"a size is WIDTHxHEIGHT, not {size!r}")
    return ClipSpec(int(width), int(height), fps, gop or 2 * fps, bitrate, seconds, still=still)


def _sim(args: argparse.Namespace) -> int:
    from vigil.sim.server import (
        Simulator,
        build_cameras,
        parse_audio,
        parse_auth,
        parse_fault,
        serve,
    )

    main_spec = _clip_spec(
        args.main_size, args.main_fps, args.main_gop, args.main_bitrate, args.seconds, args.still
    )
    sub_spec = _clip_spec(
        args.sub_size, args.sub_fps, args.sub_gop, args.sub_bitrate, args.seconds, args.still
    )
    try:
        faults = [parse_fault(item) for item in args.fault]
        audio = parse_audio(args.audio)
        auth = parse_auth(args.auth)
    except ValueError as err:
        print(f"vigil sim: {err}", file=sys.stderr)
        return EXIT_CONFIG
    unknown = {cam for cam, _ in faults} - {f"cam{n}" for n in range(1, args.cameras + 1)}
    if unknown:
        print(f"vigil sim: --fault names unknown camera(s) {sorted(unknown)}", file=sys.stderr)
        return EXIT_CONFIG
    cameras = build_cameras(
        args.cameras,
        main_spec,
        sub_spec,
        auth=auth,
        rtp_payload=args.rtp_payload,
        alt=any(changes.get("resolution") == "alt" for _, changes in faults),
        audio=audio,
        h265=args.h265,
    )
    for cam, changes in faults:
        cameras[cam].faults.update(changes)
    http_port = args.http_port if args.http_port > 0 else None
    sim = Simulator(cameras, args.host, args.port, http_port, rtp_payload=args.rtp_payload)
    asyncio.run(serve(sim))
    return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    from vigil.bench.options import BenchOptions, DetectOptions
    from vigil.bench.profiles import run

    options = BenchOptions(
        cameras=args.cameras,
        seconds=args.seconds,
        warmup=args.warmup,
        as_json=args.json,
        sim_args=_bench_sim_args(args),
        segment_seconds=args.segment_seconds,
        record_options={
            key: value
            for key, value in (
                ("codec", args.record_codec),
                ("preset", args.record_preset),
                ("encoder", args.record_encoder),
            )
            if value
        },
        detect=DetectOptions(
            idle_after=None if args.idle_after == "off" else float(args.idle_after),
            event_gap=args.event_gap,
            governor_hold=args.governor_hold,
        ),
        viewers=args.viewers,
        live_input=args.live_input,
        days=args.days,
        kills=args.kills,
        minutes=args.minutes,
        mjpeg_cycles=args.mjpeg_cycles,
        webrtc_cycles=args.webrtc_cycles,
        seed=args.seed,
        workers=_workers(args.workers),
        processes=args.processes,
    )
    return run(args.profile, options)


def _workers(value: str) -> int:
    """``--workers``: a number, or auto (the cores this process may run on)."""
    if value == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    try:
        workers = int(value)
    except ValueError:
        workers = 0
    if workers < 1:
        raise SystemExit(f"vigil bench: --workers is a number of 1 or more, or auto, not {value!r}")
    return workers


def _bench_sim_args(args: argparse.Namespace) -> tuple[str, ...]:
    """The simulator's options for a bench run: stream size and rate, audio, H.265."""
    sim_args: list[str] = []
    if args.sim_size:
        sim_args += ["--main-size", args.sim_size]
    if args.sim_fps:
        sim_args += ["--main-fps", str(args.sim_fps)]
    if args.sim_rtp_payload:
        sim_args += ["--rtp-payload", str(args.sim_rtp_payload)]
    if args.sim_still:
        sim_args += ["--still"]
    for n in range(1, args.cameras + 1):
        if args.sim_audio:
            sim_args += ["--audio", f"cam{n}:{args.sim_audio}"]
        if args.sim_h265:
            sim_args += ["--h265", f"cam{n}"]
    return tuple(sim_args)


if __name__ == "__main__":  # pragma: no cover
    logging.captureWarnings(True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
