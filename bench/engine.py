"""Benchmark: the durable workflow engine on SQLite.

Run ``python bench/engine.py`` (``--quick`` skips the 100,000-entry size).
For histories of 1,000, 10,000 and 100,000 entries it measures:

* durable steps/s: one workflow of N trivial steps on a fresh SQLite file
  (each step completion is one batch = one SQLite transaction), next to
  the driver alone committing N batches shaped like a step's writes (the
  difference is the executor's own cost);
* ``load_history`` of the N-entry history;
* ``replay_from_step`` from the first, the middle and the last step, each on
  a fresh copy of the file: *cold* on a freshly opened driver (the replay
  loads the history itself: the worst case, and the one the targets apply
  to), and *warm* right after a run of the completed workflow on the same
  driver (as a server holding the workflow would call it);

and prints one table with the growth 1k→10k and 10k→100k.  Linear growth is
x10 for times and x1.0 for per-step cost; a quadratic step would show as
x100.  (From 10,000 to 100,000 expect somewhat more than x10 even though
every algorithm is linear: the Python heap outgrows the CPU caches and the
cyclic GC walks more objects.)  Targets (at 10,000): ≥ 5,000 steps/s, load
≤ 200 ms, each replay ≤ 100 ms.

Times are the best of ``--repeat`` runs (noise on a shared machine only ever
slows a run down).  ``--profile`` prints the top of a cProfile of each
measurement at 10,000 entries, to see where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from actorscope.engine import (
    Set,
    SQLiteDriver,
    WorkflowContext,
    load_history,
    replay_from_step,
    run_workflow,
)

WORKFLOW_ID = "bench-wf"
TARGET_STEPS_PER_S = 5_000
TARGET_LOAD_MS = 200.0
TARGET_REPLAY_MS = 100.0

T = TypeVar("T")


def _steps_workflow(count: int) -> Callable[[WorkflowContext, Any], Awaitable[int]]:
    async def workflow(ctx: WorkflowContext, _input: Any) -> int:
        total = 0
        for i in range(count):
            total += await ctx.step(f"s{i}", functools.partial(int, i))
        return total

    return workflow


# Wall time by default; ``--clock cpu`` measures this process's CPU time
# instead, which is steadier on a shared machine (with synchronous=NORMAL
# there is no fsync wait per commit for it to miss).
_clock: Callable[[], float] = time.perf_counter


async def _timed(coro: Awaitable[T], profile: cProfile.Profile | None) -> tuple[float, T]:
    """Await ``coro``; return (seconds it took, its result)."""
    if profile is not None:
        profile.enable()
    start = _clock()
    try:
        result = await coro
    finally:
        elapsed = _clock() - start
        if profile is not None:
            profile.disable()
    return elapsed, result


async def _build(db: Path, count: int, profile: cProfile.Profile | None) -> float:
    """Run the N-step workflow on a new file; return the seconds it took."""
    driver = SQLiteDriver(db, WORKFLOW_ID)
    try:
        workflow = _steps_workflow(count)
        elapsed, result = await _timed(run_workflow(WORKFLOW_ID, workflow, None, driver), profile)
        assert result.state == "completed", result
        assert result.output == count * (count - 1) // 2
    finally:
        driver.close()  # the last connection closes: the WAL is checkpointed
    return elapsed


async def _driver_only(db: Path, count: int) -> float:
    """N batches shaped like a step's writes, straight to the driver (no engine)."""
    driver = SQLiteDriver(db, WORKFLOW_ID)
    try:
        entry, meta, version = os.urandom(48), os.urandom(24), os.urandom(16)

        async def write_all() -> None:
            for i in range(count):
                await driver.batch(
                    [
                        Set(b"n/%08d" % i, b"s%d" % i),
                        Set(b"e/%012d" % i, entry),
                        Set(b"m/%012d" % i, meta),
                        Set(b"v", version),
                    ]
                )

        elapsed, _ = await _timed(write_all(), None)
    finally:
        driver.close()
    return elapsed


async def _load(db: Path, count: int, profile: cProfile.Profile | None) -> float:
    driver = SQLiteDriver(db, WORKFLOW_ID)
    try:
        elapsed, snapshot = await _timed(load_history(driver), profile)
        assert len(snapshot.entries) == count
    finally:
        driver.close()
    return elapsed


async def _step_ids(db: Path) -> list[str]:
    driver = SQLiteDriver(db, WORKFLOW_ID)
    try:
        return [entry.id for entry in (await load_history(driver)).entries]
    finally:
        driver.close()


async def _replay(
    source: Path,
    work: Path,
    entry_id: str,
    kept: int,
    warm: bool,
    profile: cProfile.Profile | None,
) -> float:
    shutil.copyfile(source, work)
    driver = SQLiteDriver(work, WORKFLOW_ID)
    try:
        if warm:
            # The completed workflow's run loads the history into this
            # process, as a server holding the workflow would have it.
            count = len(await _step_ids(work))
            result = await run_workflow(WORKFLOW_ID, _steps_workflow(count), None, driver)
            assert result.state == "completed"
        elapsed, snapshot = await _timed(replay_from_step(WORKFLOW_ID, driver, entry_id), profile)
        assert len(snapshot.entries) == kept
    finally:
        driver.close()
        work.unlink()
    return elapsed


def _best(times: list[float]) -> float:
    return min(times)


