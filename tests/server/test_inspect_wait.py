"""``actorscope inspect wait`` and ``send``: the demo order, driven from the shell."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

_spec = importlib.util.spec_from_file_location(
    "_inspect_cli_helpers", Path(__file__).resolve().parent / "test_inspect_cli.py"
)
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
inspect = _helpers.inspect


async def test_wait_for_the_approval_then_send_it(server: Any, demo_ids: dict[str, str]) -> None:
    order = demo_ids["order"]
    waiting = await inspect(server, "--actor", order, "wait", "approval", "--status", "pending")
    assert (waiting.code, waiting.out) == (0, "approval: PENDING\n"), waiting.err
    sent = await inspect(server, "--actor", order, "send", "approval", '{"by": "me"}')
    assert sent.code == 0, sent.err
    shipped = await inspect(server, "--actor", order, "wait", "ship", "--status", "COMPLETED")
    assert (shipped.code, shipped.out) == (0, "ship: COMPLETED\n"), shipped.err
    history = await inspect(server, "--actor", order, "history", "--json")
    approval = [
        e
        for e in history.json()["history"]["entries"]
        if e["kind"]["tag"] == "WorkflowMessageEntry"
    ]
    assert approval[0]["kind"]["val"]["messageData"] == {"by": "me"}


async def test_wait_gives_up_and_says_what_it_saw(server: Any, demo_ids: dict[str, str]) -> None:
    steps = demo_ids["steps"]
    missing = await inspect(server, "--actor", steps, "wait", "nope", "--timeout", "0.3")
    assert missing.code == 1
    assert "timed out waiting for nope (there is no such entry)" in missing.out
    await inspect(server, "--actor", steps, "wait", "one", "--status", "COMPLETED")
    wrong = await inspect(
        server, "--actor", steps, "wait", "one", "--status", "FAILED", "--timeout", "0.3"
    )
    assert wrong.code == 1 and "(it is COMPLETED)" in wrong.out
