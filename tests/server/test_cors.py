"""CORS on every route (PROTOCOL.md §10.2): what RivetKit's Inspector UI sends, from its origin."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from actorscope.server.runner import RunningServer

TIMEOUT = 5.0
UI = "https://inspect.rivet.dev"


def preflight(method: str, headers: str | None = None, **extra: str) -> dict[str, str]:
    out = {"Origin": UI, "Access-Control-Request-Method": method, **extra}
    if headers is not None:
        out["Access-Control-Request-Headers"] = headers
    return out


@pytest.mark.parametrize(
    ("path", "method", "requested"),
    [
        # The headers the UI was seen asking for (§10.2).
        ("/actors?namespace=default&name=steps", "GET", "authorization"),
        ("/actors/names?namespace=default", "GET", "authorization"),
        ("/gateway/ID/inspector/workflow/replay", "POST", "authorization,content-type"),
        ("/gateway/ID/metadata", "GET", "x-rivet-actor,x-rivet-target,x-rivet-token"),
        ("/", "OPTIONS", None),  # OPTIONS / is itself preflighted
        ("/no/such/route", "DELETE", "authorization"),
    ],
)
async def test_every_route_answers_preflights(
    server: RunningServer, demo_ids: dict[str, str], path: str, method: str, requested: str | None
) -> None:
    path = path.replace("ID", demo_ids["steps"])
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        r = await http.options(path, headers=preflight(method, requested))
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == UI
    assert method in r.headers["access-control-allow-methods"]
    if requested is not None:
        assert r.headers["access-control-allow-headers"] == requested
    assert "Origin" in r.headers["vary"]
    # Bearer tokens only: never credentials (cookies), never a wildcard.
    assert "access-control-allow-credentials" not in r.headers
    assert "set-cookie" not in r.headers


async def test_a_plain_options_probe_is_2xx(server: RunningServer) -> None:
    # The UI's reachability probe after /metadata: fetch(url, {method: "OPTIONS"}).
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        r = await http.options("/", headers={"Origin": UI})
        assert 200 <= r.status_code < 300
        assert r.headers["access-control-allow-origin"] == UI
        r = await http.options("/")
        assert 200 <= r.status_code < 300


async def test_private_network_preflight(server: RunningServer) -> None:
    # Chromium asks before a page on a public origin may reach a loopback server.
    headers = preflight(
        "GET", "authorization", **{"Access-Control-Request-Private-Network": "true"}
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        r = await http.options("/metadata", headers=headers)
    assert r.headers["access-control-allow-private-network"] == "true"


async def test_responses_carry_the_mirrored_origin(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    origin = {"Origin": "http://127.0.0.1:5173"}
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        for path, headers in [
            ("/metadata", origin),
            ("/actors?namespace=default", {**origin, **auth}),
            (f"/gateway/{demo_ids['counter']}/inspector/state", {**origin, **auth}),
            ("/actors?namespace=default", origin),  # a 401 is readable too
            ("/no/such/route", origin),  # and a 404
        ]:
            r = await http.get(path, headers=headers)
            assert r.headers["access-control-allow-origin"] == origin["Origin"], path
            assert r.headers["vary"] == "Origin", path
            assert "content-type" in r.headers["access-control-expose-headers"].lower()
            assert "access-control-allow-credentials" not in r.headers
        assert (await http.get("/actors?namespace=default", headers=origin)).status_code == 401


async def test_no_origin_no_cors_headers(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        r = await http.get("/metadata")
    assert r.status_code == 200
    assert not [h for h in r.headers if h.startswith("access-control-")]


@pytest.mark.parametrize(
    ("origin", "granted"),
    [
        ("http://localhost:5173", True),
        ("http://127.0.0.1:8000", True),
        ("http://[::1]:8000", True),
        ("https://inspect.rivet.dev", True),
        ("https://some-site.example", False),
        ("http://localhost.some-site.example", False),
        ("https://inspect.rivet.dev.some-site.example", False),
        ("null", False),
    ],
)
async def test_with_auth_off_only_this_machine_and_the_hosted_inspector(
    server_factory: Any, origin: str, granted: bool
) -> None:
    # A --dev server without a token answers anyone, so any web page could
    # drive it through the visitor's browser if CORS were open to all.
    dev = await server_factory(dev=True, server_token=None)
    async with httpx.AsyncClient(base_url=dev.url, timeout=TIMEOUT) as http:
        r = await http.options(
            "/actors", headers={**preflight("GET", "authorization"), "Origin": origin}
        )
        assert r.status_code == 204
        assert ("access-control-allow-origin" in r.headers) is granted
        r = await http.get("/metadata", headers={"Origin": origin})
        assert r.status_code == 200
        assert r.headers.get("access-control-allow-origin") == (origin if granted else None)


async def test_with_a_token_every_origin_is_mirrored(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        r = await http.get("/metadata", headers={"Origin": "https://some-site.example"})
    assert r.headers["access-control-allow-origin"] == "https://some-site.example"
