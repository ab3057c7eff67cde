"""Management in the engine API's spelling (PROTOCOL.md §10.4), with the shapes the UI reads.

Our own spelling (no ``namespace``) is covered by ``test_management.py`` and
must not change; these calls carry ``?namespace=default`` as the UI's
engine-API client always does.
"""

from __future__ import annotations

import base64
from typing import Any

import cbor2
import httpx
import pytest
from actorscope.server.runner import RunningServer

TIMEOUT = 5.0
NS = {"namespace": "default"}
ACTOR_FIELDS = {
    "actor_id",
    "name",
    "key",
    "namespace_id",
    "datacenter",
    "runner_name_selector",
    "crash_policy",
    "create_ts",
    "start_ts",
    "connectable_ts",
    "sleep_ts",
    "destroy_ts",
    "pending_allocation_ts",
    "reschedule_ts",
    "error",
}


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert f"{body['group']}.{body['code']}" == code


def assert_ui_actor(actor: dict[str, Any], name: str, key: str) -> None:
    assert set(actor) == ACTOR_FIELDS
    assert (actor["name"], actor["key"], actor["namespace_id"]) == (name, key, "default")
    assert actor["crash_policy"] in ("restart", "sleep", "destroy")
    assert isinstance(actor["datacenter"], str) and isinstance(actor["runner_name_selector"], str)
    assert isinstance(actor["create_ts"], int) and actor["create_ts"] > 0
    # The UI's "running": create_ts and connectable_ts set, destroy_ts not.
    assert isinstance(actor["connectable_ts"], int) and actor["destroy_ts"] is None
    assert actor["start_ts"] >= actor["create_ts"]
    assert actor["sleep_ts"] is None and actor["error"] is None


@pytest.fixture
async def http(server: RunningServer, auth: dict[str, str]) -> Any:
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as client:
        yield client


async def test_open_by_name_and_key(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    r = await http.get("/actors", params={**NS, "name": "steps", "key": "demo"})
    body = r.json()
    assert set(body) == {"actors", "pagination"}
    assert body["pagination"] == {"cursor": None}
    [actor] = body["actors"]
    assert_ui_actor(actor, "steps", "demo")
    assert actor["actor_id"] == demo_ids["steps"]
    empty = await http.get("/actors", params={**NS, "name": "steps", "key": "nope"})
    assert empty.json() == {"actors": [], "pagination": {"cursor": None}}


async def test_filters(http: httpx.AsyncClient, demo_ids: dict[str, str]) -> None:
    demo = sorted(demo_ids)  # one demo instance per registered name
    async def names(**params: str) -> list[str]:
        r = await http.get("/actors", params={**NS, **params})
        assert r.status_code == 200, r.text
        return [a["name"] for a in r.json()["actors"]]

    assert await names() == demo
    assert await names(name="order,counter") == ["counter", "order"]
    assert await names(name="ghost") == []
    ids = f"{demo_ids['steps']},{demo_ids['counter']},unknown"
    assert await names(actor_ids=ids) == ["counter", "steps"]
    assert await names(actor_ids=demo_ids["order"], name="order") == ["order"]
    assert await names(actor_ids=demo_ids["order"], name="steps") == []
    assert await names(include_destroyed="true", name="steps") == ["steps"]
    assert await names(include_destroyed="false") == demo
    bad = await http.get("/actors", params={**NS, "include_destroyed": "maybe"})
    assert_error(bad, 400, "request.invalid")


async def test_pagination(http: httpx.AsyncClient) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {**NS, "limit": "3", **({"cursor": cursor} if cursor else {})}
        body = (await http.get("/actors", params=params)).json()
        pages += 1
        seen += [a["actor_id"] for a in body["actors"]]
        cursor = body["pagination"]["cursor"]
        if cursor is None:
            break
        assert len(body["actors"]) == 3
    everything = (await http.get("/actors", params=NS)).json()["actors"]
    assert seen == [a["actor_id"] for a in everything]
    assert pages == -(-len(everything) // 3) and len(everything) > 3
    r = await http.get("/actors", params={**NS, "cursor": "not-a-cursor"})
    assert_error(r, 400, "request.invalid")
    assert_error(await http.get("/actors", params={**NS, "limit": "-1"}), 400, "request.invalid")


async def test_namespace_must_be_default(http: httpx.AsyncClient) -> None:
    for path in ("/actors", "/actors/names"):
        r = await http.get(path, params={"namespace": "prod"})
        assert_error(r, 404, "namespace.not_found")


async def test_names(http: httpx.AsyncClient, server: RunningServer) -> None:
    registered = sorted(server.directory.registry.names())
    assert {"counter", "order", "steps"} <= set(registered)
    body = (await http.get("/actors/names", params={**NS, "limit": "100"})).json()
    assert body == {
        "names": {n: {"metadata": {}} for n in registered},
        "pagination": {"cursor": None},
    }
    first = (await http.get("/actors/names", params={**NS, "limit": "3"})).json()
    assert list(first["names"]) == registered[:3]
    params = {**NS, "limit": "100", "cursor": first["pagination"]["cursor"]}
    rest = (await http.get("/actors/names", params=params)).json()
    assert rest == {
        "names": {n: {"metadata": {}} for n in registered[3:]},
        "pagination": {"cursor": None},
    }


async def test_create_the_ui_way(http: httpx.AsyncClient) -> None:
    body = {
        "name": "counter",
        "key": "made-in-ui",
        "datacenter": "local",
        "runner_name_selector": "default",
        "crash_policy": "sleep",
    }
    r = await http.post("/actors", params=NS, json=body)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"actor"}
    actor = r.json()["actor"]
    assert_ui_actor(actor, "counter", "made-in-ui")
    # It is live and listed.
    listed = await http.get("/actors", params={**NS, "actor_ids": actor["actor_id"]})
    assert listed.json()["actors"] == [actor]
    state = await http.get(f"/gateway/{actor['actor_id']}/inspector/state")
    assert state.json()["state"] == {"count": 0}
    # Create means create: the same key again is a conflict.
    assert_error(await http.post("/actors", params=NS, json=body), 409, "actor.duplicate_key")
    # No key: a fresh one; input that is CBOR null (what the UI sends for "none") is fine.
    nothing = base64.b64encode(cbor2.dumps(None)).decode()
    r = await http.post("/actors", params=NS, json={"name": "counter", "input": nothing})
    fresh = r.json()["actor"]
    assert fresh["key"] and fresh["key"] != "made-in-ui"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "ghost", "key": "x"}, 404, "actor.definition_not_found"),
        ({"key": "x"}, 400, "request.invalid"),
        ({"name": "counter", "key": 3}, 400, "request.invalid"),
        ({"name": "counter", "crash_policy": 1}, 400, "request.invalid"),
        ({"name": "counter", "input": "%%%"}, 400, "request.invalid"),
        (
            {"name": "counter", "input": base64.b64encode(cbor2.dumps(5)).decode()},
            400,
            "request.invalid",
        ),
    ],
)
async def test_create_refusals(
    http: httpx.AsyncClient, body: dict[str, Any], status: int, code: str
) -> None:
    assert_error(await http.post("/actors", params=NS, json=body), status, code)


