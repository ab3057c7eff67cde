"""``POST /inspector/database/execute`` (PROTOCOL.md §10.5): the Inspector's Database tab."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from actorscope.server.runner import RunningServer

TIMEOUT = 5.0


@pytest.fixture
async def execute(server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]) -> Any:
    url = f"/gateway/{demo_ids['inventory']}/inspector/database/execute"
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:

        async def run(body: Any, **kwargs: Any) -> httpx.Response:
            return await http.post(url, json=body, **kwargs)

        yield run


async def test_the_sql_console(execute: Any) -> None:
    r = await execute({"sql": "SELECT name, qty FROM items ORDER BY id"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "rows": [
            {"name": "apple", "qty": 12},
            {"name": "pear", "qty": 5},
            {"name": "plum", "qty": 30},
        ]
    }
    # Named properties, with or without their prefix, as the UI sends them.
    for key in ("name", ":name", "$name", "@name"):
        sql = "SELECT qty FROM items WHERE name = :name"
        r = await execute({"sql": sql, "properties": {key: "pear"}})
        assert r.json() == {"rows": [{"qty": 5}]}, key


async def test_a_cell_edit(execute: Any, server: RunningServer, demo_ids: dict[str, str]) -> None:
    # Exactly the statement the UI builds when a cell is edited and saved.
    edit = {"sql": 'UPDATE "items" SET "qty" = ? WHERE "id" = ?', "args": [99, 2]}
    r = await execute(edit)
    assert r.json() == {"rows": []}
    actor = server.directory.get(demo_ids["inventory"])
    assert actor is not None
    rows = await actor.database_rows("items", 10, 0)
    assert [row["qty"] for row in rows] == [12, 99, 30]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "request.invalid"),
        ({"sql": "  "}, "request.invalid"),
        ({"sql": "SELECT ?", "args": [1], "properties": {"a": 1}}, "request.invalid"),
        ({"sql": "SELECT ?", "args": [[1]]}, "request.invalid"),
        ({"sql": "SELECT ?", "args": "1"}, "request.invalid"),
        ({"sql": "SELECT :a", "properties": {"a": {"b": 1}}}, "request.invalid"),
        ({"sql": "SELEKT 1"}, "database.sql_error"),
        ({"sql": "SELECT * FROM nope"}, "database.sql_error"),
        ({"sql": "SELECT 1; SELECT 2"}, "database.sql_error"),
        ({"sql": "SELECT ?", "args": [2**70]}, "database.sql_error"),
    ],
)
async def test_refusals_carry_the_text_the_ui_shows(execute: Any, body: Any, code: str) -> None:
    r = await execute(body)
    assert r.status_code == 400, r.text
    payload = r.json()
    assert f"{payload['group']}.{payload['code']}" == code
    assert payload["error"] == payload["message"] and payload["error"]


async def test_auth_and_actors_without_a_database(
    server: RunningServer, demo_ids: dict[str, str], auth: dict[str, str]
) -> None:
    inventory = server.directory.get(demo_ids["inventory"])
    assert inventory is not None
    body = {"sql": "SELECT 1 AS one"}
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        url = f"/gateway/{demo_ids['inventory']}/inspector/database/execute"
        assert (await http.post(url, json=body)).status_code == 401
        own = {"Authorization": f"Bearer {inventory.record.token}"}
        assert (await http.post(url, json=body, headers=own)).json() == {"rows": [{"one": 1}]}
        other = f"/gateway/{demo_ids['counter']}/inspector/database/execute"
        assert (await http.post(other, json=body, headers=own)).status_code == 401
        r = await http.post(other, json=body, headers=auth)
        assert (r.status_code, r.json()["code"]) == (400, "not_enabled")
