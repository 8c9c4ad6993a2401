"""PyAV input options per source kind."""

from __future__ import annotations

from vigil.sources.options import open_args
from vigil.sources.url import parse_source


def test_rtsp_over_tcp_with_socket_timeout_in_microseconds() -> None:
    args = open_args(parse_source("rtsp://h/x"), open_timeout=10, read_timeout=7.5)
    assert args.format == "rtsp"
    assert args.options["rtsp_transport"] == "tcp"
    assert args.options["timeout"] == "7500000"
    assert "stimeout" not in args.options
    assert args.options["protocol_whitelist"] == "rtsp,rtp,srtp,udp,tcp"
    assert args.timeout == (10, None)
    assert not args.paced


def test_whitelists_hold_only_what_the_scheme_needs() -> None:
    for url in ("rtsp://h/x", "rtmp://h/x", "http://h/x", "https://h/x", "http://h/a.m3u8"):
        whitelist = open_args(parse_source(url), 5, 5).options["protocol_whitelist"]
        assert "file" not in whitelist.split(",")
    hls = open_args(parse_source("https://h/a.m3u8"), 5, 5)
    assert hls.format == "hls" and "crypto" in hls.options["protocol_whitelist"]
    assert open_args(parse_source("https://h/x"), 5, 5).options["rw_timeout"] == "5000000"


def test_http_mjpeg_is_stamped_on_arrival_and_hls_is_not() -> None:
    # MJPEG has no timestamps of its own; FFmpeg would assume 25 fps
    http = open_args(parse_source("http://h/video.mjpg"), 5, 5)
    assert http.options["use_wallclock_as_timestamps"] == "1"
    hls = open_args(parse_source("https://h/a.m3u8"), 5, 5)
    assert "use_wallclock_as_timestamps" not in hls.options


def test_file_is_paced_and_file_only() -> None:
    args = open_args(parse_source("file:///tmp/a.mp4"), 5, 5)
    assert args.paced and args.target == "/tmp/a.mp4"
    assert args.options["protocol_whitelist"] == "file"


def test_usb_maps_to_v4l2_options() -> None:
    args = open_args(parse_source("usb:///dev/video0?size=1280x720&fps=30&format=mjpeg"), 5, 5)
    assert args.format == "v4l2" and args.target == "/dev/video0"
    assert args.options == {"video_size": "1280x720", "framerate": "30", "input_format": "mjpeg"}
