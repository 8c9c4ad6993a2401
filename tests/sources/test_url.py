"""URL forms, rejection of unsafe input, and redaction."""

from __future__ import annotations

import pytest

from vigil.sources.url import SourceKind, SourceURLError, parse_source, redact, redact_text


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("rtsp://192.0.2.1:554/Streaming/Channels/101", SourceKind.RTSP),
        ("rtsps://cam.local/stream", SourceKind.RTSP),
        ("rtmp://192.0.2.1/live/cam", SourceKind.RTMP),
        ("http://192.0.2.1/video.mjpg", SourceKind.HTTP),
        ("https://cam.local/cgi-bin/mjpg/video.cgi?channel=1&subtype=1", SourceKind.HTTP),
        ("http://192.0.2.1/hls/stream.m3u8", SourceKind.HLS),
        ("file:///srv/clips/front.mp4", SourceKind.FILE),
        ("usb:///dev/video0?size=1280x720&fps=30&format=mjpeg", SourceKind.USB),
    ],
)
def test_url_forms(url: str, kind: SourceKind) -> None:
    assert parse_source(url).kind is kind


def test_usb_options() -> None:
    spec = parse_source("usb:///dev/video2?size=640x480&fps=15")
    assert spec.path == "/dev/video2"
    assert spec.params == {"size": "640x480", "fps": "15"}


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://h/x", "E110"),
        ("gopher://h/x", "E110"),
        ("/dev/video0", "E110"),
        ("concat:a.mp4|b.mp4", "E111"),
        ("-i rtsp://h/x", "E111"),
        ("-rtsp://h/x", "E111"),
        ("rtsp://h/x;reboot", "E111"),
        ("rtsp://h/$(id)", "E111"),
        ("rtsp://h/`id`", "E111"),
        ("rtsp://h/x y", "E111"),
        ("rtsp://h/x\nGET", "E111"),
        ("rtsp:///nohost", "E112"),
        ("rtsp://h:99999/x", "E112"),
        ("usb:///etc/passwd", "E112"),
        ("usb:///dev/video0?exec=1", "E112"),
        ("", "E112"),
    ],
)
def test_rejected(url: str, code: str) -> None:
    with pytest.raises(SourceURLError) as info:
        parse_source(url)
    assert info.value.code == code


def test_local_sources_can_be_refused() -> None:
    with pytest.raises(SourceURLError) as info:
        parse_source("file:///etc/passwd", allow_local=False)
    assert info.value.code == "E113"


def test_credentials_in_url_are_redacted_but_kept_for_opening() -> None:
    spec = parse_source("rtsp://admin:hunter2@192.0.2.1:554/s")
    assert spec.has_credentials
    assert "hunter2" in spec.open_url
    assert "hunter2" not in spec.display
    assert "admin" not in spec.display
    assert "hunter2" not in repr(spec)


def test_credentials_from_fields_are_quoted_into_the_url() -> None:
    spec = parse_source("rtsp://192.0.2.1/s", "ad min", "p@ss:w/rd")
    assert spec.open_url == "rtsp://ad%20min:p%40ss%3Aw%2Frd@192.0.2.1/s"
    assert spec.display == "rtsp://***@192.0.2.1/s"


def test_redact() -> None:
    assert redact("rtsp://u:p@h:554/x") == "rtsp://***@h:554/x"
    assert redact("http://h/v.cgi?user=admin&pwd=secret&ch=1") == (
        "http://h/v.cgi?user=***&pwd=***&ch=1"
    )
    text = "open 'rtsp://admin:hunter2@10.0.0.1/x' failed; retry http://a:b@c/d?password=zz"
    clean = redact_text(text)
    assert "hunter2" not in clean and "zz" not in clean and ":b@" not in clean
