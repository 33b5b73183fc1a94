"""Browser fixtures: Playwright for Python driving Debian's chromium against ``live_server``.

Browser tests are skipped (with the reason) when ``/usr/bin/chromium`` is missing;
``.ci/run`` installs it. Screenshots go to ``test-artifacts/screenshots/``; the README's
copies in ``docs/screenshots/`` come from a real ``up`` (``test_up_browser.py``, with
``HUB_UPDATE_SCREENSHOTS=1``), not from this test server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The lifecycle's own fixtures, reused: assets with a launched fake llama-server, real Celery workers.
from tests.lifecycle.conftest import lifecycle_settings, make_asset, markers, workers  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
# Every run saves its screenshots under test-artifacts/ (git-ignored).
SCREENSHOTS = ROOT / "test-artifacts/screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per browser-test module.

    Playwright's sync API keeps an event loop running in this thread while it lives, so
    it must not outlive the module (later tests call ``asyncio.run``), and Django's ORM,
    which refuses to run beside a loop, is told this test-only use is fine meanwhile.
    """
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            instance = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield instance
            instance.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def login(live_server: Any) -> Callable[[Any, Any], None]:
    """``login(page, user)``: sign in through the login form (passwords are ``pw-<username>``)."""

    def do(tab: Any, user: Any) -> None:
        tab.goto("/login/")
        tab.get_by_label("Username").fill(user.get_username())
        tab.get_by_label("Password").fill("pw-" + user.get_username())
        tab.get_by_role("button", name="Log in").click()
        tab.wait_for_url(live_server.url + "/")

    return do


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    def take(tab: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path

    return take
