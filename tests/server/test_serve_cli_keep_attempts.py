"""``actorscope serve --keep-attempts N``: the bound on archived replay attempts.

Keeping the discarded attempt: archives are bounded (default: the
last 20 attempts; configurable). The flag reaches the engine's
``replay_from_step(keep_attempts=...)`` through ``ServerConfig``; an evicted
attempt answers a clear 404 ``workflow.attempt_not_found`` naming the kept ones.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from actorscope.engine.replay import DEFAULT_KEEP_ATTEMPTS
from actorscope.server.cli import build_parser

TIMEOUT = 10.0


async def _settled(http: httpx.AsyncClient, base: str, runs: int) -> None:
    """Until the ``steps`` demo has appended ``runs`` steps and sleeps in ``rest``."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        timeline = (await http.get(base + "/state")).json()["state"]["timeline"]
        history = (await http.get(base + "/workflow-history")).json()["history"]
        last = history["entries"][-1] if history["entries"] else None
        names = history["nameRegistry"]
        if len(timeline) == runs and last and names[last["location"][-1]["val"]] == "rest":
            return
        assert asyncio.get_running_loop().time() < deadline, f"not settled: {timeline}"
        await asyncio.sleep(0.02)


async def test_only_the_last_n_attempts_are_kept(tmp_path: Path, serve_process: Any) -> None:
    running = await serve_process(
        "--demo", "--dev", "--data", str(tmp_path), "--keep-attempts", "2"
    )
    base = f"/gateway/{running.actors['steps/demo']}/inspector"
    async with httpx.AsyncClient(base_url=running.url, timeout=TIMEOUT) as http:
        await _settled(http, base, 3)
        for n in (1, 2, 3):
            r = await http.post(base + "/workflow/replay", json={"step": "two"})
            assert r.status_code == 200, r.text
            assert r.json()["attempt"] == n
            # one, two, three, then two and three again per replay.
            await _settled(http, base, 3 + 2 * n)

        evicted = await http.get(base + "/workflow-history", params={"attempt": 1})
        assert evicted.status_code == 404
        assert evicted.headers["content-type"].startswith("application/json")
        error = evicted.json()
        assert (error["group"], error["code"]) == ("workflow", "attempt_not_found")
        assert error["message"] == "no archived attempt 1; kept: 2, 3"

        for n in (2, 3):
            kept = await http.get(base + "/workflow-history", params={"attempt": n})
            assert kept.status_code == 200, kept.text
            assert kept.json()["attempt"]["number"] == n


def test_keep_attempts_defaults_to_the_engine_default() -> None:
    args = build_parser().parse_args(["serve"])
    assert args.keep_attempts == DEFAULT_KEEP_ATTEMPTS == 20
    assert build_parser().parse_args(["serve", "--keep-attempts", "0"]).keep_attempts == 0


@pytest.mark.parametrize("bad", ["-1", "two"])
def test_keep_attempts_must_be_a_count(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "--keep-attempts", bad])
    assert exited.value.code == 2
    assert "--keep-attempts" in capsys.readouterr().err
