"""Discovery (PROTOCOL.md §10.3, §10.5): what RivetKit's Inspector UI reads to find us."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from actorscope.protocol.framing import NEWEST_VERSION, VERSIONS
from actorscope.server.discovery import ADVERTISED_VERSIONS, advertised_version
from actorscope.server.runner import RunningServer

TIMEOUT = 5.0


def _semver(version: str) -> tuple[int, int, int] | None:
    m = re.match(r"^(\d+)\.(\d+)\.(\d+)", version)
    return None if m is None else (int(m[1]), int(m[2]), int(m[3]))


def ui_protocol(version: str) -> tuple[int, bool]:
    """The protocol version (and negotiated framing) the UI picks from a runtime version (§9.2)."""
    v = _semver(version)
    if v is None:
        return 2, False
    if v >= (2, 3, 4):
        return 6, True
    if v >= (2, 3, 3):
        return 5, False
    if v >= (2, 1, 6):
        return 4, False
    if v >= (2, 0, 42):
        return 3, False
    return (2 if v[0] >= 2 else 1), False


def ui_tries_per_actor_bundle(version: str) -> bool:
    v = _semver(version)
    return v is not None and v >= (2, 3, 0)


async def test_metadata(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        # Public (the UI probes it without a token), and with a token just the same.
        body = (await http.get("/metadata")).json()
        fallback = (await http.get("/api/rivet/metadata")).json()
        bearer = {"Authorization": f"Bearer {server.server_token}"}
        with_token = (await http.get("/metadata", headers=bearer)).json()
    assert body == fallback == with_token
    assert body["runtime"] == "actorscope"
    assert isinstance(body["version"], str)
    # No clientEndpoint: the UI would switch to it; the URL the user typed is right.
    assert "clientEndpoint" not in body
    # The UI speaks the newest protocol we serve; with v6 that is negotiated v6.
    assert ui_protocol(body["version"]) == (NEWEST_VERSION, NEWEST_VERSION >= 6)


@pytest.mark.parametrize("cap", VERSIONS)
async def test_a_capped_server_advertises_what_makes_the_ui_speak_its_cap(
    server_factory: Any, cap: int
) -> None:
    server = await server_factory(max_protocol_version=cap)
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        version = (await http.get("/metadata")).json()["version"]
        actor = server.directory.actors("steps")[0].actor_id
        per_actor = (await http.get(f"/gateway/{actor}/metadata")).json()
    assert version == advertised_version(cap) == per_actor["version"]
    assert ui_protocol(version)[0] == cap


def test_the_advertised_versions() -> None:
    for protocol, version in ADVERTISED_VERSIONS.items():
        assert ui_protocol(version)[0] == protocol
        # Up to v4 today's UI stays inline; v5 and v6 need a runtime version
        # that also makes it try the per-actor bundle first (README).
        assert ui_tries_per_actor_bundle(version) == (protocol >= 5)
    assert ui_protocol(ADVERTISED_VERSIONS[6]) == (6, True)
    # Never above what the server speaks.
    assert advertised_version(99) == ADVERTISED_VERSIONS[NEWEST_VERSION]


async def test_per_actor_metadata_is_public_and_the_same_for_every_id(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    headers = {
        "X-Rivet-Target": "actor",
        "X-Rivet-Actor": demo_ids["steps"],
        "x-rivet-token": "",  # what the 2.2.1 build sends
    }
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        r = await http.get(f"/gateway/{demo_ids['steps']}/metadata", headers=headers)
        assert r.status_code == 200
        assert r.json() == {"version": advertised_version(NEWEST_VERSION), "type": "local"}
        # Says nothing about which actors exist.
        assert (await http.get("/gateway/nope/metadata")).json() == r.json()


async def test_health(server: RunningServer, demo_ids: dict[str, str]) -> None:
    steps = demo_ids["steps"]
    own = server.directory.get(steps)
    assert own is not None
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        for headers in (
            {"x-rivet-token": str(server.server_token)},
            {"Authorization": f"Bearer {server.server_token}"},
            {"Authorization": f"Bearer {own.record.token}"},
        ):
            r = await http.get(f"/gateway/{steps}/health", headers=headers)
            assert (r.status_code, r.text) == (200, "ok")
        r = await http.get(f"/gateway/{steps}/health")
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
        token = {"x-rivet-token": str(server.server_token)}
        r = await http.get("/gateway/nope/health", headers=token)
        assert (r.status_code, r.json()["code"]) == (404, "not_found")
        # Auth before lookup: no hint about existence without a token.
        assert (await http.get("/gateway/nope/health")).status_code == 401


async def test_datacenters(server: RunningServer, auth: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        body = (await http.get("/datacenters", headers=auth)).json()
        assert body == {
            "datacenters": [{"label": 1, "name": "local", "url": server.url}],
            "pagination": {"cursor": None},
        }
        assert (await http.get("/datacenters")).status_code == 401


async def test_the_per_actor_ui_bundle_is_not_served(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        r = await http.get(f"/gateway/{demo_ids['steps']}/inspector/ui/?actorId=x")
    assert r.status_code == 404
    body = r.json()
    assert f"{body['group']}.{body['code']}" == "inspector.ui_not_served"
    assert "legacy inspector" in body["message"]
