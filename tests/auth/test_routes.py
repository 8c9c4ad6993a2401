"""Default deny, and who may do what: every route of the app, every principal."""

from __future__ import annotations

import re

import httpx2 as httpx
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from tests.auth.conftest import World

# The only routes an anonymous caller reaches (the health answers only its status).
PUBLIC = {
    ("GET", "/login"),
    ("GET", "/static/login.js"),
    ("GET", "/static/style.css"),
    ("POST", "/api/auth/login"),
    ("GET", "/api/auth/link"),
    ("GET", "/api/health"),
}
# What a viewer may do (on its own cameras); everything else is for admins.
VIEWER = {
    ("GET", "/"),
    ("GET", "/static/{name}"),
    ("GET", "/docs"),
    ("GET", "/docs/{asset}"),
    ("GET", "/openapi.json"),
    ("GET", "/metrics"),
    ("GET", "/api/cameras"),
    ("GET", "/api/cameras/{name}"),
    ("GET", "/api/cameras/{name}/snapshot.jpg"),
    ("GET", "/api/cameras/{name}/mjpeg"),
    ("POST", "/api/cameras/{name}/webrtc"),
    ("DELETE", "/api/cameras/{name}/webrtc/{session}"),
    ("GET", "/api/cameras/{name}/export"),
    ("GET", "/api/recordings"),
    ("GET", "/api/recordings/{recording_id}/file"),
    ("GET", "/api/events"),
    ("GET", "/api/events/{event_id}/thumbnail.jpg"),
    ("GET", "/api/auth/me"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/auth/tokens"),
    ("POST", "/api/auth/tokens"),
    ("DELETE", "/api/auth/tokens/{token_id}"),
}
# Routes about one camera, by what names it: a viewer of front only must get 403 for back.
PER_CAMERA = {"{name}", "{recording_id}", "{event_id}"}


def routes(world: World) -> list[tuple[str, str]]:
    """Every route of the app as (method, path): included routers flattened."""
    found: list[tuple[str, str]] = []
    for route in iter_route_contexts(world.app.routes):
        path = route.path
        if route.methods and path is not None:
            found.extend((method, path) for method in route.methods if method != "HEAD")
    return sorted(found)


def request(
    client: TestClient,
    world: World,
    method: str,
    path: str,
    camera: str,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request to the route, its path filled in for `camera`'s things."""
    url = (
        path.replace("{name}", camera)
        .replace("{recording_id}", str(world.ids[f"{camera}-rec"]))
        .replace("{event_id}", str(world.ids[f"{camera}-event"]))
        .replace("{session}", "0" * 32)
        .replace("{token_id}", "999")
        .replace("{asset}", "init.js")
    )
    url = url.replace("/static/" + camera, "/static/app.js")  # {name} of a static file
    if path.startswith("/api/auth/users/"):
        url = path.replace("{name}", "nobody")
    params = {"start": "2026-01-01T00:00:00", "end": "2026-01-01T00:01:00", "token": "x"}
    if path.endswith("/webrtc") and method == "POST":
        sdp = {"content-type": "application/sdp", **(headers or {})}
        return client.request(method, url, content=b"v=0\r\n", headers=sdp)
    body: dict[str, object] | None = {} if method in ("POST", "PUT") else None
    return client.request(method, url, params=params, json=body, headers=headers)


def test_the_inventory_is_complete(world: World) -> None:
    found = set(routes(world))
    assert found >= PUBLIC
    assert found >= VIEWER
    assert len(found) > len(PUBLIC) + len(VIEWER)  # and some for admins only


def test_every_route_refuses_an_anonymous_caller(world: World) -> None:
    anonymous = world.client()
    page = anonymous.get("/", follow_redirects=False)  # a browser is sent to the login page
    assert (page.status_code, page.headers["location"]) == (303, "/login")
    for method, path in routes(world):
        if (method, path) in PUBLIC or path == "/":
            continue
        response = request(anonymous, world, method, path, "front")
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["code"] == "E609"


def test_public_routes_answer_an_anonymous_caller(world: World) -> None:
    anonymous = world.client()
    assert anonymous.get("/login").status_code == 200
    assert anonymous.get("/static/login.js").status_code == 200
    health = anonymous.get("/api/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}  # no version, no camera names (both are off)


@pytest.mark.parametrize("who", ["alice", "victor"])
def test_a_viewer_is_refused_what_only_admins_do(world: World, who: str) -> None:
    viewer = world.client(who)
    for method, path in routes(world):
        if (method, path) in PUBLIC | VIEWER:
            continue
        response = request(viewer, world, method, path, "front")
        assert response.status_code == 403, (who, method, path, response.text)
        assert response.json()["code"] == "E610"


def test_a_viewer_of_one_camera_is_refused_the_others(world: World) -> None:
    alice = world.client("alice")
    victor = world.client("victor")
    for method, path in sorted(VIEWER):
        if path.startswith("/static") or not PER_CAMERA & set(re.findall(r"\{\w+\}", path)):
            continue
        refused = request(alice, world, method, path, "back")
        assert refused.status_code == 403, (method, path, refused.text)
        allowed = request(alice, world, method, path, "front")
        assert allowed.status_code not in (401, 403), (method, path, allowed.text)
        everyone = request(victor, world, method, path, "back")
        assert everyone.status_code not in (401, 403), (method, path, everyone.text)


def test_listings_show_only_the_viewers_cameras(world: World) -> None:
    alice = world.client("alice")
    assert [c["name"] for c in alice.get("/api/cameras").json()["cameras"]] == ["front"]
    assert {r["camera"] for r in alice.get("/api/recordings").json()["recordings"]} == {"front"}
    assert {e["camera"] for e in alice.get("/api/events").json()["events"]} == {"front"}
    assert alice.get("/api/recordings", params={"camera": "back"}).status_code == 403
    assert 'camera="back"' not in alice.get("/metrics").text
    assert set(alice.get("/api/health").json()["cameras"]) == {"front"}


def test_an_admin_and_a_token_reach_every_route(world: World) -> None:
    admin = world.client("admin")
    token = world.client()
    for method, path in routes(world):
        if path == "/api/auth/logout":
            continue  # it works, and the session's next request would be anonymous
        for client, headers in ((admin, {}), (token, {"authorization": f"Bearer {world.token}"})):
            response = request(client, world, method, path, "back", headers=headers)
            assert response.status_code not in (401, 403), (method, path, response.text)


def test_basic_counts_on_media_routes_only(world: World) -> None:
    anonymous = world.client()
    auth = ("alice", "correct horse battery")
    snapshot = anonymous.get("/api/cameras/front/snapshot.jpg", auth=auth)
    assert snapshot.status_code == 503  # in: the camera is stopped, so there is no frame
    assert anonymous.get("/api/cameras/back/snapshot.jpg", auth=auth).status_code == 403
    assert anonymous.get("/api/cameras", auth=auth).status_code == 401
    refused = anonymous.get("/api/cameras/front/snapshot.jpg", auth=("alice", "wrong password"))
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Basic")


def test_logout_ends_the_session(world: World) -> None:
    admin = world.client("admin")
    assert admin.get("/api/auth/me").json()["name"] == "admin"
    assert admin.post("/api/auth/logout").status_code == 204
    assert admin.get("/api/auth/me").status_code == 401