async def test_get_or_create_the_ui_way(http: httpx.AsyncClient) -> None:
    body = {"name": "steps", "key": "g", "runner_name_selector": "default", "crash_policy": "sleep"}
    first = (await http.put("/actors", params=NS, json=body)).json()
    assert first["created"] is True
    assert_ui_actor(first["actor"], "steps", "g")
    again = (await http.put("/actors", params=NS, json=body)).json()
    assert again == {"actor": first["actor"], "created": False}
    # Our spelling keeps refusing a null key; the engine's makes a fresh one.
    r = await http.put("/actors", json={"name": "steps", "key": None})
    assert_error(r, 400, "request.invalid")
    r = await http.post("/actors", params=NS, json={"name": "steps", "key": None})
    assert r.status_code == 200 and r.json()["actor"]["key"]
    # One implementation, two spellings: ours sees the same actor.
    ours = (await http.put("/actors", json={"name": "steps", "key": "g"})).json()
    assert ours == {
        "actor": {k: first["actor"][k] for k in ("actor_id", "name", "key", "create_ts")}
    }


async def test_the_ui_reads_the_actor_token_from_kv(
    server: RunningServer, http: httpx.AsyncClient, demo_ids: dict[str, str]
) -> None:
    steps = demo_ids["steps"]
    token = (await http.get(f"/actors/{steps}/inspector-token")).json()["token"]
    # Exactly the URL the UI requests: base64 of the key [3], percent-encoded.
    r = await http.get(f"/actors/{steps}/kv/keys/Aw%3D%3D?namespace=default")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"value", "update_ts"}
    assert base64.b64decode(body["value"]).decode() == token
    assert isinstance(body["update_ts"], int)
    # Unpadded base64 names the same key.
    assert (await http.get(f"/actors/{steps}/kv/keys/Aw?namespace=default")).json() == body
    # Every other key is not found; bad base64 is a bad request.
    for other in ("AQ%3D%3D", "AwM%3D", "AA%3D%3D"):
        r = await http.get(f"/actors/{steps}/kv/keys/{other}?namespace=default")
        assert_error(r, 404, "actor.kv_key_not_found")
    r = await http.get(f"/actors/{steps}/kv/keys/%25%25?namespace=default")
    assert_error(r, 400, "request.invalid")
    r = await http.get("/actors/nope/kv/keys/Aw%3D%3D?namespace=default")
    assert_error(r, 404, "actor.not_found")


async def test_the_kv_read_needs_the_server_token(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    steps = demo_ids["steps"]
    actor = server.directory.get(steps)
    assert actor is not None
    path = f"/actors/{steps}/kv/keys/Aw%3D%3D?namespace=default"
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        assert_error(await http.get(path), 401, "inspector.unauthorized")
        # The UI sends an empty bearer when it has no token.
        empty = {"Authorization": "Bearer"}
        assert_error(await http.get(path, headers=empty), 401, "inspector.unauthorized")
        own = {"Authorization": f"Bearer {actor.record.token}"}
        assert_error(await http.get(path, headers=own), 401, "inspector.unauthorized")
        # Exactly like GET /actors/{id}/inspector-token.
        r = await http.get(f"/actors/{steps}/inspector-token", headers=own)
        assert_error(r, 401, "inspector.unauthorized")


async def test_every_engine_call_needs_the_server_token(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        for method, path in [
            ("GET", "/actors?namespace=default"),
            ("GET", "/actors/names?namespace=default"),
            ("POST", "/actors?namespace=default"),
            ("PUT", "/actors?namespace=default"),
        ]:
            r = await http.request(method, path, json={"name": "counter", "key": "x"})
            assert_error(r, 401, "inspector.unauthorized")
