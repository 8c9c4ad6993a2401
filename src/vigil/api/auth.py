"""``/api/auth``: log in and out, who am I, tokens for programs, and (admins) the users.

The login itself (``POST /api/auth/login``) and the one-time link printed at first start
are public; the rest needs a user. Every change is written to the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from vigil.api.errors import ApiError
from vigil.api.guard import SESSION_COOKIE, AdminDep, UserDep, client_address
from vigil.api.schemas import error_responses
from vigil.auth import Access, Principal, UserRole
from vigil.auth.principal import USER_NAME_PATTERN
from vigil.auth.store import TokenRow, UserRow
from vigil.const import CAMERA_NAME_PATTERN

public_router = APIRouter(prefix="/api/auth", tags=["auth"])
router = APIRouter(prefix="/api/auth", tags=["auth"], responses=error_responses(401, 403, 404))


def get_access(request: Request) -> Access:
    access: Access | None = request.app.state.services.access
    if access is None:
        raise ApiError("auth is off on this server (auth.enabled: false)", code="E604")
    return access


AccessDep = Annotated[Access, Depends(get_access)]


PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
PASSWORD_FIELD = Field(min_length=8, max_length=1024, pattern=PRINTABLE)
CAMERA_ITEM = rf"^(\*|{CAMERA_NAME_PATTERN[1:-1]})$"  # a camera's name, or * for all


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Credentials(_In):
    username: str = Field(max_length=256)
    password: str = Field(max_length=1024)


class Me(BaseModel):
    name: str
    role: UserRole
    cameras: list[str]

    @classmethod
    def of(cls, user: Principal | UserRow) -> Me:
        return cls(name=user.name, role=user.role, cameras=list(user.cameras))


def _set_session(request: Request, response: Response, access: Access, secret: str) -> None:
    policy = request.app.state.services.policy
    peer = request.client.host if request.client else None
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(access.settings.max_seconds),
        httponly=True,
        samesite="strict",
        secure=policy.https(request.url.scheme, peer, request.headers),
        path="/",
    )


@public_router.post("/login", responses=error_responses(401, 429))
def login(body: Credentials, request: Request, response: Response, access: AccessDep) -> Me:
    """Log in: sets the `vigil_session` cookie (HttpOnly, SameSite=Strict; Secure over
    HTTPS). 401 (E611) on a wrong name or password, 429 (E612) with `Retry-After` after
    repeated failures."""
    done = access.login(body.username, body.password, client_address(request))
    _set_session(request, response, access, done.session)
    return Me.of(done.principal)


@public_router.get("/link", include_in_schema=False)
def login_link(
    request: Request, access: AccessDep, token: Annotated[str, Query(max_length=128)]
) -> Response:
    """The one-time link printed at first start: a session, then the page."""
    done = access.redeem(token, client_address(request))
    if done is None:
        return RedirectResponse("/login", status_code=303)
    response = RedirectResponse("/", status_code=303)
    _set_session(request, response, access, done.session)
    return response


@router.post("/logout", status_code=204)
def logout(user: UserDep, request: Request) -> Response:
    """End this session (its cookie is cleared)."""
    access: Access | None = request.app.state.services.access
    if access is not None:
        access.logout(user)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/me")
def me(user: UserDep) -> Me:
    """Who this request is: name, role and the cameras it may see."""
    return Me.of(user)


class TokenIn(_In):
    name: str = Field(min_length=1, max_length=64, pattern=PRINTABLE)
    user: str | None = Field(
        None,
        pattern=USER_NAME_PATTERN,
        description="Whose token; yourself if left out (admins: any).",
    )


class TokenOut(BaseModel):
    id: int
    name: str
    user: str
    created: datetime
    last_used: datetime | None

    @classmethod
    def of(cls, row: TokenRow) -> TokenOut:
        return cls(
            id=row.id,
            name=row.name,
            user=row.user,
            created=datetime.fromtimestamp(row.created, UTC),
            last_used=datetime.fromtimestamp(row.last_used, UTC) if row.last_used else None,
        )


class NewToken(TokenOut):
    token: str = Field(description="The secret, shown this once: send it as Bearer.")


class TokenList(BaseModel):
    tokens: list[TokenOut]


@router.get("/tokens")
def list_tokens(user: UserDep, access: AccessDep) -> TokenList:
    """Your tokens (an admin's: everyone's). Secrets are never shown again."""
    rows = access.tokens(None if user.is_admin else user.name)
    return TokenList(tokens=[TokenOut.of(r) for r in rows])


@router.post("/tokens", status_code=201)
def create_token(body: TokenIn, user: UserDep, access: AccessDep, request: Request) -> NewToken:
    """A token for programs (Home Assistant, scripts, Prometheus), with its user's rights."""
    owner = body.user or user.name
    if owner != user.name and not user.is_admin:
        raise ApiError("only an admin makes tokens for others", code="E610")
    token_id, secret = access.create_token(body.name, owner)
    access.audit("token-create", user.name, client_address(request), target=f"{owner}/{body.name}")
    row = access.store.token_by_id(token_id)
    assert row is not None
    return NewToken(**TokenOut.of(row).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: int, user: UserDep, access: AccessDep, request: Request) -> Response:
    row = access.store.token_by_id(token_id) if 0 < token_id < 2**63 else None
    if row is None or row.login_link:
        raise ApiError(f"no token {token_id}", code="E604")
    if row.user != user.name and not user.is_admin:
        raise ApiError("not your token", code="E610")
    access.store.revoke_token(token_id)
    access.audit(
        "token-revoke", user.name, client_address(request), target=f"{row.user}/{row.name}"
    )
    return Response(status_code=204)


