"""Replay with the actor state rewound too: state checkpoints and ``restoreState``.

A real server on a loopback port, real HTTP: an actor defined with
``state_checkpoints=True`` keeps its state as each step left it; a replay
with ``{"restoreState": true}`` puts the state back to what it was at the
rewind boundary (so a re-run does not apply the steps' effects twice), a dry
run shows the diff, the audit says so, the CLI and the Python client ask for
it, and an actor without checkpoints refuses with a clear 400.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

import httpx
from actorscope.client.http import InspectorHttpError, ServerHttp
from actorscope.engine import WorkflowContext
from actorscope.server.definitions import ActorContext, ActorDefinition, Registry

_spec = importlib.util.spec_from_file_location(
    "_inspect_cli_helpers", Path(__file__).resolve().parent / "test_inspect_cli.py"
)
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
inspect = _helpers.inspect

TIMEOUT = 10.0
STEPS = ("one", "two", "three")


def _workflow(names: tuple[str, ...]) -> Any:
    async def wf(ctx: WorkflowContext, actor: ActorContext) -> None:
        for name in names:
            await ctx.step(name, lambda name=name: actor.state["timeline"].append(name))
        await ctx.sleep("rest", 3600)

    return wf


def registry() -> Registry:
    return Registry(
        [
            ActorDefinition(
                "ledger", {"timeline": []}, workflow=_workflow(STEPS), state_checkpoints=True
            ),
            ActorDefinition("plain", {"timeline": []}, workflow=_workflow(STEPS)),
            ActorDefinition(
                "short",
                {"timeline": []},
                workflow=_workflow(("a", "b", "c", "d", "e")),
                state_checkpoints=2,
            ),
        ]
    )


class Actor:
    def __init__(self, http: httpx.AsyncClient, actor_id: str) -> None:
        self.http = http
        self.base = f"/gateway/{actor_id}/inspector"

    async def history(self) -> dict[str, Any]:
        answer = await self.http.get(self.base + "/workflow-history")
        history: dict[str, Any] = answer.json()["history"]
        return history

    async def names(self) -> list[str]:
        h = await self.history()
        return [h["nameRegistry"][e["location"][-1]["val"]] for e in h["entries"]]

    async def timeline(self) -> list[str]:
        return list((await self.http.get(self.base + "/state")).json()["state"]["timeline"])

    async def until(self, timeline: list[str]) -> None:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while (await self.names())[-1:] != ["rest"] or await self.timeline() != timeline:
            assert asyncio.get_running_loop().time() < deadline, await self.timeline()
            await asyncio.sleep(0.02)

    async def replay(self, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(self.base + "/workflow/replay", json=body)

    async def audit(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = (
            await self.http.get(self.base + "/workflow/replays")
        ).json()["replays"]
        return records


async def _start(server_factory: Any, **overrides: Any) -> tuple[Any, dict[str, str]]:
    server = await server_factory(registry=registry(), **overrides)
    return server, {a.record.name: a.actor_id for a in server.directory.actors()}


async def test_replay_restores_the_state_at_the_boundary(
    server_factory: Any, auth: dict[str, str]
) -> None:
    server, ids = await _start(server_factory)
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        ledger = Actor(http, ids["ledger"])
        await ledger.until(["one", "two", "three"])
        before = await ledger.history()

        # The dry run shows what the restore would change, and changes nothing.
        r = await ledger.replay({"step": "two", "dryRun": True, "restoreState": True})
        assert r.status_code == 200, r.text
        state = r.json()["state"]
        assert state["current"] == {"timeline": ["one", "two", "three"]}
        assert state["restored"] == {"timeline": ["one"]}
        assert state["diff"] == [
            {"path": ["timeline", 1], "op": "remove", "from": "two"},
            {"path": ["timeline", 2], "op": "remove", "from": "three"},
        ]
        assert await ledger.history() == before
        assert await ledger.audit() == []

        r = await ledger.replay({"step": "two", "restoreState": True, "reason": "undo twice"})
        assert r.status_code == 200, r.text
        assert r.json()["stateRestored"] is True
        # The re-run applies two and three once more, to the restored state.
        await ledger.until(["one", "two", "three"])
        [record] = await ledger.audit()
        assert (record["result"], record["stateRestored"], record["reason"]) == (
            "done",
            True,
            "undo twice",
        )

        # Without restoreState the effects happen again (the default).
        r = await ledger.replay({"step": "two"})
        assert r.status_code == 200 and r.json()["stateRestored"] is False
        await ledger.until(["one", "two", "three", "two", "three"])
        assert [rec["stateRestored"] for rec in await ledger.audit()] == [False, True]

        # From the start, the initial state comes back.
        r = await ledger.replay({"restoreState": True})
        assert r.status_code == 200, r.text
        await ledger.until(["one", "two", "three"])


async def test_restore_needs_state_checkpoints(server_factory: Any, auth: dict[str, str]) -> None:
    server, ids = await _start(server_factory)
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        plain = Actor(http, ids["plain"])
        await plain.until(["one", "two", "three"])
        before = await plain.history()
        for body in ({"step": "two", "restoreState": True}, {"restoreState": True, "dryRun": True}):
            r = await plain.replay(body)
            assert r.status_code == 400, r.text
            assert (r.json()["group"], r.json()["code"]) == (
                "workflow",
                "state_checkpoints_disabled",
            )
        assert await plain.history() == before
        assert await plain.timeline() == ["one", "two", "three"]
        [refused] = await plain.audit()  # the replay asked for, refused; the look is not audited
        assert refused["refusal"]["code"] == "workflow.state_checkpoints_disabled"


async def test_restore_past_the_kept_checkpoints_is_refused(
    server_factory: Any, auth: dict[str, str]
) -> None:
    server, ids = await _start(server_factory)
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        short = Actor(http, ids["short"])  # five steps, two checkpoints kept
        await short.until(["a", "b", "c", "d", "e"])
        before = await short.history()
        r = await short.replay({"step": "b", "restoreState": True})
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "state_checkpoint_unavailable"
        assert await short.history() == before
        assert await short.timeline() == ["a", "b", "c", "d", "e"]
        # The newest checkpoints are kept: the state after "d" comes back.
        r = await short.replay({"step": "e", "restoreState": True})
        assert r.status_code == 200, r.text
        await short.until(["a", "b", "c", "d", "e"])
        # The initial state is always kept.
        r = await short.replay({"restoreState": True})
        assert r.status_code == 200, r.text
        await short.until(["a", "b", "c", "d", "e"])


async def test_checkpoints_survive_a_restart(
    server_factory: Any, auth: dict[str, str], tmp_path: Path
) -> None:
    data = tmp_path / "kept"
    first, ids = await _start(server_factory, data_dir=data)
    async with httpx.AsyncClient(base_url=first.url, headers=auth, timeout=TIMEOUT) as http:
        await Actor(http, ids["ledger"]).until(["one", "two", "three"])
    await first.stop()
    second, ids2 = await _start(server_factory, data_dir=data)
    assert ids2 == ids
    async with httpx.AsyncClient(base_url=second.url, headers=auth, timeout=TIMEOUT) as http:
        ledger = Actor(http, ids["ledger"])
        r = await ledger.replay({"step": "three", "restoreState": True})
        assert r.status_code == 200, r.text
        await ledger.until(["one", "two", "three"])


async def test_cli_and_client_restore_state(server_factory: Any, auth: dict[str, str]) -> None:
    server, ids = await _start(server_factory)
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        ledger = Actor(http, ids["ledger"])
        await ledger.until(["one", "two", "three"])

        look = await inspect(
            server, "--actor", ids["ledger"], "replay", "--step", "two", "--dry-run",
            "--restore-state",
        )  # fmt: skip
        assert look.code == 0, look.err
        assert "state: 2 changes on restore" in look.out
        assert '- timeline/1: "two"' in look.out

        done = await inspect(
            server, "--actor", ids["ledger"], "replay", "--step", "three", "--yes",
            "--restore-state", "--reason", "from the cli",
        )  # fmt: skip
        assert done.code == 0, done.err
        assert "state restored" in done.out
        await ledger.until(["one", "two", "three"])

        client = ServerHttp(server.url, auth["Authorization"].split()[1]).actor(ids["ledger"])
        answer = await asyncio.to_thread(client.replay, step="two", restore_state=True)
        assert answer["stateRestored"] is True
        await ledger.until(["one", "two", "three"])
        audit = (await asyncio.to_thread(client.replays))["replays"]
        assert [(r["stateRestored"], r["transport"]) for r in audit] == [
            (True, "http"),
            (True, "http"),
        ]
        assert audit[1]["reason"] == "from the cli"

        plain = ServerHttp(server.url, auth["Authorization"].split()[1]).actor(ids["plain"])
        try:
            await asyncio.to_thread(plain.replay, restore_state=True)
        except InspectorHttpError as exc:
            assert (exc.status, exc.code) == (400, "workflow.state_checkpoints_disabled")
        else:
            raise AssertionError("restore without checkpoints was not refused")
