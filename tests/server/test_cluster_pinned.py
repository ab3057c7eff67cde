"""An actor with its own database is never moved: real nodes on one real PostgreSQL.

Its SQLite file is on the node that created it, so when that node dies
(kill -9) no other node takes it over, even long after its lease expired
(requests for it answer 503 ``cluster.actor_pinned``), while the node's
other actors move; restarted with the same ``--node-id`` and data
directory, the node serves it again with every row it had.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

LEASE_MS = 1500
TOKEN = "cluster-pinned-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _node(serve_process: Any, tmp_path: Path, dsn: str, node_id: str) -> Any:
    return await serve_process(
        "--demo",
        "--store",
        dsn,
        "--node-id",
        node_id,
        "--lease-ms",
        str(LEASE_MS),
        "--inspector-token-file",
        str(tmp_path / "token"),
        "--data",
        str(tmp_path / node_id),
    )


async def _listing(http: httpx.AsyncClient, node: Any) -> dict[str, dict[str, Any]]:
    answer = await http.get(f"{node.url}/actors", headers=AUTH)
    answer.raise_for_status()
    return {a["actor_id"]: a for a in answer.json()["actors"]}


async def _items(http: httpx.AsyncClient, node: Any, actor: str) -> httpx.Response:
    return await http.get(
        f"{node.url}/gateway/{actor}/inspector/database/rows",
        params={"table": "items"},
        headers=AUTH,
    )


def _lease_holder(dsn: str, actor: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT node_id FROM actorscope.leases WHERE actor_id = %s", (actor,)
        ).fetchone()
    assert row is not None
    return str(row[0])


async def test_kill9_leaves_a_pinned_actor_on_its_node_until_it_returns(
    serve_process: Any, tmp_path: Path, postgres_dsn: str
) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "token").chmod(0o600)
    a = await _node(serve_process, tmp_path, postgres_dsn, "a")
    b = await _node(serve_process, tmp_path, postgres_dsn, "b")
    inventory, counter = a.actors["inventory/demo"], a.actors["counter/demo"]
    async with httpx.AsyncClient(timeout=30) as http:
        added = await http.post(
            f"{b.url}/gateway/{inventory}/inspector/action/add_item",
            json={"args": ["kiwi", 3]},
            headers=AUTH,
        )
        assert added.status_code == 200, added.text
        assert (await _listing(http, b))[inventory]["pinnedTo"] == "a"
        a.kill()
        await a.proc.wait()
        deadline = time.monotonic() + LEASE_MS / 1000 + 60
        while (await _listing(http, b))[counter]["node"] != "b":
            assert time.monotonic() < deadline, "b never took the counter over"
            await asyncio.sleep(0.1)
        # Several more lease periods: b still leaves the pinned actor alone.
        await asyncio.sleep(3 * LEASE_MS / 1000)
        listed = (await _listing(http, b))[inventory]
        assert listed["node"] is None and listed["pinnedTo"] == "a"
        assert _lease_holder(postgres_dsn, inventory) == "a"
        refused = await _items(http, b, inventory)
        assert refused.status_code == 503
        assert refused.json()["code"] == "actor_pinned"
        assert "node a" in refused.json()["message"]
        assert not (tmp_path / "b" / "actors" / f"{inventory}.sqlite").exists()
        # Its node comes back: the actor is served again, with its rows.
        again = await _node(serve_process, tmp_path, postgres_dsn, "a")
        deadline = time.monotonic() + 60
        while (await _listing(http, b))[inventory]["node"] != "a":
            assert time.monotonic() < deadline, "a never took its pinned actor back"
            await asyncio.sleep(0.1)
        rows = await _items(http, b, inventory)
        assert rows.status_code == 200, rows.text
        names = [row["name"] for row in rows.json()["rows"]]
        assert names == ["apple", "pear", "plum", "kiwi"]
        assert (await _items(http, again, inventory)).json() == rows.json()
