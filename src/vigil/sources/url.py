"""Parse and validate camera URLs, and redact credentials out of anything shown.

Every URL that reaches a log, an error or a response goes through :func:`redact` (or
:func:`redact_text` for free text that may hold URLs).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from vigil.errors import VigilError

# Characters a shell would interpret, and whitespace: never valid in a camera URL.
_FORBIDDEN = re.compile(r"[;|`$<>\\\"'{}()\s\x00-\x1f\x7f]")
_USB_DEVICE = re.compile(r"^/dev/(video\d+|v4l/by-(id|path)/[A-Za-z0-9._:+-]+)$")
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_CRED_QUERY_KEYS = frozenset({"password", "pass", "passwd", "pwd", "user", "username", "token"})
# Bounded, so that redaction is linear: an unbounded scheme made every letter of a long
# text start a scan to its end (a 32 KB URL cost 0.66 s per log line).
_URL_IN_TEXT = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]{0,31}://)([^\s/@'\"]{1,1024}@)")
_CRED_PARAM_IN_TEXT = re.compile(
    r"(?i)\b(" + "|".join(sorted(_CRED_QUERY_KEYS)) + r")=([^&\s'\"]+)"
)
REDACTED = "***"


class SourceKind(enum.StrEnum):
    """How an input is opened."""

    RTSP = "rtsp"
    RTMP = "rtmp"
    HTTP = "http"  # MJPEG or anything FFmpeg probes over HTTP
    HLS = "hls"
    FILE = "file"
    USB = "usb"


_KIND_BY_SCHEME = {
    "rtsp": SourceKind.RTSP,
    "rtsps": SourceKind.RTSP,
    "rtmp": SourceKind.RTMP,
    "rtmps": SourceKind.RTMP,
    "http": SourceKind.HTTP,
    "https": SourceKind.HTTP,
    "file": SourceKind.FILE,
    "usb": SourceKind.USB,
}
LOCAL_KINDS = frozenset({SourceKind.FILE, SourceKind.USB})


class SourceURLError(VigilError, ValueError):
    """A URL that vigil will not open (E110-E113)."""

    code = "E112"


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A validated source. `open_url` holds credentials: never show it; show `display`."""

    kind: SourceKind
    scheme: str
    open_url: str = field(repr=False)
    display: str
    path: str = ""  # file path or USB device
    params: dict[str, str] = field(default_factory=dict)
    has_credentials: bool = False
    host: str = ""  # a network source's host, as written in the URL

    @property
    def is_local(self) -> bool:
        return self.kind in LOCAL_KINDS


def redact(url: str) -> str:
    """Return `url` with its user info and credential query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(
            f"{k}={REDACTED if k.lower() in _CRED_QUERY_KEYS else v}" for k, v in pairs
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Redact every URL user info and credential parameter found anywhere in free text."""
    text = _URL_IN_TEXT.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    return _CRED_PARAM_IN_TEXT.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


def _check_characters(url: str) -> None:
    if url.startswith("-"):
        raise SourceURLError("a URL may not start with '-'", code="E111")
    bad = _FORBIDDEN.search(url)
    if bad:
        raise SourceURLError(
            f"forbidden character {bad.group()!r} in URL {redact(url)!r}", code="E111"
        )


def parse_source(
    url: str,
    username: str | None = None,
    password: str | None = None,
    *,
    allow_local: bool = True,
) -> SourceSpec:
    """Validate `url` and return how to open it; raise :class:`SourceURLError` if it can't be."""
    if not isinstance(url, str) or not url:
        raise SourceURLError("the URL is empty", code="E112")
    _check_characters(url)
    try:
        parts = urlsplit(url)
    except ValueError as err:
        raise SourceURLError(f"malformed URL {redact(url)!r}", code="E112") from err
    scheme = parts.scheme.lower()
    kind = _KIND_BY_SCHEME.get(scheme)
    if kind is None:
        raise SourceURLError(
            f"unsupported URL scheme {scheme or '(none)'!r} in {redact(url)!r}", code="E110"
        )
    if kind in LOCAL_KINDS and not allow_local:
        raise SourceURLError(f"{scheme}:// sources come only from the config file", code="E113")
    if kind is SourceKind.FILE:
        return _parse_file(parts.netloc, parts.path, url)
    if kind is SourceKind.USB:
        return _parse_usb(parts.path, parts.query, url)
    return _parse_network(kind, scheme, parts, username, password)


def _parse_file(netloc: str, path: str, url: str) -> SourceSpec:
    if netloc not in ("", "localhost"):
        path = netloc + path  # file://relative/path.mp4
    path = unquote(path)
    if not path:
        raise SourceURLError(f"no file path in {url!r}", code="E112")
    return SourceSpec(SourceKind.FILE, "file", open_url=path, display=url, path=path)


def _parse_usb(path: str, query: str, url: str) -> SourceSpec:
    if not _USB_DEVICE.match(path):
        raise SourceURLError(
            f"USB device must look like usb:///dev/video0, not {url!r}", code="E112"
        )
    params = dict(parse_qsl(query))
    unknown = set(params) - {"size", "fps", "format"}
    if unknown:
        raise SourceURLError(f"unknown USB option(s) {sorted(unknown)} in {url!r}", code="E112")
    if "size" in params and not _SIZE.match(params["size"]):
        raise SourceURLError(f"USB size must be WIDTHxHEIGHT, not {params['size']!r}")
    if "fps" in params and not re.fullmatch(r"\d{1,3}(\.\d+)?", params["fps"]):
        raise SourceURLError(f"USB fps must be a number, not {params['fps']!r}")
    if "format" in params and not re.fullmatch(r"[a-z0-9_]{1,16}", params["format"]):
        raise SourceURLError(f"USB format must be a pixel format name, not {params['format']!r}")
    return SourceSpec(SourceKind.USB, "usb", open_url=path, display=url, path=path, params=params)


def _parse_network(
    kind: SourceKind,
    scheme: str,
    parts: object,
    username: str | None,
    password: str | None,
) -> SourceSpec:
    from urllib.parse import SplitResult

    assert isinstance(parts, SplitResult)
    try:
        host = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as err:
        raise SourceURLError(f"bad host or port in {redact(parts.geturl())!r}") from err
    if not host:
        raise SourceURLError(f"no host in {redact(parts.geturl())!r}", code="E112")
    user = username if username is not None else unquote(parts.username or "") or None
    secret = password if password is not None else unquote(parts.password or "") or None
    if kind is SourceKind.HTTP and parts.path.lower().endswith(".m3u8"):
        kind = SourceKind.HLS
    hostport = parts.netloc.rsplit("@", 1)[-1]
    userinfo = ""
    if user is not None:
        userinfo = quote(user, safe="")
        if secret is not None:
            userinfo += ":" + quote(secret, safe="")
        userinfo += "@"
    open_url = urlunsplit((scheme, userinfo + hostport, parts.path, parts.query, ""))
    display = redact(open_url)
    return SourceSpec(
        kind,
        scheme,
        open_url=open_url,
        display=display,
        has_credentials=user is not None or secret is not None,
        host=host,
    )
