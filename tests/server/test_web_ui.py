"""The web inspector's routes: its static files at ``/ui/`` and ``GET /ui/api/actors``.

The files need no token (they hold no data) and load nothing from elsewhere;
every piece of data behind them needs one. The Chromium suite
(``tests/browser/test_web_ui*.py``) drives the page itself.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path
from typing import Any

import httpx
from actorscope.server.demo import demo_registry
from actorscope.server.runner import RunningServer
from actorscope.server.web_ui import UI_DIR, ui_files

TIMEOUT = 30.0
ROOT = Path(__file__).resolve().parents[2]


async def test_page_and_files_are_served_without_a_token(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        redirect = await http.get("/ui")
        assert redirect.status_code == 308
        assert redirect.headers["location"] == "/ui/"
        page = await http.get("/ui/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="js/app.js">' in page.text
        # Only the page's own files, and only this server to talk to.
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "connect-src 'self'" in csp
        types = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
        for name, path in ui_files().items():
            r = await http.get(f"/ui/{name}")
            assert r.status_code == 200, name
            assert r.headers["content-type"].startswith(types[path.suffix]), name
            assert r.content == path.read_bytes()


async def test_nothing_else_is_reachable_under_ui(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        for path in ("/ui/js/missing.js", "/ui/../web_ui.py", "/ui/%2e%2e/web_ui.py", "/ui/js"):
            r = await http.get(path)
            assert r.status_code == 404, path
        r = await http.get("/ui/js/missing.js")
        assert r.json()["group"] == "ui"
        assert r.json()["code"] == "not_found"


def test_the_page_fetches_nothing_from_elsewhere() -> None:
    files = ui_files()
    assert {"index.html", "style.css", "js/app.js", "js/api.js", "js/workflow.js"} <= set(files)
    for name, path in files.items():
        text = path.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), name
        assert "document.cookie" not in text, name
        # The token travels as a header only.
        assert "?token" not in text and "&token" not in text, name


def test_every_file_is_in_the_wheel() -> None:
    """pyproject's package data covers every file the page serves."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data = setuptools["package-data"]
    for name in ui_files():
        folder, _, filename = ("ui/" + name).rpartition("/")
        package = "actorscope.server." + folder.replace("/", ".")
        assert package in setuptools["packages"], name
        assert any(fnmatch.fnmatch(filename, g) for g in data.get(package, [])), name
    assert UI_DIR.name == "ui"


async def test_actor_list_needs_a_token(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
            r = await http.get("/ui/api/actors", headers=headers)
            assert r.status_code == 401
            assert r.json() == {
                "group": "inspector",
                "code": "unauthorized",
                "message": "missing or invalid inspector token",
            }


async def _wait_for_status(http: httpx.AsyncClient, name: str, status: str) -> dict[str, Any]:
    import asyncio

    async with asyncio.timeout(TIMEOUT):
        while True:
            listed = (await http.get("/ui/api/actors")).json()
            actor: dict[str, Any] = next(a for a in listed["actors"] if a["name"] == name)
            if actor["workflow"] and actor["workflow"]["status"] == status:
                return actor
            await asyncio.sleep(0.1)


async def test_server_token_lists_types_and_instances_with_workflow_status(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        listed = (await http.get("/ui/api/actors")).json()
        assert listed["credential"] == "server"
        assert listed["types"] == demo_registry().names()
        assert {"counter", "inventory", "order", "steps"} <= set(listed["types"])
        by_name = {a["name"]: a for a in listed["actors"]}
        assert {n: a["actorId"] for n, a in by_name.items()} == demo_ids
        counter = by_name["counter"]
        assert counter["key"] == "demo"
        assert isinstance(counter["createdAt"], int)
        assert counter["workflow"] is None
        # order ends its first run waiting for "approval"; steps sleeps for an hour.
        order = await _wait_for_status(http, "order", "waiting")
        assert order["workflow"] == {"status": "waiting", "executing": [], "retrying": False}
        await _wait_for_status(http, "steps", "sleeping")
        await http.post(f"/gateway/{demo_ids['order']}/queue/approval", json={"by": "test"})
        await _wait_for_status(http, "order", "done")


async def test_actor_token_lists_its_actor_only(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    order = server.directory.get(demo_ids["order"])
    assert order is not None
    headers = {"Authorization": f"Bearer {order.record.token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=TIMEOUT) as http:
        listed = (await http.get("/ui/api/actors")).json()
        assert listed["credential"] == "actor"
        assert listed["types"] == []
        assert [a["actorId"] for a in listed["actors"]] == [demo_ids["order"]]


async def test_dev_mode_lists_without_a_token(server_factory: Any) -> None:
    running: RunningServer = await server_factory(dev=True, server_token=None)
    async with httpx.AsyncClient(base_url=running.url, timeout=TIMEOUT) as http:
        listed = (await http.get("/ui/api/actors")).json()
        assert listed["credential"] == "dev"
        assert len(listed["actors"]) == len(demo_registry().names())


async def test_serve_banner_prints_the_ui_url_first(tmp_path: Path, serve_process: Any) -> None:
    running = await serve_process("--demo", "--data", str(tmp_path))
    assert running.output[0] == f"web inspector: {running.url}/ui/"
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        assert (await http.get(f"{running.url}/ui/")).status_code == 200
    dev = await serve_process("--demo", "--dev", "--data", str(tmp_path / "dev"))
    assert dev.output[0] == f"web inspector: {dev.url}/ui/"
