"""The page with auth on, in Chromium: log in and out, a viewer's narrower page, the users
view, and a session that expires under the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import SMALL, ManualClock, ServerThread, SimThread, wait_for
from tests.web.conftest import shot
from vigil.api import create_app
from vigil.auth import Access, AuthSettings, UserRole
from vigil.auth.store import AuthStore
from vigil.camera.manager import CameraManager
from vigil.config import validate_data
from vigil.sim.server import build_cameras
from vigil.storage.index import Index

PASSWORD = "page password 1"


class Site:
    def __init__(self, server: ServerThread, clock: ManualClock, access: Access):
        self.server, self.clock, self.access = server, clock, access

    def url(self, path: str = "/") -> str:
        return self.server.url(path)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root: Path = tmp_path_factory.mktemp("login")
    with SimThread(build_cameras(2, SMALL, None, quiet=True)) as sim:
        cams = {
            f"cam{n}": {"inputs": [{"url": sim.url(f"cam{n}")}], "record": {"mode": "off"}}
            for n in (1, 2)
        }
        manager = CameraManager(validate_data({"cameras": cams}).cameras)
        clock = ManualClock(start=2_000_000_000.0)
        access = Access(AuthStore(Index(root / "vigil.db").engine), AuthSettings(), clock.now)
        access.add_user("admin", UserRole.ADMIN, ["*"], PASSWORD)
        access.add_user("viewer", UserRole.VIEWER, ["cam1"], PASSWORD)
        with ServerThread(create_app(manager, access=access)) as server:
            wait_for(lambda: all(s.state == "streaming" for s in manager.statuses()), 30, "up")
            yield Site(server, clock, access)


def log_in(page: Page, site: Site, who: str) -> None:
    page.goto(site.url("/"))
    page.wait_for_url("**/login")
    page.fill("#l-user", who)
    page.fill("#l-pass", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.url("/"))
    expect(page.locator("#who")).to_contain_text(who)


def test_log_in_see_the_grid_log_out(site: Site, page: Page) -> None:
    log_in(page, site, "admin")
    expect(page.locator(".tile")).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.tile')].every(t => t.dataset.loads > 0)"
    )
    shot(page, "login-admin-grid")
    page.click("#logout")
    page.wait_for_url("**/login")
    page.goto(site.url("/"))
    page.wait_for_url("**/login")  # the session is over


def test_a_wrong_password_says_so(site: Site, page: Page) -> None:
    page.goto(site.url("/login"))
    page.fill("#l-user", "admin")
    page.fill("#l-pass", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("wrong user name or password")


def test_a_viewer_sees_its_cameras_and_no_management(site: Site, page: Page) -> None:
    log_in(page, site, "viewer")
    expect(page.locator(".tile")).to_have_count(1)
    expect(page.locator(".tile[data-name='cam1']")).to_have_count(1)
    for view in ("cameras", "system", "users"):
        expect(page.locator(f"nav a[data-view='{view}']")).to_be_hidden()
    page.goto(site.url("/#cameras"))
    expect(page.locator("#view-cameras")).to_be_hidden()  # sent back to the grid
    shot(page, "login-viewer-grid")


def test_an_admin_adds_a_user_in_the_users_view(site: Site, page: Page) -> None:
    log_in(page, site, "admin")
    page.click("nav a[data-view='users']")
    page.fill("#u-name", "guest")
    page.fill("#u-cameras", "cam2")
    page.fill("#u-pass", "guest password")
    page.click("#user-form button[type=submit]")
    expect(page.locator("#user-table")).to_contain_text("guest")
    row = site.access.store.user("guest")
    assert row is not None and row.role is UserRole.VIEWER and row.cameras == ("cam2",)
    shot(page, "login-users")


def test_an_expired_session_returns_to_the_login_page(site: Site, page: Page) -> None:
    log_in(page, site, "viewer")
    expect(page.locator(".tile")).to_have_count(1)
    site.clock.advance(AuthSettings().idle_seconds + 1)
    page.wait_for_url("**/login", timeout=15000)  # the next poll of the cameras says 401
