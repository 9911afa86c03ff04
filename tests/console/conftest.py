"""Browser fixtures for the console: a real gateway process, Debian's chromium driven by Playwright, a
superuser's logged-in page, and `shoot(page, name)` keeping a full-page screenshot of each page visited.

Screenshots go to tests/artifacts/console/ (gitignored), or to PROMPTGATE_TEST_ARTIFACTS when set.
The browser is the system's /usr/bin/chromium (installed by .ci/run with apt-get), never a download.

Playwright's sync API keeps an asyncio loop marked running in this thread while the browser is open,
which Django's async-safety check takes for an event loop: the ORM calls a test makes (committed rows
the gateway process reads) are allowed for as long as the browser is open, and only then.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from tests.servers import BASE_DIR, GatewayProcess, running_gateway

CHROMIUM = os.environ.get("PROMPTGATE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("PROMPTGATE_TEST_ARTIFACTS") or BASE_DIR / "tests" / "artifacts") / "console"
VIEWPORT = {"width": 1440, "height": 900}
CONSOLE_PASSWORD = "console-pass-123"

playwright_sync = pytest.importorskip("playwright.sync_api")

if not Path(CHROMIUM).exists():  # .ci/run installs it; a developer machine without it skips, loudly
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def console_gateway(django_db_setup, django_db_blocker) -> Iterator[GatewayProcess]:
    """One uvicorn gateway process serving the console on the test database (and Redis when set)."""
    with running_gateway() as proc:
        yield proc


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless chromium for this module (closed at its end, so later modules' asyncio tests get the
    thread's event loop back)."""
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # see the module docstring
    playwright = playwright_sync.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture
def console_user(transactional_db):
    """A committed superuser (the gateway process reads it) whose password the gateway can check: the
    test run's MD5 hasher is not one the gateway process knows, so the hash is PBKDF2's."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    user = get_user_model().objects.create_superuser("operator", "operator@example.com", None)
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(CONSOLE_PASSWORD, hasher.salt(), iterations=1000)
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def anon_page(browser, console_gateway) -> Iterator[object]:
    """A fresh browser page (no session) whose relative URLs address the gateway."""
    context = browser.new_context(base_url=console_gateway.url(""), viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def console_page(browser, console_gateway, console_user) -> Iterator[object]:
    """A page logged in as the superuser: the session row is made as Django's test client would, and its
    cookie handed to the browser (the login form itself is exercised by test_login)."""
    from django.test import Client

    client = Client()
    client.force_login(console_user)
    session = client.cookies["sessionid"].value
    context = browser.new_context(base_url=console_gateway.url(""), viewport=VIEWPORT)
    context.add_cookies([{"name": "sessionid", "value": session, "url": console_gateway.url("/")}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def shoot(request) -> Callable[[object, str], Path]:
    """`shoot(page, "dashboard")` saves a full-page PNG named after the test and returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")

    def save(page, name: str) -> Path:
        path = ARTIFACTS / f"{prefix}--{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


@pytest.fixture
def page_errors(console_page) -> list[str]:
    """Uncaught script errors and failed requests on the logged-in page (a test asserts it stays empty:
    a blocked or missing script, style or font shows up here)."""
    errors: list[str] = []
    console_page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    console_page.on("requestfailed", lambda req: errors.append(f"requestfailed: {req.url}"))
    console_page.on(
        "response", lambda resp: resp.status >= 400 and errors.append(f"HTTP {resp.status}: {resp.url}")
    )
    return errors


@pytest.fixture
def offline(console_page, console_gateway) -> list[str]:
    """Cut the page off from everything but the gateway; returns the URLs it tried to reach elsewhere."""
    outside: list[str] = []
    origin = console_gateway.url("")

    def route(route_obj) -> None:
        if route_obj.request.url.startswith(origin):
            route_obj.continue_()
        else:
            outside.append(route_obj.request.url)
            route_obj.abort()

    console_page.route("**/*", route)
    return outside
