"""The exception hierarchy and the catalogue of stable error codes.

Longer than 400 lines because the catalogue is one table: every code with its title, hint
and HTTP status, where a reader (and the docs test) finds them all.

Every error vigil logs or returns carries a code from :data:`CATALOGUE`; `docs/errors.md`
explains each one, and a test keeps the two in step. Like PyAV's errors, the subclasses
also inherit the matching builtin, so ``except ValueError`` still works where it should.

The core raises errors with a code only. Each code's entry carries the HTTP status an API
answer with it has, and :mod:`vigil.api.errors`, the one place that speaks HTTP, maps the
code to that status.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What a code means, what a user should do about it, and the HTTP status of an API
    answer that carries it."""

    title: str
    hint: str
    status: int = 500


CATALOGUE: dict[str, ErrorInfo] = {
    # E1xx: config
    "E100": ErrorInfo("config file unreadable", "Check the path and its permissions.", 422),
    "E101": ErrorInfo("YAML syntax error", "Fix the YAML at the line shown.", 422),
    "E102": ErrorInfo(
        "unknown key", "Remove the key or fix its spelling; see docs/config.md.", 422
    ),
    "E103": ErrorInfo(
        "invalid value", "Give a value of the type and range docs/config.md shows.", 422
    ),
    "E104": ErrorInfo("missing key", "Add the required key.", 422),
    "E105": ErrorInfo("duplicate key", "Each camera and each key may appear only once.", 422),
    "E106": ErrorInfo(
        "missing environment variable",
        "Export the variable, or write ${VAR:-default} to give a default.",
        422,
    ),
    "E107": ErrorInfo(
        "config write failed",
        "Check free space and permissions of the config file's folder; the file is unchanged.",
        500,
    ),
    "E110": ErrorInfo(
        "unsupported URL scheme",
        "Use rtsp, rtsps, rtmp, rtmps, http, https, file or usb; see docs/sources.md.",
        422,
    ),
    "E111": ErrorInfo(
        "forbidden characters in URL",
        "A URL may not start with '-' or hold shell metacharacters or spaces.",
        422,
    ),
    "E112": ErrorInfo(
        "malformed URL", "Give a URL with a host (network) or a path (file, usb).", 422
    ),
    "E113": ErrorInfo(
        "local source not allowed here",
        "file:// and usb:// sources can only be set in the config file, not through the API.",
        422,
    ),
    "E114": ErrorInfo(
        "invalid camera name",
        "Use 1-64 letters, digits, '_' or '-', starting with a letter or digit.",
        422,
    ),
    "E115": ErrorInfo(
        "invalid input roles",
        "Give each camera at least one input; each role (record, detect, live) on one input.",
        422,
    ),
    # E2xx: source and connection
    "E116": ErrorInfo(
        "control character in a credential",
        "User names and passwords may not hold control characters (newlines, tabs, NUL).",
        422,
    ),
    "E117": ErrorInfo("URL too long", "A camera URL is at most 2 KiB.", 422),
    "E118": ErrorInfo(
        "camera address refused",
        "The host is link-local, a cloud metadata service, or outside server.camera_networks: "
        "list its network in server.camera_networks if it really is a camera.",
        422,
    ),
    "E201": ErrorInfo(
        "connection refused",
        "The camera is up but nothing listens on that port: check port.",
        502,
    ),
    "E202": ErrorInfo(
        "camera does not answer",
        "Check the address, that the camera is powered and on the network, and firewalls.",
        502,
    ),
    "E203": ErrorInfo(
        "unauthorized (401)",
        "Check the username and password. vigil waits at least 5 minutes between tries, "
        "because cameras lock accounts after repeated failed logins.",
        502,
    ),
    "E204": ErrorInfo(
        "stream not found (404)",
        "Check the stream path; see docs/sources.md for your make.",
        502,
    ),
    "E205": ErrorInfo(
        "stream stalled",
        "No packet arrived for the stall timeout; vigil reconnects. A recurring stall points "
        "at the network or an overloaded camera.",
        502,
    ),
    "E206": ErrorInfo("stream ended", "The camera closed the stream; vigil reconnects.", 502),
    "E207": ErrorInfo(
        "source error",
        "A network or protocol error not covered by another code; see message.",
        502,
    ),
    "E208": ErrorInfo(
        "USB device not found",
        "Check that the device exists (ls /dev/video*) and is readable.",
        502,
    ),
    "E209": ErrorInfo("host name not resolved", "Check the host name and DNS.", 502),
    "E210": ErrorInfo("access forbidden (403)", "The account lacks the right to this stream.", 502),
    "E211": ErrorInfo("file not found", "Check the path of the file:// source.", 502),
    # E3xx: decode and hwaccel
    "E301": ErrorInfo(
        "no video in the stream",
        "The source answered but carries no video track; check the stream path.",
    ),
    "E302": ErrorInfo(
        "hardware decoding unavailable",
        "The requested hwaccel could not be opened; vigil decodes in software instead.",
    ),
    "E303": ErrorInfo(
        "invalid stream data",
        "The source sent data FFmpeg cannot parse; check the URL points at a video stream.",
    ),
    "E304": ErrorInfo(
        "encoder unavailable",
        "The hardware encoder (NVENC/QSV) could not be opened; vigil encodes in software "
        "instead. With no encoder at all for record.codec, that camera is not recorded.",
    ),
    "E305": ErrorInfo(
        "frame bus unavailable",
        "Shared memory (/dev/shm) is full or missing: raise the container's --shm-size, or "
        "turn detect.framebus off; or detect.framebus_group names a group vigil's user isn't "
        "in. Detection and recording go on.",
    ),
    "E306": ErrorInfo(
        "detection interrupted",
        "Detection met an unexpected error; it goes on at the next key frame after a short "
        "wait (1 s, growing to 30 s while it repeats). Recording is not affected. See the "
        "log's message; report it if it repeats.",
    ),
    "E307": ErrorInfo(
        "detection stalled",
        "Detection went 20 s without going round its loop (a decoder that hangs, a database "
        "held locked): a new detector took over and the stuck one was abandoned. The message "
        "says where it was stuck; report it if it repeats. Recording is not affected.",
    ),
    # E4xx: recording and storage
    "E401": ErrorInfo("storage error", "Check the storage path, free space and permissions."),
    "E402": ErrorInfo(
        "segment write failed",
        "The segment in progress was closed; recording resumes at the next key frame. "
        "Check free space and the storage path.",
    ),
    "E403": ErrorInfo(
        "partial segment quarantined",
        "A segment left by a crash could not be recovered; it was moved to quarantine/ "
        "under the storage path for inspection.",
    ),
    "E404": ErrorInfo(
        "disk full",
        "Recording pauses and retention deletes the oldest footage at once; it resumes at the "
        "next key frame once there is space. Lower retention or add disk.",
    ),
    "E405": ErrorInfo(
        "no recordings in range",
        "Nothing was recorded for that camera between start and end; list what there is with "
        "GET /api/recordings?camera=.",
        404,
    ),
    "E406": ErrorInfo(
        "database on a network filesystem",
        "SQLite's locking is unreliable over NFS/SMB: put storage.db_path on a local disk "
        "(the recordings may stay on the share).",
    ),
    "E407": ErrorInfo(
        "free space low",
        "Free space fell below storage.retention.min_free_gb; retention deletes the oldest "
        "footage now rather than at its next run. Lower retention or add disk.",
    ),
    "E408": ErrorInfo(
        "segments missing from disk",
        "Indexed segments were not found at start; their rows are kept, marked missing. If a "
        "disk is not mounted, mount it and restart: files that are back clear the mark.",
    ),
    "E409": ErrorInfo(
        "not the storage the index knows",
        "storage.path lacks the marker file (.vigil-storage-id) the database recorded: an "
        "unmounted disk, or another folder. Nothing is recorded there and the index is left "
        "alone; mount the disk and restart, or for a new disk on purpose run "
        "`vigil storage adopt --config FILE` (docs/reliability.md).",
        503,
    ),
    "E410": ErrorInfo(
        "storage in use",
        "Another vigil runs on this storage folder or database; stop it first. Two on one "
        "storage would truncate each other's segments.",
    ),
    "E411": ErrorInfo(
        "recording interrupted",
        "The recorder met an unexpected error (a database locked or read-only, a bug): the "
        "open segment was closed, and recording goes on at the next key frame after a short "
        "wait (1 s, growing to 30 s while it repeats). Packets queued meanwhile are kept.",
    ),
    "E412": ErrorInfo(
        "footage could not be deleted",
        "Retention couldn't delete a segment's file (permissions, a read-only or busy file); "
        "its row is kept, the next oldest is taken instead, and it is tried again at the next "
        "run. Check the file's owner and the disk.",
    ),
    "E413": ErrorInfo(
        "camera timestamps jumped",
        "The camera's clock went back, or forward by more than 5 s, between two frames: the "
        "segment was cut there and the next starts at the next key frame. Frequent jumps "
        "point at the camera's NTP settings or firmware.",
    ),
    "E414": ErrorInfo(
        "recorder stalled",
        "The recorder went 20 s without going round its loop (a write to a hung network "
        "share, a database held locked): a new recorder took over from the next key frame, "
        "and the stuck one finishes its segment if its call ever returns. The message says "
        "where it was stuck: check that disk or the database.",
    ),
    "E415": ErrorInfo(
        "recorder behind: packets dropped",
        "The recorder fell more than record.queue_seconds behind the camera (a slow disk, a "
        "busy machine), so packets were dropped and recording resumed at the next key frame. "
        "Check the disk's speed and the machine's load, or raise record.queue_seconds (a "
        "kill -9 then loses up to that much).",
    ),
    "E416": ErrorInfo(
        "wall clock stepped",
        "The machine's clock jumped (NTP setting it at boot, a change by hand), or is behind "
        "a camera's recorded footage. Segments never overlap: a new one starts where the "
        "last ends, or by the clock once it is ahead again. Retention counts the steps vigil "
        "saw out of the footage's age (GET /api/system lists them). Run NTP, and on a "
        "machine without a battery-backed clock start vigil after it has synced.",
    ),
    "E417": ErrorInfo(
        "disk filled by something else",
        "Free space stays under storage.retention.min_free_gb though retention deleted, in "
        "the last hour, more footage than vigil recorded plus min_free_gb: another program "
        "is filling the disk. Retention stops deleting for it, so the archive is not handed "
        "over a segment at a time; recording meets the full disk (E404) and resumes once "
        "there is room. Find what fills the disk, or give the recordings their own.",
    ),
    # E5xx: streaming
    "E501": ErrorInfo("streaming error", "See the message.", 500),
    "E502": ErrorInfo(
        "no frame",
        "The camera gave no frame in time: it is stopped, connecting or failing. See its "
        "state and last_error in GET /api/cameras/{name}.",
        503,
    ),
    "E503": ErrorInfo(
        "WebRTC needs H.264",
        "The live input isn't H.264 (H.265, MJPEG): watch it as MJPEG, or give the camera an "
        "H.264 input with the live role.",
        409,
    ),
    "E504": ErrorInfo(
        "too many WebRTC sessions",
        "live.webrtc_max_sessions viewers already watch this camera; close one or raise it.",
        503,
    ),
    "E505": ErrorInfo(
        "bad SDP offer", "Send a WebRTC SDP offer (application/sdp) with video.", 400
    ),
    "E506": ErrorInfo(
        "too many MJPEG viewers",
        "live.mjpeg_max_viewers watch this camera, or server.mjpeg_max_viewers in all: close a "
        "viewer, or raise the cap.",
        503,
    ),
    "E507": ErrorInfo(
        "live view interrupted",
        "Decoding or JPEG encoding for live view met an unexpected error: the next frame "
        "comes after a short wait (1 s, growing to 30 s while it repeats). Detection and "
        "recording are not affected. Report it if it repeats.",
    ),
    "E508": ErrorInfo(
        "live decoding stalled",
        "Live view's decoder went 20 s without going round its loop: a new one took over and "
        "the stuck one was abandoned. Report it with the message, which says where it hung.",
    ),
    # E6xx: API and auth
    "E600": ErrorInfo("internal error", "A bug: please report it with the log around it.", 500),
    "E601": ErrorInfo("camera not found", "Check the camera name with GET /api/cameras.", 404),
    "E602": ErrorInfo("invalid request", "Fix the fields named in `errors`.", 422),
    "E603": ErrorInfo("camera already exists", "Pick another name, or PUT to replace it.", 409),
    "E604": ErrorInfo("not found", "Check the URL.", 404),
    "E605": ErrorInfo("method not allowed", "Check the HTTP method for this endpoint.", 405),
    "E606": ErrorInfo(
        "camera is not recording",
        "Events mark or record footage: start the camera, with record.mode continuous or events.",
        409,
    ),
    "E608": ErrorInfo(
        "local source refused",
        "file:// and usb:// sources come only from the config file, never through the API.",
        403,
    ),
    "E607": ErrorInfo(
        "export too long",
        "Ask for at most record.export_max_minutes, or raise it in the camera's config; "
        "export longer spans in parts.",
        400,
    ),
    "E609": ErrorInfo(
        "not logged in",
        "Log in (POST /api/auth/login), or send a token as Authorization: Bearer.",
        401,
    ),
    "E610": ErrorInfo(
        "not allowed",
        "Your role or your cameras don't cover this; an admin can change them.",
        403,
    ),
    "E611": ErrorInfo("login failed", "Check the user name and password.", 401),
    "E612": ErrorInfo(
        "too many login attempts", "Wait for the time in Retry-After, then try again.", 429
    ),
    "E613": ErrorInfo(
        "cross-site request refused",
        "A change must come from vigil's own page (same Origin) or carry a bearer token.",
        403,
    ),
    "E614": ErrorInfo(
        "unsupported content type",
        "Send the body as application/json (application/sdp for a WebRTC offer).",
        415,
    ),
    "E615": ErrorInfo(
        "host not allowed",
        "Reach vigil by a name in server.allowed_hosts, or add this one there.",
        400,
    ),
    "E616": ErrorInfo(
        "request body too large", "A JSON body is at most 256 KiB, an SDP offer 64 KiB.", 413
    ),
    "E617": ErrorInfo(
        "auth can't be off here",
        "auth.enabled: false is allowed only when server.host is a loopback address; "
        "turn auth on, or bind 127.0.0.1.",
        422,
    ),
    "E618": ErrorInfo(
        "variables aren't expanded in API values",
        "${...} is expanded only in the config file; send the value itself through the API.",
        422,
    ),
    "E619": ErrorInfo("user already exists", "Pick another name, or change that user.", 409),
    "E701": ErrorInfo(
        "a worker process died",
        "A camera worker ended (a crash, an OOM kill, a signal): it is started again with its "
        "cameras, after a growing pause if it keeps dying. Look for the cause in the log and "
        "the kernel's (dmesg) around it.",
        500,
    ),
    "E702": ErrorInfo(
        "the camera's worker is restarting",
        "Its worker process did not answer, or was restarted while the request ran: try again "
        "in a few seconds.",
        503,
    ),
    "E703": ErrorInfo(
        "the camera runs in a worker process",
        "What was asked needs the camera in the main process, and it runs in a worker: a bug, "
        "since every route reaches cameras in workers. Report it, with the log.",
        409,
    ),
}


