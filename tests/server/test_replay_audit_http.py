"""Every replay audited, the audit bounded and paged (real server, real HTTP).

* a replay body that cannot be recorded (a reason with a lone surrogate, too
  long, a field of the wrong type) is a 400 before anything changes: no
  rewind, no archived attempt, no re-run;
* refusals never push a done replay out of the audit, and identical ones are
  counted on one record;
* ``GET …/workflow/replays`` pages (``limit``, ``before``, ``nextBefore``)
  with ``seq`` increasing, and an answer stays far below 1 MiB;
* ten concurrent replays from the start each record the attempt they
  archived and the number of entries it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from actorscope.client.http import ServerHttp
from actorscope.engine import WorkflowContext
from actorscope.server.audit import MAX_REASON_CHARS
from actorscope.server.definitions import ActorContext, ActorDefinition, Registry
from actorscope.server.replay_ops import MAX_PAGE_SIZE

_spec = importlib.util.spec_from_file_location(
    "_inspect_cli_helpers", Path(__file__).resolve().parent / "test_inspect_cli.py"
)
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
inspect = _helpers.inspect

TIMEOUT = 30.0
STEPS = ("one", "two", "three")


async def _wf(ctx: WorkflowContext, actor: ActorContext) -> None:
    for name in STEPS:
        # Instant steps: a replay always finds the run between operations.
        await ctx.step(name, lambda name=name: actor.state["timeline"].append(name))
    await ctx.sleep("rest", 3600)


def registry() -> Registry:
    return Registry([ActorDefinition("quick", {"timeline": []}, workflow=_wf)])


class Actor:
    def __init__(self, http: httpx.AsyncClient, actor_id: str) -> None:
        self.http = http
        self.base = f"/gateway/{actor_id}/inspector"

    async def history(self) -> dict[str, Any]:
        body = (await self.http.get(self.base + "/workflow-history")).json()
        history: dict[str, Any] = body["history"]
        return history

    async def settled(self) -> None:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while True:
            h = await self.history()
            names = [h["nameRegistry"][e["location"][-1]["val"]] for e in h["entries"]]
            if names[-1:] == ["rest"]:
                return
            assert asyncio.get_running_loop().time() < deadline, names
            await asyncio.sleep(0.02)

    async def replays(self, **query: Any) -> httpx.Response:
        return await self.http.get(self.base + "/workflow/replays", params=query)

    async def all_records(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        before = None
        while True:
            query = {"limit": MAX_PAGE_SIZE} | ({} if before is None else {"before": before})
            page = (await self.replays(**query)).json()
            out += page["replays"]
            before = page["nextBefore"]
            if before is None:
                return out

    async def post_raw(self, raw: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        return await self.http.post(self.base + "/workflow/replay", content=raw, headers=headers)

    async def attempt_entries(self, number: int) -> int:
        r = await self.http.get(self.base + "/workflow-history", params={"attempt": number})
        assert r.status_code == 200, r.text
        entries: int = r.json()["attempt"]["entries"]
        return entries


@contextlib.asynccontextmanager
async def _quick(
    server_factory: Any, auth: dict[str, str]
) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Actor]]:
    server = await server_factory(registry=registry())
    [actor] = server.directory.actors()
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=TIMEOUT) as http:
        quick = Actor(http, actor.actor_id)
        await quick.settled()
        yield server, http, quick


async def test_a_replay_that_cannot_be_audited_changes_nothing(
    server_factory: Any, auth: dict[str, str]
) -> None:
    async with _quick(server_factory, auth) as (_server, http, quick):
        before = await quick.history()
        bad_bodies = [
            b'{"reason": "\\ud800"}',  # valid JSON, a lone surrogate
            b'{"reason": "ok \\udfff then"}',
            json.dumps({"reason": "x" * (MAX_REASON_CHARS + 1)}).encode(),
            b'{"step": "\\ud800two"}',
            b'{"entryId": "\\udc00"}',
            json.dumps({"step": "a/" * 1000}).encode(),
            b'{"reason": 7}',
            b'{"restoreState": "yes"}',
            b'{"dryRun": true, "reason": "\\ud800"}',
        ]
        for raw in bad_bodies:
            r = await quick.post_raw(raw)
            assert r.status_code == 400, (raw, r.status_code, r.text)
            assert r.json()["group"] == "request" and r.json()["code"] == "invalid", r.text
        assert "at most 500" in (await quick.post_raw(bad_bodies[2])).json()["message"]
        # Nothing happened: same history (no rewind, no re-run), no attempt, no record.
        assert await quick.history() == before
        r = await http.get(quick.base + "/workflow-history", params={"attempt": 1})
        assert r.status_code == 404
        assert (await quick.replays()).json() == {"replays": [], "nextBefore": None}
        # The longest reason allowed goes through and is recorded whole.
        longest = "é" * MAX_REASON_CHARS
        r = await http.post(quick.base + "/workflow/replay", json={"reason": longest})
        assert r.status_code == 200, r.text
        [record] = (await quick.replays()).json()["replays"]
        assert (record["result"], record["reason"], record["attempt"]) == ("done", longest, 1)


async def test_refusals_never_evict_a_done_replay(
    server_factory: Any, auth: dict[str, str]
) -> None:
    async with _quick(server_factory, auth) as (_server, http, quick):
        r = await http.post(quick.base + "/workflow/replay", json={"reason": "the real one"})
        assert r.status_code == 200, r.text
        url = quick.base + "/workflow/replay"
        # Identical refusals are counted on one record.
        for _ in range(25):
            r = await http.post(url, json={"entryId": "nope", "reason": "same"})
            assert r.status_code == 404
        # A flood of distinct ones fills the refusal log only.
        for n in range(1100):
            r = await http.post(url, json={"entryId": "nope", "reason": f"flood {n}"})
            assert r.status_code == 404
        records = await quick.all_records()
        done = [r for r in records if r["result"] == "done"]
        assert [(r["reason"], r["attempt"]) for r in done] == [("the real one", 1)]
        refused = [r for r in records if r["result"] == "refused"]
        assert len(refused) == 1000  # the refusal log's bound
        assert refused[0]["reason"] == "flood 1099"
        seqs = [r["seq"] for r in records]
        assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
    # Counting: a fresh server, 25 identical refusals → one record, count 25.
    async with _quick(server_factory, auth) as (_server2, http2, quick2):
        for _ in range(25):
            r = await http2.post(
                quick2.base + "/workflow/replay", json={"entryId": "nope", "reason": "same"}
            )
            assert r.status_code == 404
        [counted] = (await quick2.replays()).json()["replays"]
        assert (counted["count"], counted["refusal"]["code"]) == (25, "workflow.step_not_found")
        assert counted["lastAt"] >= counted["at"]


async def test_replays_are_paged(server_factory: Any, auth: dict[str, str]) -> None:
    async with _quick(server_factory, auth) as (server, http, quick):
        url = quick.base + "/workflow/replay"
        for n in range(4):
            assert (await http.post(url, json={"reason": f"done {n}"})).status_code == 200
            await quick.settled()
            r = await http.post(url, json={"entryId": "nope", "reason": f"refused {n}"})
            assert r.status_code == 404
        everything = (await quick.replays()).json()
        assert everything["nextBefore"] is None
        seqs = [r["seq"] for r in everything["replays"]]
        assert seqs == list(range(8, 0, -1))

        first = (await quick.replays(limit=3)).json()
        assert [r["seq"] for r in first["replays"]] == [8, 7, 6]
        assert first["nextBefore"] == 6
        second = (await quick.replays(limit=3, before=6)).json()
        assert [r["seq"] for r in second["replays"]] == [5, 4, 3]
        third = (await quick.replays(limit=3, before=3)).json()
        assert [r["seq"] for r in third["replays"]] == [2, 1]
        assert third["nextBefore"] is None
        assert (await quick.replays(before=1)).json() == {"replays": [], "nextBefore": None}

        for bad in ({"limit": 0}, {"limit": MAX_PAGE_SIZE + 1}, {"limit": "x"}, {"before": "-1"}):
            r = await quick.replays(**bad)
            assert r.status_code == 400, (bad, r.text)
            assert r.json()["code"] == "invalid"

        # The Python client pages too.
        token = auth["Authorization"].split()[1]
        [actor] = server.directory.actors()
        client = ServerHttp(server.url, token).actor(actor.actor_id)
        paged = await asyncio.to_thread(lambda: list(client.iter_replays(page_size=3)))
        assert [r["seq"] for r in paged] == seqs


async def test_a_full_page_stays_far_below_one_mebibyte(
    server_factory: Any, auth: dict[str, str]
) -> None:
    async with _quick(server_factory, auth) as (_server, http, quick):
        url = quick.base + "/workflow/replay"
        # The worst reason to render: every character escapes to six bytes.
        worst = "\x01" * MAX_REASON_CHARS
        for n in range(MAX_PAGE_SIZE + 5):
            body = {"step": f"{n}/" + "s" * 900, "reason": worst[:-4] + f"{n:04d}"}
            r = await http.post(url, json=body)
            assert r.status_code == 404, r.text
        r = await quick.replays(limit=MAX_PAGE_SIZE)
        assert len(r.content) < 512 * 1024
        page = r.json()
        assert page["nextBefore"] is not None
        rest = await quick.all_records()
        assert len(rest) == MAX_PAGE_SIZE + 5


async def test_concurrent_replays_record_what_each_did(
    server_factory: Any, auth: dict[str, str]
) -> None:
    async with _quick(server_factory, auth) as (_server, http, quick):
        url = quick.base + "/workflow/replay"
        answers = await asyncio.gather(
            *(http.post(url, json={"reason": f"r{n}"}) for n in range(10))
        )
        assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
        records = (await quick.replays()).json()["replays"]
        assert len(records) == 10 and {r["result"] for r in records} == {"done"}
        # A replay that found nothing to discard (the one before it had just
        # discarded everything) archives nothing and says so; every other one
        # names its own attempt: no number twice, none missing.
        attempts = sorted(r["attempt"] for r in records if r["attempt"] is not None)
        assert attempts == list(range(1, len(attempts) + 1))
        assert {r["discarded"] for r in records if r["attempt"] is None} <= {0}
        r = await http.get(quick.base + "/workflow-history", params={"attempt": len(attempts) + 1})
        assert r.status_code == 404
        # Each record's discarded count is what its attempt archived, and
        # each answer matches its own record.
        for record in records:
            if record["attempt"] is not None:
                assert record["discarded"] == await quick.attempt_entries(record["attempt"])
        assert records[-1]["discarded"] == len(STEPS) + 1  # the first: one, two, three, rest
        by_reason = {r["reason"]: r for r in records}
        for n, answer in enumerate(answers):
            body = answer.json()
            assert (body["attempt"], body["discarded"]) == (
                by_reason[f"r{n}"]["attempt"],
                by_reason[f"r{n}"]["discarded"],
            )
        await quick.settled()


async def test_cli_pages_the_audit(server_factory: Any, auth: dict[str, str]) -> None:
    async with _quick(server_factory, auth) as (server, http, quick):
        url = quick.base + "/workflow/replay"
        for n in range(5):
            r = await http.post(url, json={"entryId": "nope", "reason": f"refused {n}"})
            assert r.status_code == 404
        [actor] = server.directory.actors()
        first = await inspect(server, "--actor", actor.actor_id, "replays", "--limit", "2")
        assert first.code == 0, first.err
        assert "refused 4" in first.out and "refused 3" in first.out
        assert "refused 2" not in first.out
        assert "older records: replays --before 4" in first.out
        older = await inspect(
            server, "--actor", actor.actor_id, "replays", "--limit", "2", "--before", "4", "--json"
        )
        assert [r["seq"] for r in json.loads(older.out)["replays"]] == [3, 2]
        every = await inspect(
            server, "--actor", actor.actor_id, "replays", "--all", "--limit", "2", "--json"
        )
        assert [r["seq"] for r in json.loads(every.out)["replays"]] == [5, 4, 3, 2, 1]


async def test_websocket_replay_of_an_oversized_id_is_refused_unaudited(
    server_factory: Any, auth: dict[str, str]
) -> None:
    from actorscope.client import InspectorClient, InspectorRequestError

    async with _quick(server_factory, auth) as (server, _http, quick):
        [actor] = server.directory.actors()
        async with InspectorClient(server.url, actor.actor_id, actor.record.token) as client:
            try:
                await client.replay("x" * 100_000)
            except InspectorRequestError as exc:
                assert exc.code == "request.invalid"
            else:
                raise AssertionError("a 100,000-character entry id was not refused")
            try:
                await client.replay("no-such-entry")
            except InspectorRequestError as exc:
                assert exc.code == "workflow.step_not_found"
        [record] = (await quick.replays()).json()["replays"]
        assert record["target"] == {"entryId": "no-such-entry", "step": None}
