"""Benchmark: what state checkpoints cost (``ActorDefinition(state_checkpoints=...)``).

Run ``python bench/checkpoints.py`` (a few seconds). For states of about
100 B, 10 KiB and 100 KiB (MessagePack), one workflow of ``--steps`` steps on
a fresh SQLite file, each step changing the state, is run without and with
checkpoints (the default bound, 100 kept), and the table shows:

* durable steps/s both ways and the slowdown (each step also encodes the
  state and writes it in the step's own batch);
* bytes the checkpoints hold at the end (at most ``keep`` + 1 copies of the
  encoded state: the bound, whatever the history's length);
* the time of a replay 50 steps back (cold: the history is loaded first)
  that restores the state, next to one that does not.

A step that leaves the state unchanged stores no checkpoint, so these
numbers (every step changes the state) are the worst case. Times are the
best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
from actorscope.engine import SQLiteDriver, WorkflowContext, load_history, run_workflow
from actorscope.engine.checkpoints import DEFAULT_KEEP_CHECKPOINTS, StateCheckpoints
from actorscope.engine.codec import CHECKPOINT
from actorscope.engine.execution import clear_cache
from actorscope.engine.executor import run_once
from actorscope.engine.replay import rewind

WORKFLOW_ID = "bench-checkpoints"
SIZES = {"100 B": 100, "10 KiB": 10 * 1024, "100 KiB": 100 * 1024}


def _workflow(steps: int) -> Any:
    async def wf(ctx: WorkflowContext, _: Any) -> None:
        state = ctx.env
        for i in range(steps):
            await ctx.step(f"s{i}", lambda i=i: state.__setitem__("n", i))

    return wf


async def _run(path: Path, steps: int, size: int, checkpoints: bool) -> dict[str, float]:
    state: dict[str, Any] = {"n": 0, "blob": "x" * size}
    capture = StateCheckpoints(lambda: msgpack.packb(state)) if checkpoints else None
    driver = SQLiteDriver(path, WORKFLOW_ID)
    try:
        start = time.perf_counter()
        if capture is None:
            await run_workflow(WORKFLOW_ID, _workflow(steps), None, driver, env=state)
        else:
            await run_once(
                WORKFLOW_ID, _workflow(steps), None, driver, env=state, checkpoints=capture
            )
        elapsed = time.perf_counter() - start
        stored = sum(len(v) for _, v in await driver.list(CHECKPOINT))
        history = await load_history(driver)
        # 50 steps back: within the kept checkpoints (older ones are evicted).
        target = history.entries[-50].id
        clear_cache()
        start = time.perf_counter()
        await rewind(WORKFLOW_ID, driver, target, restore_state=checkpoints)
        replay_ms = (time.perf_counter() - start) * 1000
    finally:
        driver.close()
    return {"steps_s": steps / elapsed, "stored": stored, "replay_ms": replay_ms}


async def _best(
    tmp: Path, steps: int, size: int, checkpoints: bool, repeat: int
) -> dict[str, float]:
    """Best of ``repeat`` runs, each on a fresh file (noise only ever slows a run)."""
    runs = []
    for n in range(repeat):
        runs.append(await _run(tmp / f"{checkpoints}-{size}-{n}.sqlite", steps, size, checkpoints))
    return {
        "steps_s": max(r["steps_s"] for r in runs),
        "stored": runs[-1]["stored"],
        "replay_ms": min(r["replay_ms"] for r in runs),
    }


async def _main(steps: int, repeat: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="actorscope-bench-"))
    try:
        rows = []
        for label, size in SIZES.items():
            plain = await _best(tmp, steps, size, False, repeat)
            kept = await _best(tmp, steps, size, True, repeat)
            rows.append(
                [
                    label,
                    f"{plain['steps_s']:,.0f}",
                    f"{kept['steps_s']:,.0f}",
                    f"x{plain['steps_s'] / kept['steps_s']:.2f}",
                    f"{kept['stored'] / 1024:,.0f} KiB",
                    f"{plain['replay_ms']:.1f} ms",
                    f"{kept['replay_ms']:.1f} ms",
                ]
            )
    finally:
        shutil.rmtree(tmp)
    headers = [
        "state",
        "steps/s plain",
        "steps/s checkpoints",
        "slowdown",
        "checkpoints stored",
        "replay",
        "replay+restore",
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print(f"{steps} steps, each changing the state; {DEFAULT_KEEP_CHECKPOINTS} checkpoints kept")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=1000, help="steps per workflow (1000)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (3)")
    args = parser.parse_args()
    asyncio.run(_main(args.steps, args.repeat))


if __name__ == "__main__":
    main()
