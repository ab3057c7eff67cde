"""Browser fixtures: Debian's Chromium driven by Playwright (no browser download).

``browser`` — a Playwright ``Browser`` on ``/usr/bin/chromium`` (or
``$CHROMIUM``), one per session. ``page`` — a fresh context and page per
test; when the test fails, a full-page screenshot goes to
``$ACTORSCOPE_SCREENSHOTS`` (default ``.browser-failures/`` in the repo) named
after the test. These tests run with ``make test-browser``, not ``make test``:
they need Chromium, which ``.ci/run`` installs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

# Without these, Chromium's background services dial out and, on a machine
# with no network, stall or spam the log; headless as root needs no sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Chromium not found: apt-get install -y chromium (or set $CHROMIUM)")
    return path


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        root = Path(__file__).resolve().parents[2]
        out = Path(os.environ.get("ACTORSCOPE_SCREENSHOTS") or root / ".browser-failures")
        out.mkdir(parents=True, exist_ok=True)
        name = request.node.nodeid.replace("/", "_").replace("::", "-")
        pg.screenshot(path=str(out / f"{name}.png"), full_page=True)
    context.close()
