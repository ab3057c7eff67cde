"""The replay answer in both forms (PROTOCOL.md §8 and §10.5), told apart by the request.

RivetKit's Inspector UI (a page on another origin) validates ``history`` as
the §4 transport bytes, a JSON array of numbers 0-255; every §8 client
(no ``Origin``: curl, scripts, ``actorscope inspect``; a page on our own
origin; or one that asks for ``Accept: application/json``) keeps the decoded
object. Both kinds of replay are audited alike.
"""

from __future__ import annotations

import asyncio
from typing import Any

import cbor2
import httpx
import msgpack
import pytest
from actorscope.protocol.history import WorkflowStepEntry, decode_history
from actorscope.server.runner import RunningServer

from .conftest import SERVER_TOKEN

TIMEOUT = 10.0
UI_ORIGIN = "https://inspect.rivet.dev"
SERVER_AUTH = {"Authorization": f"Bearer {SERVER_TOKEN}"}


async def settled_steps(http: httpx.AsyncClient, actor: str) -> dict[str, Any]:
    """The history once the three steps of the ``steps`` demo have completed."""
    for _ in range(400):
        r = await http.get(f"/gateway/{actor}/inspector/workflow-history", headers=SERVER_AUTH)
        history = r.json()["history"]
        meta = history["entryMetadata"] if history else {}
        done = [m for m in meta.values() if m["status"] == "COMPLETED"]
        if len(done) >= 3:
            return dict(history)
        await asyncio.sleep(0.05)
    raise AssertionError("the steps workflow did not finish its steps")


def step_ids(history: dict[str, Any]) -> list[str]:
    return [e["id"] for e in history["entries"] if e["kind"]["tag"] == "WorkflowStepEntry"]


def ui_headers(token: str, **extra: str) -> dict[str, str]:
    # What the UI's fetch sends (its Accept is the browser default).
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Origin": UI_ORIGIN,
        "Accept": "*/*",
        **extra,
    }


@pytest.fixture
async def steps(server: RunningServer, demo_ids: dict[str, str]) -> tuple[str, str]:
    actor = server.directory.get(demo_ids["steps"])
    assert actor is not None
    return actor.actor_id, actor.record.token


async def test_the_ui_gets_the_transport_bytes(
    server: RunningServer, steps: tuple[str, str]
) -> None:
    actor, token = steps
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        history = await settled_steps(http, actor)
        first = step_ids(history)[0]
        url = f"/gateway/{actor}/inspector/workflow/replay"
        r = await http.post(url, headers=ui_headers(token), json={"entryId": first})
        assert r.status_code == 200, r.text
        body = r.json()
        # The UI's own schema: history an array of ints 0-255 (or null), a bool flag.
        assert body["isWorkflowEnabled"] is True
        raw = body["history"]
        assert isinstance(raw, list) and all(isinstance(b, int) and 0 <= b <= 255 for b in raw)
        wire = decode_history(bytes(raw))
        # Right after the rewind to the first step: nothing from it on is left.
        assert all(e.id != first for e in wire.entries)
        assert r.headers["access-control-allow-origin"] == UI_ORIGIN
        # From the start ({}), as the UI sends it, once the re-run is back.
        await settled_steps(http, actor)
        r = await http.post(url, headers=ui_headers(token), content=b"{}")
        assert isinstance(r.json()["history"], list)
        await settled_steps(http, actor)
        # Values inside come as CBOR, which the UI decodes.
        after = (
            await http.post(
                url,
                headers=ui_headers(token),
                json={"entryId": step_ids(await settled_steps(http, actor))[2]},
            )
        ).json()
        outputs = [
            cbor2.loads(e.kind.output)
            for e in decode_history(bytes(after["history"])).entries
            if isinstance(e.kind, WorkflowStepEntry) and e.kind.output is not None
        ]
        assert outputs == ["one", "two"]
        replays = (
            await http.get(
                f"/gateway/{actor}/inspector/workflow/replays",
                headers={"Authorization": f"Bearer {server.server_token}"},
            )
        ).json()["replays"]
    # UI replays are audited like any other: over HTTP, with the credential class sent.
    assert len(replays) == 3
    assert {(r["transport"], r["credential"], r["result"]) for r in replays} == {
        ("http", "actor", "done")
    }


async def test_documented_clients_keep_the_decoded_object(
    server: RunningServer, steps: tuple[str, str], auth: dict[str, str]
) -> None:
    actor, token = steps
    url = f"/gateway/{actor}/inspector/workflow/replay"
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        own_origin = server.url  # a page on this server's own origin
        for headers in (
            auth,  # no Origin: curl, scripts, actorscope inspect
            {**auth, "Origin": own_origin},
            ui_headers(token, Accept="application/json"),
        ):
            history = await settled_steps(http, actor)
            r = await http.post(url, headers=headers, json={"entryId": step_ids(history)[1]})
            assert r.status_code == 200, r.text
            body = r.json()
            assert isinstance(body["history"], dict), headers
            assert set(body["history"]) == {"nameRegistry", "entries", "entryMetadata"}
            assert body["isWorkflowEnabled"] is True
            # Decoded values, as §8 says.
            outputs = [
                e["kind"]["val"]["output"]
                for e in body["history"]["entries"]
                if e["kind"]["tag"] == "WorkflowStepEntry"
            ]
            assert outputs == ["one"]


async def test_msgpack_bytes_on_request(server: RunningServer, steps: tuple[str, str]) -> None:
    actor, token = steps
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        history = await settled_steps(http, actor)
        url = f"/gateway/{actor}/inspector/workflow/replay"
        r = await http.post(
            url + "?value_codec=msgpack",
            headers=ui_headers(token),
            json={"entryId": step_ids(history)[2]},
        )
        entries = decode_history(bytes(r.json()["history"])).entries
        outputs = [
            msgpack.unpackb(e.kind.output)
            for e in entries
            if isinstance(e.kind, WorkflowStepEntry) and e.kind.output is not None
        ]
        assert outputs == ["one", "two"]
        r = await http.post(url + "?value_codec=json", headers=ui_headers(token), json={})
        assert r.status_code == 400 and r.json()["code"] == "invalid"


async def test_ui_refusals_are_json_errors(server: RunningServer, steps: tuple[str, str]) -> None:
    actor, token = steps
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        url = f"/gateway/{actor}/inspector/workflow/replay"
        r = await http.post(url, headers=ui_headers(token), json={"entryId": "nope"})
        assert r.status_code == 404
        assert r.json()["code"] == "step_not_found"
        r = await http.post(url, headers=ui_headers("wrong"), json={})
        assert r.status_code == 401
        assert r.headers["access-control-allow-origin"] == UI_ORIGIN
