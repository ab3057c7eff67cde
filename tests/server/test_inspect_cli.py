"""``actorscope inspect`` run as a real subprocess against a real server.

Exit codes (0 ok, 1 refused by the server, 2 usage), ``--json`` parsed, and
piped (non-TTY) output free of colour codes even with ``NO_COLOR`` unset.
The replay commands are in ``test_inspect_cli_replay.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import attrs
import pytest

SERVER_TOKEN = "test-server-token-0123456789"
TIMEOUT = 30.0


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def inspect(
    server: Any, *args: str, env: dict[str, str] | None = None, stdin: int | None = None
) -> Result:
    """Run ``python -m actorscope inspect ARGS``; stdout is a pipe, stdin ``/dev/null``
    unless ``stdin`` (a file descriptor) is given."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "ACTORSCOPE_URL")}
    full_env.update({"TERM": "xterm-256color", "ACTORSCOPE_TOKEN": SERVER_TOKEN})
    if server is not None:
        full_env["ACTORSCOPE_URL"] = server.url
    full_env.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "actorscope",
        "inspect",
        *args,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=full_env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def _wait_for_entries(server: Any, actor_id: str, n: int) -> None:
    actor = server.directory.get(actor_id)
    for _ in range(500):
        history = await actor.workflow_history()
        if history is not None and len(history.entries) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the workflow did not get going")


async def test_summary_state_call_and_state_set(server: Any, demo_ids: dict[str, str]) -> None:
    summary = await inspect(server, "--name", "counter", "--key", "demo", "summary")
    assert summary.code == 0, summary.err
    assert demo_ids["counter"] in summary.out and '{"count": 0}' in summary.out
    called = await inspect(
        server, "--actor", demo_ids["counter"], "call", "increment", "--args", "[4]"
    )
    assert (called.code, called.json()) == (0, 4)
    one_arg = await inspect(server, "--actor", demo_ids["counter"], "call", "increment", "2")
    assert one_arg.json() == 6
    no_args = await inspect(server, "--actor", demo_ids["counter"], "call", "increment")
    assert no_args.json() == 7
    not_a_list = await inspect(
        server, "--actor", demo_ids["counter"], "call", "increment", "--args", "2"
    )
    assert not_a_list.code == 2 and "--args must be a JSON array" in not_a_list.err


async def test_call_takes_each_argument_as_a_json_value(
    server: Any, demo_ids: dict[str, str]
) -> None:
    # A word that is not JSON is a string; numbers stay numbers.
    row = await inspect(server, "--actor", demo_ids["inventory"], "call", "add_item", "pear", "3")
    assert row.code == 0, row.err
    quoted = await inspect(
        server, "--actor", demo_ids["inventory"], "call", "add_item", '"fig"', "4"
    )
    assert quoted.code == 0, quoted.err
    rows = await inspect(server, "--actor", demo_ids["inventory"], "db", "rows", "items", "--json")
    assert rows.code == 0, rows.err
    assert [(r["name"], r["qty"]) for r in rows.json()["rows"]][-2:] == [("pear", 3), ("fig", 4)]
    replaced = await inspect(
        server, "--actor", demo_ids["counter"], "state", "--set", '{"count": 9}'
    )
    assert replaced.code == 0
    state = await inspect(server, "--actor", demo_ids["counter"], "state", "--json")
    assert state.json() == {"state": {"count": 9}, "isStateEnabled": True}


async def test_history_tree_is_plain_when_piped_and_json_parses(
    server: Any, demo_ids: dict[str, str]
) -> None:
    await _wait_for_entries(server, demo_ids["steps"], 4)
    tree = await inspect(server, "--actor", demo_ids["steps"], "history")
    assert tree.code == 0, tree.err
    assert "\x1b[" not in tree.out
    lines = tree.out.splitlines()
    assert lines[0].split()[:3] == ["PATH", "KIND", "STATUS"]
    assert [line.split()[0] for line in lines[1:]] == ["one", "two", "three", "rest"]
    assert "COMPLETED" in lines[1]
    data = (await inspect(server, "--actor", demo_ids["steps"], "history", "--json")).json()
    assert [r["path"] for r in data["rows"]] == ["one", "two", "three", "rest"]
    assert [r["kind"] for r in data["rows"]] == ["step", "step", "step", "sleep"]
    assert data["history"]["nameRegistry"] == ["one", "two", "three", "rest"]


