"""Management endpoints: PUT/GET /actors and an actor's inspector token."""

from __future__ import annotations

from typing import Any

import httpx
from actorscope.server.runner import RunningServer

TIMEOUT = 5.0


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert f"{body['group']}.{body['code']}" == code


async def test_put_creates_then_gets(server: RunningServer, auth: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        r = await http.put("/actors", json={"name": "counter", "key": "k1"})
        assert r.status_code == 200, r.text
        actor = r.json()["actor"]
        assert set(actor) == {"actor_id", "name", "key", "create_ts"}
        assert (actor["name"], actor["key"]) == ("counter", "k1")
        assert isinstance(actor["create_ts"], int) and actor["create_ts"] > 0
        again = (await http.put("/actors", json={"name": "counter", "key": "k1"})).json()
        assert again == {"actor": actor}
        other = (await http.put("/actors", json={"name": "counter", "key": "k2"})).json()
        assert other["actor"]["actor_id"] != actor["actor_id"]
        # The new actor is live: its inspector answers with its initial state.
        state = await http.get(f"/gateway/{actor['actor_id']}/inspector/state")
        assert state.json() == {"state": {"count": 0}, "isStateEnabled": True}


async def test_list_actors(server: RunningServer, auth: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        await http.put("/actors", json={"name": "counter", "key": "more"})
        counters = (await http.get("/actors", params={"name": "counter"})).json()["actors"]
        assert [(a["name"], a["key"]) for a in counters] == [
            ("counter", "demo"),
            ("counter", "more"),
        ]
        everything = (await http.get("/actors")).json()["actors"]
        assert sorted(a["name"] for a in everything) == [
            "counter",
            "counter",
            "heartbeat",
            "inventory",
            "order",
            "steps",
        ]
        assert (await http.get("/actors", params={"name": "ghost"})).json() == {"actors": []}


async def test_inspector_token(server: RunningServer, auth: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        actor = (await http.put("/actors", json={"name": "steps", "key": "t"})).json()["actor"]
        r = await http.get(f"/actors/{actor['actor_id']}/inspector-token")
        token = r.json()["token"]
        assert isinstance(token, str) and len(token) >= 32
        assert token != server.server_token
        # The token opens that actor's inspector, and only that one.
        own = {"Authorization": f"Bearer {token}"}
        r = await http.get(f"/gateway/{actor['actor_id']}/inspector/rpcs", headers=own)
        assert r.json() == {"rpcs": ["get_timeline"]}
        counter = server.directory.actors("counter")[0].actor_id
        r = await http.get(f"/gateway/{counter}/inspector/rpcs", headers=own)
        assert_error(r, 401, "inspector.unauthorized")
        # ... and not the management endpoints.
        assert_error(await http.get("/actors", headers=own), 401, "inspector.unauthorized")
        assert_error(await http.get("/actors/nope/inspector-token"), 404, "actor.not_found")


async def test_management_refusals(server: RunningServer, auth: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        assert_error(await http.get("/actors"), 401, "inspector.unauthorized")
        bad = {"Authorization": "Bearer nope"}
        r = await http.put("/actors", json={"name": "counter", "key": "x"}, headers=bad)
        assert_error(r, 401, "inspector.unauthorized")
        counter = server.directory.actors("counter")[0].actor_id
        assert_error(
            await http.get(f"/actors/{counter}/inspector-token"), 401, "inspector.unauthorized"
        )
        http.headers.update(auth)
        assert_error(await http.put("/actors", content=b"{"), 400, "request.invalid")
        assert_error(await http.put("/actors", json=["counter"]), 400, "request.invalid")
        assert_error(await http.put("/actors", json={"key": "x"}), 400, "request.invalid")
        assert_error(
            await http.put("/actors", json={"name": "counter", "key": 3}), 400, "request.invalid"
        )
        r = await http.put("/actors", json={"name": "ghost", "key": "x"})
        assert_error(r, 404, "actor.definition_not_found")


async def test_management_in_dev_mode(server_factory: Any) -> None:
    dev = await server_factory(dev=True, server_token=None)
    async with httpx.AsyncClient(base_url=dev.url, timeout=TIMEOUT) as http:
        actor = (await http.put("/actors", json={"name": "counter", "key": "d"})).json()["actor"]
        r = await http.get(f"/actors/{actor['actor_id']}/inspector-token")
        assert isinstance(r.json()["token"], str)


async def test_actors_survive_a_restart(server_factory: Any, auth: dict[str, str]) -> None:
    first = await server_factory()
    data_dir = first.config.data_dir
    async with httpx.AsyncClient(base_url=first.url, headers=auth, timeout=TIMEOUT) as http:
        actor = (await http.put("/actors", json={"name": "counter", "key": "r"})).json()["actor"]
        await http.post(
            f"/gateway/{actor['actor_id']}/inspector/action/increment", json={"args": [7]}
        )
        token = (await http.get(f"/actors/{actor['actor_id']}/inspector-token")).json()["token"]
    await first.stop()
    second = await server_factory(data_dir=data_dir)
    async with httpx.AsyncClient(base_url=second.url, headers=auth, timeout=TIMEOUT) as http:
        again = (await http.put("/actors", json={"name": "counter", "key": "r"})).json()["actor"]
        assert again == actor
        own = {"Authorization": f"Bearer {token}"}
        r = await http.get(f"/gateway/{actor['actor_id']}/inspector/state", headers=own)
        assert r.json() == {"state": {"count": 7}, "isStateEnabled": True}
        spans = (await http.get(f"/gateway/{actor['actor_id']}/inspector/traces")).json()
        names = [s["name"] for s in spans["otlp"]["resourceSpans"][0]["scopeSpans"][0]["spans"]]
        assert names == ["increment"]