CameraList = Annotated[
    list[Annotated[str, Field(pattern=CAMERA_ITEM)]], Field(min_length=1, max_length=1000)
]


class UserIn(_In):
    name: str = Field(pattern=USER_NAME_PATTERN)
    role: UserRole
    cameras: CameraList = Field(default_factory=lambda: ["*"])
    password: str = PASSWORD_FIELD


class UserChange(_In):
    role: UserRole | None = None
    cameras: CameraList | None = None
    password: str | None = Field(
        None,
        min_length=8,
        max_length=1024,
        pattern=PRINTABLE,
        description="A new password ends the user's sessions.",
    )


class UserList(BaseModel):
    users: list[Me]


@router.get("/users")
def list_users(admin: AdminDep, access: AccessDep) -> UserList:
    return UserList(users=[Me.of(u) for u in access.store.users()])


@router.post("/users", status_code=201, responses=error_responses(409, 422))
def add_user(body: UserIn, admin: AdminDep, access: AccessDep, request: Request) -> Me:
    row = access.add_user(body.name, body.role, body.cameras, body.password)
    access.audit("user-add", admin.name, client_address(request), target=row.name, detail=row.role)
    return Me.of(row)


@router.put("/users/{name}", responses=error_responses(422))
def change_user(
    name: str, body: UserChange, admin: AdminDep, access: AccessDep, request: Request
) -> Me:
    """Change a user's role, cameras or password (which ends the user's sessions)."""
    row = access.change_user(name, body.role, body.cameras)
    if body.password is not None:
        access.set_password(name, body.password)
    access.audit("user-change", admin.name, client_address(request), target=name)
    return Me.of(row)


@router.delete("/users/{name}", status_code=204)
def remove_user(name: str, admin: AdminDep, access: AccessDep, request: Request) -> Response:
    """Remove a user: its sessions and tokens end with it."""
    if name == admin.name:
        raise ApiError("you can't remove yourself", code="E610")
    access.remove_user(name)
    access.audit("user-remove", admin.name, client_address(request), target=name)
    return Response(status_code=204)