async def _measure(
    workdir: Path,
    count: int,
    repeat: int,
    build_repeat: int,
    profiles: dict[str, cProfile.Profile] | None,
) -> dict[str, float]:
    """All rows for one history size (seconds, except steps/s)."""

    def profile(name: str, attempt: int) -> cProfile.Profile | None:
        if profiles is None or attempt != 0:
            return None
        return profiles.setdefault(name, cProfile.Profile())

    db = workdir / f"steps-{count}.db"
    build_times = []
    for attempt in range(build_repeat):
        db.unlink(missing_ok=True)
        build_times.append(await _build(db, count, profile("run", attempt)))
    raw_db = workdir / f"driver-{count}.db"
    raw_times = []
    for _ in range(build_repeat):
        raw_db.unlink(missing_ok=True)
        raw_times.append(await _driver_only(raw_db, count))
    raw_db.unlink()
    load_times = [await _load(db, count, profile("load", a)) for a in range(repeat)]
    ids = await _step_ids(db)
    row = {
        "steps/s": count / _best(build_times),
        "driver batches/s": count / _best(raw_times),
        "run": _best(build_times),
        "load": _best(load_times),
    }
    work = workdir / "replay.db"
    for warm in (False, True):
        for where, index in (("start", 0), ("middle", count // 2), ("end", -1)):
            label = f"replay {where} ({'warm' if warm else 'cold'})"
            kept = index % count
            times = [
                await _replay(db, work, ids[index], kept, warm, profile(label, a))
                for a in range(repeat)
            ]
            row[label] = _best(times)
    db.unlink()
    return row


def _fmt_row(name: str, values: list[float], unit: str) -> list[str]:
    if unit in ("steps/s", "batches/s"):
        cells = [f"{v:,.0f}" for v in values]
    elif unit == "ms":
        cells = [f"{v * 1000:,.1f}" for v in values]
    else:
        cells = [f"{v:,.2f}" for v in values]
    return [f"{name} ({unit})", *cells]


def _growth(name: str, values: list[float]) -> list[str]:
    if name in ("steps/s", "driver batches/s"):
        # Report growth of the per-step cost: 1.0 means linear total time.
        return [f"x{values[i] / values[i + 1]:.2f}" for i in range(len(values) - 1)]
    return [f"x{values[i + 1] / values[i]:.1f}" for i in range(len(values) - 1)]


def _print_table(sizes: list[int], rows: list[dict[str, float]]) -> None:
    metrics = [
        ("steps/s", "steps/s"),
        ("driver batches/s", "batches/s"),
        ("run", "s"),
        ("load", "ms"),
        *((f"replay {where} ({temp})", "ms") for temp in ("cold", "warm")
          for where in ("start", "middle", "end")),
    ]  # fmt: skip
    header = ["metric", *(f"{n:,}" for n in sizes)]
    header += [f"{sizes[i]:,}->{sizes[i + 1]:,}" for i in range(len(sizes) - 1)]
    lines = [header]
    for key, unit in metrics:
        values = [row[key] for row in rows]
        lines.append(_fmt_row(key, values, unit) + _growth(key, values))
    widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
    for i, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(
        "\ngrowth columns: time ratio (x10 = linear), for steps/s the per-step cost ratio "
        "(x1.00 = linear)"
    )


def _print_targets(sizes: list[int], rows: list[dict[str, float]]) -> None:
    at = dict(zip(sizes, rows, strict=True)).get(10_000)
    if at is None:
        return
    checks = [
        ("durable steps/s at 10,000", at["steps/s"], f">= {TARGET_STEPS_PER_S:,}",
         at["steps/s"] >= TARGET_STEPS_PER_S, f"{at['steps/s']:,.0f}"),
        ("load 10,000 entries", at["load"], f"<= {TARGET_LOAD_MS:.0f} ms",
         at["load"] * 1000 <= TARGET_LOAD_MS, f"{at['load'] * 1000:.1f} ms"),
    ]  # fmt: skip
    for label in (f"replay {w} (cold)" for w in ("start", "middle", "end")):
        ms = at[label] * 1000
        checks.append(
            (f"{label} of 10,000", ms, f"<= {TARGET_REPLAY_MS:.0f} ms",
             ms <= TARGET_REPLAY_MS, f"{ms:.1f} ms")
        )  # fmt: skip
    print("\ntargets:")
    for name, _value, target, ok, shown in checks:
        print(f"  {'ok  ' if ok else 'MISS'} {name}: {shown} (target {target})")


def _print_profiles(profiles: dict[str, cProfile.Profile], top: int) -> None:
    for name, profile in profiles.items():
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("tottime").print_stats(top)
        print(f"\n=== profile: {name} at 10,000 (sorted by own time) ===")
        print(out.getvalue().split("\n", 4)[-1].rstrip())


async def _main(args: argparse.Namespace) -> None:
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    rows = []
    profiles: dict[str, cProfile.Profile] = {}
    with tempfile.TemporaryDirectory(prefix="actorscope-bench-") as tmp:
        for count in sizes:
            # The 100,000 size builds once (seconds) and reads twice.
            repeat = args.repeat if count <= 10_000 else min(args.repeat, 2)
            build_repeat = args.repeat if count <= 10_000 else 1
            wanted = profiles if args.profile and count == 10_000 else None
            rows.append(await _measure(Path(tmp), count, repeat, build_repeat, wanted))
    print(f"engine on SQLite (python {sys.version.split()[0]}), {args.clock} time, "
          f"best of {args.repeat} (at 100,000: 1 run, 2 loads/replays)\n")  # fmt: skip
    _print_table(sizes, rows)
    _print_targets(sizes, rows)
    if args.profile:
        _print_profiles(profiles, args.top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="skip the 100,000-entry size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement")
    parser.add_argument("--profile", action="store_true", help="cProfile each measurement")
    parser.add_argument("--top", type=int, default=15, help="rows per profile")
    parser.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall", help="what to time (default: wall)"
    )
    args = parser.parse_args()
    global _clock
    _clock = time.perf_counter if args.clock == "wall" else time.process_time
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
