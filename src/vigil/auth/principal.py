"""A principal: who a request acts as, with its role and the cameras it may see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

ALL_CAMERAS = "*"
USER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


class UserRole(StrEnum):
    """``admin`` does everything; ``viewer`` watches its cameras and changes nothing."""

    ADMIN = "admin"
    VIEWER = "viewer"


class Via(StrEnum):
    """How a request proved who it is."""

    SESSION = "session"  # the vigil_session cookie of a browser
    TOKEN = "token"  # noqa: S105 (a name) Authorization: Bearer, for programs
    BASIC = "basic"  # HTTP Basic, on media GET routes only
    OPEN = "open"  # auth.enabled: false, on a loopback address


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: UserRole
    cameras: tuple[str, ...]
    via: Via
    session: str | None = None  # the session's id, for logout

    @property
    def is_admin(self) -> bool:
        return self.role is UserRole.ADMIN

    def sees(self, camera: str) -> bool:
        return ALL_CAMERAS in self.cameras or camera in self.cameras

    def visible(self, cameras: Iterable[str]) -> list[str]:
        return [name for name in cameras if self.sees(name)]

    @property
    def sees_all(self) -> bool:
        return ALL_CAMERAS in self.cameras


LOCAL = Principal("local", UserRole.ADMIN, (ALL_CAMERAS,), Via.OPEN)
"""Who every request is with ``auth.enabled: false`` (allowed on a loopback address only)."""
