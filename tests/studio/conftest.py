"""Fixtures for Studio tests: the fixture HTTP server and a headless Chromium (Playwright).

Browser tests are marked ``browser`` and skipped (with the reason) when Chromium or the
Playwright driver is missing. Every page collects console errors and uncaught exceptions; a
test fails if any appear, unless it declares the ones it expects (``page_errors.allow``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.studio.blueprint import bp
from tests.studio.fake_api import FakeApi, build_app, serve

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("PODIUM_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def fake_api() -> FakeApi:
    return FakeApi()


@pytest.fixture(scope="session")
def studio_server(fake_api: FakeApi) -> Iterator[str]:
    with serve(build_app(fake_api, bp)) as url:
        yield url


@pytest.fixture(autouse=True)
def _reset_fake(fake_api: FakeApi) -> None:
    fake_api.reset()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (a new context per test keeps them isolated)."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium not installed (apt-get install chromium, or scripts/setup --browser)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Python playwright not installed")
    sync_api.expect.set_options(timeout=10_000)
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


class PageErrors:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser, page_errors: PageErrors, studio_server: str):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=studio_server)
    pg = context.new_page()
    pg.set_default_timeout(15_000)  # the CPU is shared: leave room for a slow poll
    pg.on(
        "console",
        lambda m: (
            page_errors.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None
        ),
    )
    pg.on("pageerror", lambda e: page_errors.errors.append(f"pageerror: {e}"))
    yield pg
    context.close()
    assert page_errors.unexpected() == [], "console errors in Studio"


def shot(page, name: str, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"studio-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
