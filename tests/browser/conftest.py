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


# -- RivetKit's Inspector UI against a real `actorscope serve` ----------------------------
#
# ``rivetkit_inspector_ui`` — the directory holding RivetKit 2.2.1's prebuilt
# Inspector UI (``dist/inspector.tar.gz`` of the npm package, fetched with
# ``npm pack`` into the test cache and unpacked there; never into the repo).
# ``inspector_ui_url`` — that directory served by the test itself on a
# loopback port, at ``/ui/`` where the build expects to be (a single-page
# app: unknown paths get ``index.html``); the value is the ``…/ui/`` URL.
# ``actorscope_serve`` — a real ``actorscope serve --demo`` subprocess on a
# loopback port with a server-wide token: ``.url``, ``.token``, ``.data_dir``,
# ``.log_path``.

RIVETKIT_UI_VERSION = "2.2.1"
SERVE_TOKEN = "browser-suite-token-0123456789abcdef"


def _unpack_inspector_ui(version: str) -> Path:
    import fcntl
    import subprocess
    import tarfile

    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to fetch RivetKit's Inspector UI: apt-get install -y nodejs npm")
    # The same cache as tests/conftest.py's npm_package, outside the repo.
    cache = os.environ.get("ACTORSCOPE_TEST_CACHE") or Path.home() / ".cache" / "actorscope-tests"
    root = Path(cache) / "rivetkit-inspector-ui" / version
    root.mkdir(parents=True, exist_ok=True)
    ui = root / "ui"
    done = root / ".unpacked"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            result = subprocess.run(
                [npm, "pack", f"rivetkit@{version}", "--pack-destination", str(root), "--silent"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if result.returncode != 0:
                pytest.fail(f"npm pack rivetkit@{version} failed:\n{result.stderr}")
            tgz = root / result.stdout.strip().splitlines()[-1]
            shutil.rmtree(ui, ignore_errors=True)
            ui.mkdir()
            with tarfile.open(tgz) as package:
                member = package.extractfile("package/dist/inspector.tar.gz")
                assert member is not None, "rivetkit has no dist/inspector.tar.gz"
                with tarfile.open(fileobj=member) as bundle:
                    bundle.extractall(ui, filter="data")
            tgz.unlink()
            done.write_text(version + "\n")
    if not (ui / "index.html").exists():
        pytest.fail(f"no index.html in the unpacked Inspector UI at {ui}")
    return ui


@pytest.fixture(scope="session")
def rivetkit_inspector_ui() -> Path:
    return _unpack_inspector_ui(RIVETKIT_UI_VERSION)


@pytest.fixture(scope="session")
def inspector_ui_url(rivetkit_inspector_ui: Path) -> Iterator[str]:
    import functools
    import http.server
    import threading

    # The build expects to live under /ui/ (its asset URLs say so).
    root = rivetkit_inspector_ui.parent
    assert rivetkit_inspector_ui.name == "ui"

    class Handler(http.server.SimpleHTTPRequestHandler):
        def send_head(self) -> Any:
            # A single-page app: every path that is not a file is index.html.
            path = Path(self.translate_path(self.path))
            if not path.exists():
                self.path = "/ui/index.html"
            return super().send_head()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/ui/"
    httpd.shutdown()
    httpd.server_close()


class ServeSubprocess:
    """A running ``actorscope serve`` (see ``actorscope_serve``)."""

    def __init__(self, url: str, token: str, data_dir: Path, log_path: Path) -> None:
        self.url = url
        self.token = token
        self.data_dir = data_dir
        self.log_path = log_path

    def get(self, path: str) -> Any:
        """GET ``path`` with the server-wide token; the decoded JSON answer."""
        import json
        import urllib.request

        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def post(self, path: str, body: Any) -> Any:
        """POST ``body`` as JSON to ``path`` with the server-wide token; the decoded answer."""
        import json
        import urllib.request

        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def actorscope_serve(tmp_path: Path) -> Iterator[ServeSubprocess]:
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    data_dir = tmp_path / "data"
    log_path = tmp_path / "serve.log"
    port = _free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "actorscope",
                "serve",
                "--demo",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data",
                str(data_dir),
                "--inspector-token",
                SERVE_TOKEN,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail("actorscope serve exited:\n" + log_path.read_text())
            try:
                with urllib.request.urlopen(url + "/metadata", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail("actorscope serve did not come up:\n" + log_path.read_text())
                time.sleep(0.2)
        yield ServeSubprocess(url, SERVE_TOKEN, data_dir, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
