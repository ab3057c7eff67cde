"""Operator replay end to end: ``actorscope inspect replay/replays/history`` as
subprocesses, and the HTTP routes and the WebSocket client they rest on.

Operator replay: ``replay --step`` with a loop path rewinds the right
iteration; a dry run changes nothing (history byte-identical); the audit
lists refused replays too, from both transports; an archived attempt
survives a restart and its diff against the new run names the re-run steps.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pty
from pathlib import Path
from typing import Any

from actorscope.client import InspectorClient, InspectorRequestError
from actorscope.client.http import InspectorHttpError, ServerHttp

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location(
    "_inspect_cli_helpers", _HERE / "test_inspect_cli.py"
)
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
inspect = _helpers.inspect
SERVER_TOKEN = _helpers.SERVER_TOKEN
TIMEOUT = 10.0

ORDER_RUN = ["validate", "reserve-0", "reserve-1", "reserve-2", "charge"]


async def _until(check: Any, timeout: float = TIMEOUT) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def _paths(server: Any, actor_id: str) -> Any:
    async def check() -> list[str]:
        history = await server.directory.get(actor_id).workflow_history()
        return [history.path(e.id) for e in history.entries] if history else []

    return check


async def _timeline(server: Any, actor_id: str) -> list[str]:
    out: list[str] = server.directory.get(actor_id).state()["timeline"]
    return out


async def test_replay_by_loop_path_rewinds_that_iteration(
    server: Any, demo_ids: dict[str, str]
) -> None:
    order = demo_ids["order"]
    # Past the 2 s cool-down, waiting for "approval": the history holds still.
    await _until(lambda: _has(server, order, "approval"))
    plan = await inspect(
        server, "--actor", order, "replay", "--step", "items/~1/reserve-1", "--dry-run", "--json"
    )
    assert plan.code == 0, plan.err
    data = plan.json()
    assert data["target"]["path"] == "items/~1/reserve-1"
    assert data["boundary"]["path"] == "items"  # the loop restarts (ENGINE.md rule 3)
    discarded = [d["path"] for d in data["discard"]]
    assert discarded[:5] == ["items", *(f"items/~{i}/reserve-{i}" for i in range(3)), "charge"]
    done = await inspect(
        server,
        "--actor",
        order,
        "replay",
        "--step",
        "items/~1/reserve-1",
        "--yes",
        "--reason",
        "stock recount",
    )
    assert done.code == 0, done.err
    assert "archived as attempt 1" in done.out and "\x1b[" not in done.out

    async def rerun() -> bool:
        return await _timeline(server, order) == ORDER_RUN + ORDER_RUN[1:]

    await _until(rerun)
    audit = (await inspect(server, "--actor", order, "replays", "--json")).json()
    [record] = audit["replays"]
    assert record["result"] == "done" and record["reason"] == "stock recount"
    assert record["target"]["step"] == "items/~1/reserve-1"
    assert record["target"]["entryId"] == data["target"]["entryId"]
    assert record["credential"] == "server" and record["transport"] == "http"
    assert record["attempt"] == 1 and record["discarded"] == len(discarded)
    assert "token" not in repr(record).lower()


async def _has(server: Any, actor_id: str, path: str) -> bool:
    return path in await _paths(server, actor_id)()


async def test_dry_run_changes_nothing(server: Any, demo_ids: dict[str, str]) -> None:
    steps = demo_ids["steps"]
    await _until(lambda: _has(server, steps, "rest"))
    http = ServerHttp(server.url, SERVER_TOKEN).actor(steps)
    actor = server.directory.get(steps)
    driver = actor.workflow.runner.driver
    before_bytes = await driver.list(b"")
    before_json = await asyncio.to_thread(http.workflow_history)
    two = next(e["id"] for e in before_json["history"]["entries"] if e["location"][0]["val"] == 1)
    plan = await asyncio.to_thread(lambda: http.replay(two, dry_run=True))
    assert [d["path"] for d in plan["discard"]] == ["two", "three", "rest"]
    plan_by_path = await inspect(server, "--actor", steps, "replay", "--step", "two", "--dry-run")
    assert plan_by_path.code == 0 and "3 entries will be discarded" in plan_by_path.out
    assert await driver.list(b"") == before_bytes
    assert await asyncio.to_thread(http.workflow_history) == before_json
    assert await _timeline(server, steps) == ["one", "two", "three"]
    assert (await asyncio.to_thread(http.replays))["replays"] == []


async def test_audit_lists_refused_replays_from_both_transports(
    server: Any, demo_ids: dict[str, str]
) -> None:
    order = demo_ids["order"]
    await _until(lambda: _has(server, order, "charge"))
    unknown = await inspect(
        server, "--actor", order, "replay", "--step", "items/~1/reserve-9", "-y"
    )
    assert unknown.code == 1
    assert "workflow.step_not_found" in unknown.err and "items/~1/reserve-1" in unknown.err
    # Not a step: the loop itself, targeted by id over HTTP.
    http = ServerHttp(server.url, SERVER_TOKEN).actor(order)
    history = (await asyncio.to_thread(http.workflow_history))["history"]
    loop_id = next(e["id"] for e in history["entries"] if e["kind"]["tag"] == "WorkflowLoopEntry")
    try:
        await asyncio.to_thread(lambda: http.replay(loop_id, reason="wrong target"))
    except InspectorHttpError as exc:
        assert (exc.status, exc.code) == (400, "workflow.replay_target_not_step")
    else:
        raise AssertionError("replaying a loop entry was not refused")
    # Over WebSocket, with the actor's own token.
    token = server.directory.get(order).record.token
    async with InspectorClient(server.url, order, token, timeout=TIMEOUT) as client:
        try:
            await client.replay("no-such-entry")
        except InspectorRequestError as exc:
            assert exc.code == "workflow.step_not_found"
        else:
            raise AssertionError("replaying an unknown entry was not refused")
    # No confirmation possible: refused locally with exit code 2, nothing audited.
    unconfirmed = await inspect(server, "--actor", order, "replay", "--step", "charge")
    assert unconfirmed.code == 2 and "--yes" in unconfirmed.err
    listed = await inspect(server, "--actor", order, "replays", "--json")
    records = listed.json()["replays"]
    # The CLI's unknown path was refused at its preview (dry run), before any
    # replay: audited as refused, flagged dryRun. The unconfirmed one was
    # never sent for real and the server did not refuse it: not audited.
    assert [(r["result"], r["transport"], r["credential"]) for r in records] == [
        ("refused", "websocket", "actor"),
        ("refused", "http", "server"),
        ("refused", "http", "server"),
    ]
    assert [r["refusal"]["code"] for r in records] == [
        "workflow.step_not_found",
        "workflow.replay_target_not_step",
        "workflow.step_not_found",
    ]
    assert [r["dryRun"] for r in records] == [False, False, True]
    assert records[1]["reason"] == "wrong target"
    assert records[1]["target"] == {"entryId": loop_id, "step": None}
    assert records[2]["target"] == {"entryId": None, "step": "items/~1/reserve-9"}
    table = await inspect(server, "--actor", order, "replays")
    assert table.code == 0 and table.out.count("refused") == 3


async def test_archived_attempt_survives_restart_and_diffs(
    server_factory: Any, tmp_path: Path
) -> None:
    data_dir = tmp_path / "kept"
    first = await server_factory(data_dir=data_dir)
    ids = {a.record.name: a.actor_id for a in first.directory.actors()}
    steps = ids["steps"]
    await _until(lambda: _has(first, steps, "rest"))
    done = await inspect(first, "--actor", steps, "replay", "--step", "two", "--yes")
    assert done.code == 0, done.err

    async def rerun() -> bool:
        return await _timeline(first, steps) == ["one", "two", "three", "two", "three"]

    await _until(rerun)
    await _until(lambda: _has(first, steps, "rest"))
    await first.stop()

    second = await server_factory(data_dir=data_dir)
    attempt = await inspect(second, "--actor", steps, "history", "--attempt", "1", "--json")
    assert attempt.code == 0, attempt.err
    assert [r["path"] for r in attempt.json()["rows"]] == ["two", "three", "rest"]
    assert attempt.json()["attempt"]["number"] == 1
    diff = await inspect(second, "--actor", steps, "history", "--diff", "1", "--json")
    assert diff.code == 0, diff.err
    changes = {d["path"]: d["change"] for d in diff.json()["diff"]}
    assert changes == {"two": "re-run", "three": "re-run", "rest": "re-run"}
    text = await inspect(second, "--actor", steps, "history", "--diff", "1")
    assert "re-run" in text.out and "two" in text.out and "\x1b[" not in text.out
    audit = (await inspect(second, "--actor", steps, "replays", "--json")).json()["replays"]
    assert [(r["result"], r["target"]["step"], r["attempt"]) for r in audit] == [("done", "two", 1)]
    missing = await inspect(second, "--actor", steps, "history", "--attempt", "5")
    assert missing.code == 1 and "workflow.attempt_not_found" in missing.err


async def _answer(server: Any, actor_id: str, answer: bytes) -> Any:
    """``replay --step two`` with stdin a terminal that types ``answer``."""
    master, slave = pty.openpty()
    try:
        os.write(master, answer)
        return await inspect(server, "--actor", actor_id, "replay", "--step", "two", stdin=slave)
    finally:
        os.close(slave)
        os.close(master)


async def test_replay_asks_for_confirmation_on_a_terminal(
    server: Any, demo_ids: dict[str, str]
) -> None:
    steps = demo_ids["steps"]
    await _until(lambda: _has(server, steps, "rest"))
    declined = await _answer(server, steps, b"n\n")
    assert declined.code == 1 and "not replayed" in declined.err
    assert "3 entries will be discarded" in declined.out and "[y/N]" in declined.out
    assert await _timeline(server, steps) == ["one", "two", "three"]
    accepted = await _answer(server, steps, b"y\n")
    assert accepted.code == 0, accepted.err

    async def rerun() -> bool:
        return await _timeline(server, steps) == ["one", "two", "three", "two", "three"]

    await _until(rerun)
    records = (await inspect(server, "--actor", steps, "replays", "--json")).json()["replays"]
    assert [r["result"] for r in records] == ["done"]


async def test_cli_replay_refused_at_its_preview_is_audited(
    server: Any, demo_ids: dict[str, str]
) -> None:
    """Every replay the operator asked for is in the audit, even one refused at the preview."""
    steps = demo_ids["steps"]
    await _until(lambda: _has(server, steps, "rest"))
    http = ServerHttp(server.url, SERVER_TOKEN).actor(steps)
    # A look (--dry-run) is not a replay attempt: refused or not, not audited.
    look = await inspect(server, "--actor", steps, "replay", "--step", "tow", "--dry-run")
    assert look.code == 1 and "workflow.step_not_found" in look.err
    assert (await asyncio.to_thread(http.replays))["replays"] == []

    refused = await inspect(
        server, "--actor", steps, "replay", "--step", "tow", "--reason", "typo drill", "--yes"
    )
    assert refused.code == 1
    assert "workflow.step_not_found" in refused.err and "two" in refused.err
    history = (await asyncio.to_thread(http.workflow_history))["history"]
    rest_id = history["entries"][-1]["id"]
    not_step = await inspect(server, "--actor", steps, "replay", rest_id, "--yes")
    assert not_step.code == 1 and "workflow.replay_target_not_step" in not_step.err

    # Read back over the plain HTTP route, not through the CLI.
    records = (await asyncio.to_thread(http.replays))["replays"]
    assert [(r["result"], r["dryRun"], r["refusal"]["code"]) for r in records] == [
        ("refused", True, "workflow.replay_target_not_step"),
        ("refused", True, "workflow.step_not_found"),
    ]
    typo = records[1]
    assert typo["target"] == {"entryId": None, "step": "tow"}
    assert typo["reason"] == "typo drill"
    assert "closest existing paths" in typo["refusal"]["message"]
    assert "two" in typo["refusal"]["message"]
    assert (typo["transport"], typo["credential"]) == ("http", "server")
    assert (typo["discarded"], typo["boundary"], typo["attempt"]) == (0, None, None)
    assert records[0]["target"] == {"entryId": rest_id, "step": None}
    # Nothing reached the workflow.
    assert await _timeline(server, steps) == ["one", "two", "three"]