class VigilError(Exception):
    """Base of every vigil error: a stable code, a message safe to show, and the camera."""

    code: str = "E600"
    status: int | None = None  # the HTTP status, where it differs from its code's

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        camera: str | None = None,
        status: int | None = None,
    ):
        super().__init__(message)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if self.code not in CATALOGUE:
            raise KeyError(f"error code {self.code} is not in the catalogue")
        self.message = message
        self.camera = camera

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def as_dict(self) -> dict[str, str]:
        """The `{code, message}` shape of the API's `last_error`, as plain data."""
        return asdict(self.detail())

    def detail(self) -> ErrorDetail:
        """The error as a status shows it: its code and message (never a credential)."""
        return ErrorDetail(self.code, self.message)


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """An error as the API's ``last_error`` shows it."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field of a config file or request body."""

    path: str
    code: str
    message: str
    line: int | None = None

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}


class ConfigError(VigilError, ValueError):
    """A config file (or body) that does not validate; holds every error found at once."""

    code = "E103"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        file: str | None = None,
        errors: list[FieldError] | None = None,
    ):
        super().__init__(message, code=code or (errors[0].code if errors else None))
        self.file = file
        self.errors = errors or []

    def report(self) -> str:
        """A multi-line report: one line per error with file, line, key path, code and hint."""
        where = self.file or "<config>"
        if not self.errors:
            return f"{where}: {self}"
        lines = [f"{where}: {len(self.errors)} error(s)"]
        for err in self.errors:
            loc = f"{where}:{err.line}" if err.line else where
            hint = CATALOGUE[err.code].hint
            lines.append(f"  {loc}: {err.path or '<root>'}: [{err.code}] {err.message}")
            lines.append(f"      hint: {hint}")
        return "\n".join(lines)


class SourceError(VigilError, ConnectionError):
    """A camera input could not be opened or read (E2xx)."""

    code = "E207"


class DecodeError(VigilError, RuntimeError):
    """A stream that can't be decoded, or a hardware decoder that can't be opened (E3xx)."""

    code = "E303"


class StorageError(VigilError, OSError):
    """Recording or database trouble (E4xx)."""

    code = "E401"


class StreamingError(VigilError, RuntimeError):
    """Live view trouble (E5xx)."""

    code = "E501"


class RequestError(VigilError):
    """A request the service refuses (E6xx): the name is taken, the camera isn't recording, a
    source that only the config file may give. `errors` names the bad fields, if any."""

    code = "E602"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        camera: str | None = None,
        errors: list[FieldError] | None = None,
    ):
        super().__init__(message, code=code, camera=camera)
        self.errors = errors or []


class CameraNotFound(RequestError, LookupError):
    """No camera of that name."""

    def __init__(self, name: str):
        super().__init__(f"no camera named {name!r}", code="E601", camera=name)
