"""Errors from PyAV become coded vigil errors, and never carry a credential."""

from __future__ import annotations

import errno

import av.error
import pytest

from vigil.config import validate_data
from vigil.errors import ConfigError
from vigil.sources.classify import classify_open_error, classify_read_error, no_video
from vigil.sources.url import parse_source

SECRET = "hunter2-S3cret"
URL = f"rtsp://admin:{SECRET}@192.0.2.7:554/Streaming/Channels/101"


def ffmpeg_error(cls: type[av.error.FFmpegError], code: int, text: str) -> av.error.FFmpegError:
    # PyAV puts the URL it was given (credentials and all) into the exception
    return cls(code, text, URL)


@pytest.mark.parametrize(
    ("error", "elapsed", "code"),
    [
        (ffmpeg_error(av.error.HTTPUnauthorizedError, -1094995529, "Unauthorized"), 0.1, "E203"),
        (ffmpeg_error(av.error.HTTPNotFoundError, -1094995529, "Not found"), 0.1, "E204"),
        (ffmpeg_error(av.error.HTTPForbiddenError, -1094995529, "Forbidden"), 0.1, "E210"),
        (ffmpeg_error(av.error.ConnectionRefusedError, errno.ECONNREFUSED, "refused"), 0.1, "E201"),
        (ffmpeg_error(av.error.TimeoutError, errno.ETIMEDOUT, "timed out"), 10.0, "E202"),
        (ffmpeg_error(av.error.InvalidDataError, -1094995529, "Invalid data"), 10.0, "E202"),
        (ffmpeg_error(av.error.InvalidDataError, -1094995529, "Invalid data"), 0.2, "E303"),
        (ffmpeg_error(av.error.OSError, errno.EIO, "I/O error"), 0.2, "E207"),
    ],
)
def test_open_errors_are_coded_and_redacted(
    error: av.error.FFmpegError, elapsed: float, code: str
) -> None:
    assert SECRET in str(error)  # what PyAV would have logged
    result = classify_open_error(error, parse_source(URL), elapsed, open_timeout=10.0)
    assert result.code == code
    for text in (str(result), result.message, repr(result), str(result.as_dict())):
        assert SECRET not in text
        assert "admin" not in text
    assert "rtsp://***@192.0.2.7:554/" in result.message


def test_read_errors_are_coded_and_redacted() -> None:
    spec = parse_source(URL)
    stall = classify_read_error(ffmpeg_error(av.error.TimeoutError, errno.ETIMEDOUT, "t"), spec)
    ended = classify_read_error(EOFError(), spec)
    for result, code in ((stall, "E205"), (ended, "E206"), (no_video(spec), "E301")):
        assert result.code == code
        assert SECRET not in str(result)


def test_config_errors_never_echo_a_password() -> None:
    with pytest.raises(ConfigError) as info:
        validate_data(
            {
                "cameras": {
                    "a": {
                        "inputs": [
                            {"url": f"ftp://admin:{SECRET}@h/x"},
                            {"url": f"rtsp://admin:{SECRET}@h/x;reboot"},
                            {"url": "rtsp://h/x", "password": 12345, "roles": ["nope"]},
                        ]
                    }
                }
            }
        )
    report = info.value.report()
    assert "[E110]" in report and "[E111]" in report
    assert SECRET not in report and SECRET not in str(info.value)
