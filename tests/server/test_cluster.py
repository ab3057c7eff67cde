"""Several ``actorscope serve --store <dsn>`` processes on one real PostgreSQL.

Every node is a real subprocess on 127.0.0.1 (port 0) with its own data
directory; the database is the session's throwaway PostgreSQL
(``postgres_dsn``). Lease time is short (``LEASE_MS``) so that takeovers
happen within a test; every wait polls a condition with a generous deadline.

Stated bound (the README says the same): a dead node's actors are resumed
by another node within the lease time plus one tick (lease/3) plus the time
to open them; on this loaded shared machine the test allows ``LEASE_MS``
plus ``TAKEOVER_SLACK_S``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from actorscope.client.connection import InspectorClient
from actorscope.client.models import StateUpdate

from .conftest import eventually

LEASE_MS = 1500
TAKEOVER_SLACK_S = 30.0
TOKEN = "cluster-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ORDER_STEPS = ["validate", "reserve-0", "reserve-1", "reserve-2", "charge"]


async def _node(serve_process: Any, tmp_path: Path, dsn: str, node_id: str, *extra: str) -> Any:
    return await serve_process(
        "--store",
        dsn,
        "--node-id",
        node_id,
        "--lease-ms",
        str(LEASE_MS),
        "--inspector-token",
        TOKEN,
        "--data",
        str(tmp_path / node_id),
        # Every node runs the same definitions; the first one started creates
        # the demo actors, the others find them owned and leave them there.
        "--demo",
        *extra,
    )


async def _get(http: httpx.AsyncClient, url: str) -> Any:
    answer = await http.get(url, headers=AUTH)
    answer.raise_for_status()
    return answer.json()


def _owners(listing: dict[str, Any]) -> dict[str, str | None]:
    return {a["actor_id"]: a["node"] for a in listing["actors"]}


def _leases(dsn: str) -> dict[str, tuple[str, int]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT actor_id, node_id, token FROM actorscope.leases").fetchall()
    return {r[0]: (r[1], int(r[2])) for r in rows}


async def _timeline(http: httpx.AsyncClient, url: str, actor_id: str) -> list[str]:
    state = await _get(http, f"{url}/gateway/{actor_id}/inspector/state")
    return list(state["state"]["timeline"])


async def test_three_nodes_spread_actors_and_any_node_answers(
    serve_process: Any, tmp_path: Path, postgres_dsn: str
) -> None:
    a = await _node(serve_process, tmp_path, postgres_dsn, "a")
    b = await _node(serve_process, tmp_path, postgres_dsn, "b")
    c = await _node(serve_process, tmp_path, postgres_dsn, "c")
    counter = a.actors["counter/demo"]
    async with httpx.AsyncClient(timeout=30) as http:
        # Creation places an actor on the node asked.
        made = {}
        for node, name in ((b, "on-b"), (c, "on-c")):
            answer = await http.put(
                f"{node.url}/actors", json={"name": "counter", "key": name}, headers=AUTH
            )
            assert answer.status_code == 200, answer.text
            made[name] = answer.json()["actor"]["actor_id"]
        for node in (a, b, c):
            owners = _owners(await _get(http, f"{node.url}/actors"))
            assert owners[counter] == "a"
            assert owners[made["on-b"]] == "b"
            assert owners[made["on-c"]] == "c"
            assert len(owners) == 7  # five demo actors and two counters
        # The same (name, key) asked of another node is the existing actor, not a copy.
        again = await http.put(
            f"{c.url}/actors", json={"name": "counter", "key": "on-b"}, headers=AUTH
        )
        assert again.json()["actor"]["actor_id"] == made["on-b"]
        # Any node answers for any actor: an action through c on b's actor, read through a.
        for node in (a, b, c):
            answer = await http.post(
                f"{node.url}/gateway/{made['on-b']}/inspector/action/increment",
                json={"args": [2]},
                headers=AUTH,
            )
            assert answer.status_code == 200, answer.text
        state = await _get(http, f"{a.url}/gateway/{made['on-b']}/inspector/state")
        assert state["state"] == {"count": 6}
        # A wrong token is refused by the owner, through the forwarder too.
        refused = await http.get(
            f"{c.url}/gateway/{made['on-b']}/inspector/state",
            headers={"Authorization": "Bearer wrong"},
        )
        assert refused.status_code == 401
        nodes = await _get(http, f"{b.url}/nodes")
        assert {n["nodeId"]: n["leases"] for n in nodes["nodes"]} == {"a": 5, "b": 1, "c": 1}
        assert all(n["alive"] for n in nodes["nodes"])


async def test_kill9_owner_of_a_running_workflow_another_node_resumes_it(
    serve_process: Any, tmp_path: Path, postgres_dsn: str
) -> None:
    a = await _node(serve_process, tmp_path, postgres_dsn, "a")
    b = await _node(serve_process, tmp_path, postgres_dsn, "b")
    order = a.actors["order/demo"]
    async with httpx.AsyncClient(timeout=30) as http:

        async def charged() -> bool:
            return await _timeline(http, b.url, order) == ORDER_STEPS

        await eventually(charged, "the order workflow to reach its cool-down sleep on a")
        a.kill()
        await a.proc.wait()
        killed = time.monotonic()

        async def owned_by_b() -> bool:
            return _owners(await _get(http, f"{b.url}/actors"))[order] == "b"

        await eventually(owned_by_b, "b to take the order over", timeout=LEASE_MS / 1000 + 60)
        took = time.monotonic() - killed
        assert took < LEASE_MS / 1000 + TAKEOVER_SLACK_S
        # Resumed where it was: the sleep ends, the queue wait is re-armed.
        answer = await http.post(
            f"{b.url}/gateway/{order}/queue/approval", json={"by": "test"}, headers=AUTH
        )
        assert answer.status_code == 200, answer.text

        async def shipped() -> bool:
            return "ship" in await _timeline(http, b.url, order)

        await eventually(shipped, "the resumed workflow to ship")
        # Every step that completed on a ran exactly once.
        assert await _timeline(http, b.url, order) == [*ORDER_STEPS, "ship"]
        history = await _get(http, f"{b.url}/gateway/{order}/inspector/workflow-history")
        names = history["history"]["nameRegistry"]
        assert names.count("charge") == 1 and "ship" in names
    assert _leases(postgres_dsn)[order] == ("b", 2)


async def test_sigstopped_node_past_its_lease_is_fenced_off(
    serve_process: Any, tmp_path: Path, postgres_dsn: str
) -> None:
    a = await _node(serve_process, tmp_path, postgres_dsn, "a")
    b = await _node(serve_process, tmp_path, postgres_dsn, "b")
    order, counter = a.actors["order/demo"], a.actors["counter/demo"]
    async with httpx.AsyncClient(timeout=30) as http:

        async def charged() -> bool:
            return await _timeline(http, b.url, order) == ORDER_STEPS

        await eventually(charged, "the order workflow to reach its cool-down sleep on a")
        # Paused during the 2 s sleep: when it wakes, its timer is overdue
        # and its workflow tries to record the sleep's end at once.
        a.proc.send_signal(signal.SIGSTOP)
        try:

            async def owned_by_b() -> bool:
                owners = _owners(await _get(http, f"{b.url}/actors"))
                return owners[order] == "b" and owners[counter] == "b"

            await eventually(owned_by_b, "b to take a's actors over")
            for _ in range(3):
                answer = await http.post(
                    f"{b.url}/gateway/{counter}/inspector/action/increment",
                    json={"args": [1]},
                    headers=AUTH,
                )
                assert answer.status_code == 200, answer.text
        finally:
            a.proc.send_signal(signal.SIGCONT)

        async def a_dropped_them() -> bool:
            metrics = (await _get(http, f"{a.url}/nodes"))["metrics"]
            # counter, heartbeat, order, steps went to b; the pinned inventory
            # (its lease expired too) may be dropped and taken back by a.
            return bool(metrics["leasesLost"] >= 4 and metrics["held"] <= 1)

        await eventually(a_dropped_them, "a to drop the actors whose leases it lost")
        # a now forwards to b: a request through a is b's actor, not a stale copy.
        state = await _get(http, f"{a.url}/gateway/{counter}/inspector/state")
        assert state["state"] == {"count": 3}
        answer = await http.post(
            f"{a.url}/gateway/{order}/queue/approval", json={"by": "test"}, headers=AUTH
        )
        assert answer.status_code == 200, answer.text

        async def shipped() -> bool:
            return "ship" in await _timeline(http, b.url, order)

        await eventually(shipped, "b's workflow to ship")
        assert await _timeline(http, a.url, order) == [*ORDER_STEPS, "ship"]
    leases = _leases(postgres_dsn)
    assert leases[order] == ("b", 2) and leases[counter] == ("b", 2)
    assert "lost the lease of actor" in a.log_text()


async def test_replay_sent_to_a_non_owner_is_applied_by_the_owner_and_audited_once(
    serve_process: Any, tmp_path: Path, postgres_dsn: str
) -> None:
    a = await _node(serve_process, tmp_path, postgres_dsn, "a")
    b = await _node(serve_process, tmp_path, postgres_dsn, "b")
    steps = a.actors["steps/demo"]
    async with httpx.AsyncClient(timeout=30) as http:

        async def done() -> bool:
            return await _timeline(http, a.url, steps) == ["one", "two", "three"]

        await eventually(done, "the steps workflow to finish its steps")
        answer = await http.post(
            f"{b.url}/gateway/{steps}/inspector/workflow/replay",
            json={"step": "two", "reason": "through b"},
            headers=AUTH,
        )
        assert answer.status_code == 200, answer.text

        async def rerun() -> bool:
            return await _timeline(http, a.url, steps) == ["one", "two", "three", "two", "three"]

        await eventually(rerun, "the owner to re-run from step two")
        for node in (a, b):
            audit = await _get(http, f"{node.url}/gateway/{steps}/inspector/workflow/replays")
            assert [r["reason"] for r in audit["replays"]] == ["through b"]
    assert _leases(postgres_dsn)[steps] == ("a", 1)


async def test_inspector_on_one_node_sees_pushes_of_an_actor_owned_by_another(
    serve_process: Any, tmp_path: Path, postgres_dsn: str
) -> None:
    a = await _node(serve_process, tmp_path, postgres_dsn, "a")
    b = await _node(serve_process, tmp_path, postgres_dsn, "b")
    counter = a.actors["counter/demo"]
    async with InspectorClient(b.url, counter, TOKEN, timeout=30) as inspector:
        assert inspector.init is not None
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(
                f"{a.url}/gateway/{counter}/inspector/action/increment",
                json={"args": [5]},
                headers=AUTH,
            )
            assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 30
        while True:
            push = await inspector.next_push(timeout=max(0.1, deadline - time.monotonic()))
            if isinstance(push, StateUpdate) and push.state == {"count": 5}:
                break
        # Requests over the relayed socket reach the owner too.
        assert await inspector.action("get_count") == 5


async def test_sigterm_drains_and_another_node_takes_over_at_once(
    serve_process: Any, tmp_path: Path, postgres_dsn: str
) -> None:
    a = await _node(serve_process, tmp_path, postgres_dsn, "a")
    b = await _node(serve_process, tmp_path, postgres_dsn, "b")
    order = a.actors["order/demo"]
    a.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(a.proc.wait(), 60) == 0
    async with httpx.AsyncClient(timeout=30) as http:

        async def moved() -> bool:
            owners = _owners(await _get(http, f"{b.url}/actors"))
            return all(owners[i] == "b" for i in owners if i != a.actors["inventory/demo"])

        await eventually(moved, "b to take over the drained actors")
        nodes = await _get(http, f"{b.url}/nodes")
        assert [n["nodeId"] for n in nodes["nodes"]] == ["b"]  # a left the cluster
        assert nodes["metrics"]["takeovers"] == 4
        # The actor with a node-local database stays pinned to a: refused, not moved.
        pinned = await http.get(
            f"{b.url}/gateway/{a.actors['inventory/demo']}/inspector/summary", headers=AUTH
        )
        assert pinned.status_code == 503
        assert pinned.json()["code"] == "actor_pinned"
        history = await _get(http, f"{b.url}/gateway/{order}/inspector/workflow-history")
        assert history["history"] is not None
    assert json.dumps(_leases(postgres_dsn)[order]) == json.dumps(["b", 2])


async def test_two_nodes_creating_one_name_and_key_at_once_make_one_actor(
    serve_process: Any, tmp_path: Path, postgres_dsn: str
) -> None:
    a = await _node(serve_process, tmp_path, postgres_dsn, "a")
    b = await _node(serve_process, tmp_path, postgres_dsn, "b")
    nodes = (a, b)
    async with httpx.AsyncClient(timeout=60) as http:

        async def put(i: int, key: str) -> httpx.Response:
            url = f"{nodes[i % 2].url}/actors"
            return await http.put(url, json={"name": "counter", "key": key}, headers=AUTH)

        async def post(i: int, key: str) -> httpx.Response:
            url = f"{nodes[i % 2].url}/actors"
            return await http.post(url, json={"name": "counter", "key": key}, headers=AUTH)

        for race in range(8):
            # Get-or-create: every answer is the one actor, whichever node won.
            key = f"raced-{race}"
            answers = await asyncio.gather(*(put(i, key) for i in range(20)))
            assert [r.status_code for r in answers] == [200] * 20, [r.text for r in answers]
            ids = {r.json()["actor"]["actor_id"] for r in answers}
            assert len(ids) == 1, ids
            # Create: one succeeds, the rest get the conflict a lone server gives.
            key = f"posted-{race}"
            answers = await asyncio.gather(*(post(i, key) for i in range(10)))
            codes = sorted(r.status_code for r in answers)
            assert set(codes) <= {200, 409} and 200 in codes, [r.text for r in answers]
            assert (
                len({r.json()["actor"]["actor_id"] for r in answers if r.status_code == 200}) == 1
            )
            assert all(r.json()["code"] == "duplicate_key" for r in answers if r.status_code == 409)
        for node in nodes:
            listing = (await _get(http, f"{node.url}/actors"))["actors"]
            keys = [item["key"] for item in listing if item["name"] == "counter"]
            raced = sorted(k for k in keys if k.startswith(("raced-", "posted-")))
            assert raced == sorted(
                {*(f"raced-{r}" for r in range(8)), *(f"posted-{r}" for r in range(8))}
            )
            # Each lives on one node, which serves it.
            assert all(item["node"] in ("a", "b") for item in listing if item["key"] in raced)


def test_store_comes_from_the_environment_and_a_lone_server_has_none(
    monkeypatch: Any,
) -> None:
    from actorscope.server.cli import build_parser
    from actorscope.server.nodes_cli import STORE_ENV, cluster_config

    parser = build_parser()
    monkeypatch.delenv(STORE_ENV, raising=False)
    assert cluster_config(parser.parse_args(["serve"])) is None
    monkeypatch.setenv(STORE_ENV, "postgresql://u:secret@db/x")
    config = cluster_config(parser.parse_args(["serve", "--lease-ms", "3000"]))
    assert config is not None
    assert config.dsn == "postgresql://u:secret@db/x"
    assert config.lease_ms == 3000
    assert config.node_id.startswith("node-")
    # The flag wins over the environment.
    given = cluster_config(parser.parse_args(["serve", "--store", "postgresql://h/y"]))
    assert given is not None and given.dsn == "postgresql://h/y"
