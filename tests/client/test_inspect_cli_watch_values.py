"""What ``actorscope inspect watch`` renders from a pushed history (client/history_view.py).

A message entry still waiting for its message carries empty data (the engine
writes it before the message exists): the live view shows ``null`` there, as
the server's §8 JSON does, instead of failing to decode it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from actorscope.client.history_view import history_json, history_rows
from actorscope.engine import MemoryDriver, WorkflowContext
from actorscope.engine.runner import WorkflowRunner
from actorscope.protocol.history import WorkflowHistory
from actorscope.protocol.jsonform import from_json
from actorscope.protocol.values import MsgpackCodec


async def _waiting(ctx: WorkflowContext, _input: Any) -> Any:
    await ctx.step("validate", lambda: "ok")
    return await ctx.queue.next("approval")


async def test_pending_message_entry_renders_null() -> None:
    runner = WorkflowRunner("wf", _waiting, None, MemoryDriver())
    await runner.start()
    try:
        for _ in range(500):
            snapshot = await runner.history()
            if len(snapshot.entries) == 2:
                break
            await asyncio.sleep(0.01)
        wire = from_json(WorkflowHistory, snapshot.to_transport(), data=lambda b: b)
    finally:
        await runner.stop()
    out = history_json(wire, MsgpackCodec())
    kinds = [e["kind"] for e in out["entries"]]
    assert kinds[0]["val"]["output"] == "ok"
    assert kinds[1] == {
        "tag": "WorkflowMessageEntry",
        "val": {"name": "approval", "messageData": None},
    }
    rows = history_rows(out)
    assert [(r.path, r.kind) for r in rows] == [("validate", "step"), ("approval", "message")]