async def test_queue_and_database(server: Any, demo_ids: dict[str, str]) -> None:
    queue = await inspect(server, "--actor", demo_ids["order"], "queue", "--json")
    assert queue.code == 0 and queue.json()["size"] == 0
    tables = await inspect(server, "--actor", demo_ids["inventory"], "db", "tables")
    assert tables.code == 0 and "items" in tables.out and "qty INTEGER" in tables.out
    rows = await inspect(
        server, "--actor", demo_ids["inventory"], "db", "rows", "items", "--limit", "2", "--json"
    )
    assert [r["name"] for r in rows.json()["rows"]] == ["apple", "pear"]


async def test_watch_exits_after_count(server: Any, demo_ids: dict[str, str]) -> None:
    watcher = asyncio.create_task(
        inspect(server, "--actor", demo_ids["counter"], "watch", "--count", "1", "--timeout", "20")
    )
    actor = server.directory.get(demo_ids["counter"])
    # Keep changing the state until the watcher has seen an update and exited.
    while not watcher.done():
        await actor.call_action("increment", [1])
        await asyncio.sleep(0.1)
    result = await watcher
    assert result.code == 0, result.err
    assert "state:" in result.out and "\x1b[" not in result.out


async def test_exit_codes(server: Any, demo_ids: dict[str, str]) -> None:
    counter = demo_ids["counter"]
    refused, unknown, bad_token, not_found, bad_json = await asyncio.gather(
        inspect(server, "--actor", counter, "call", "nope"),
        inspect(server, "--actor", "no-such-actor", "state"),
        inspect(server, "--actor", counter, "state", env={"ACTORSCOPE_TOKEN": "wrong"}),
        inspect(server, "--name", "counter", "--key", "elsewhere", "state"),
        inspect(server, "--actor", counter, "state", "--set", "{nope"),
    )
    assert refused.code == 1 and "actor.action_not_found" in refused.err
    assert unknown.code == 1 and "actor.not_found" in unknown.err
    assert bad_token.code == 1 and "inspector.unauthorized" in bad_token.err
    assert not_found.code == 1 and "actor.not_found" in not_found.err
    assert bad_json.code == 2 and "not valid JSON" in bad_json.err


def test_usage_errors_exit_2_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    from actorscope.server.cli import main

    assert main(["inspect", "--url", "http://127.0.0.1:9", "state"]) == 2
    assert "say which actor" in capsys.readouterr().err
    both = ["inspect", "--actor", "a", "--name", "n", "--key", "k", "state"]
    assert main(both) == 2
    assert main(["inspect", "--actor", "a", "replay", "x", "--step", "y"]) == 2
    assert main(["inspect", "--url", "ftp://x", "--actor", "a", "state"]) == 2
    with pytest.raises(SystemExit) as info:
        main(["inspect", "--actor", "a", "frobnicate"])
    assert info.value.code == 2


async def _on_terminal(server: Any, env: dict[str, str], *args: str) -> str:
    """Run ``inspect ARGS`` with stdout a terminal; return what it printed."""
    import pty

    master, slave = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    full_env.update(
        {"TERM": "xterm-256color", "ACTORSCOPE_TOKEN": SERVER_TOKEN, "ACTORSCOPE_URL": server.url}
    )
    full_env.update(env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "actorscope",
        "inspect",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=slave,
        stderr=asyncio.subprocess.PIPE,
        env=full_env,
    )
    os.close(slave)
    chunks = []
    loop = asyncio.get_running_loop()
    while True:
        try:
            chunk = await loop.run_in_executor(None, os.read, master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
    return b"".join(chunks).decode()


async def test_colour_on_a_terminal_unless_no_color(server: Any, demo_ids: dict[str, str]) -> None:
    await _wait_for_entries(server, demo_ids["steps"], 4)
    args = ("--actor", demo_ids["steps"], "history")
    coloured = await _on_terminal(server, {}, *args)
    assert "\x1b[32mCOMPLETED\x1b[0m" in coloured
    plain = await _on_terminal(server, {"NO_COLOR": "1"}, *args)
    assert "\x1b[" not in plain and "COMPLETED" in plain
