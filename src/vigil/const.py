"""Constants with their units, in one place."""

from __future__ import annotations

SOURCE_OPEN_TIMEOUT = 10.0  # seconds to open an input (connect, handshake, probe)
SOURCE_STALL = 10.0  # seconds with no packet before an input is reconnected (E205)
PART_STALL = 20.0  # seconds a recorder, detector or live decoder may be stuck before replaced
BACKOFF_STEPS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # seconds between reconnect tries
BACKOFF_MAX = 30.0  # seconds
BACKOFF_UNAUTHORIZED = 300.0  # seconds: cameras lock accounts after repeated failed logins
BACKOFF_RESET_AFTER = 60.0  # seconds of healthy streaming that reset the backoff
STOP_TIMEOUT = 2.0  # seconds stop() waits for a camera's threads before abandoning them
SHUTDOWN_TIMEOUT = 10.0  # seconds for the whole service to stop on SIGTERM
SHUTDOWN_STOP_TIMEOUT = 5.0  # seconds of it for cameras to stop and close their segments
STATS_INTERVAL = 1.0  # seconds between samples of rates and CPU
STATS_WINDOW = 5.0  # seconds over which rates and cpu_pct are averaged
HUB_QUEUE_PACKETS = 256  # packets a subscriber may fall behind before it loses some
LOG_REPEAT_WINDOW = 60.0  # seconds: identical log lines within it are summarised
CAMERA_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
