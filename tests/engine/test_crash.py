"""Crash safety with real processes (docs/ENGINE.md "Storage").

``crash_worker.py`` runs a small workflow (steps, a loop with a sleep inside,
a sleep, more steps) on a SQLite file or in a PostgreSQL database (each test
runs on both stores; ``crash_store.py``).  This test ``SIGKILL``s it over and
over — at exact events (the worker pauses at the N-th driver write or step
side effect and waits to be killed) and at free-running moments (killed as
soon as it reports an event, wherever it is by then, e.g. inside a commit) —
and restarts it each time, through the first run and through two
``replay_from_step`` rewinds, alternating between calling ``run_workflow``
directly and hosting the workflow in a ``WorkflowRunner``.  After every kill
it reads the history from this process and checks:

* the stored history loads, and every entry has its metadata (nothing
  half-written);
* no step whose completion was recorded ran again (unless a replay
  discarded that entry);
* every recorded completion was preceded by its side effect;
* a step that ran but whose completion was not recorded runs again later
  (at-least-once, never lost);

and at the end that each phase finished with the output of an uninterrupted
run.  A second test kills a process writing large batches straight through
a driver at moments spread over a batch, and checks each batch is stored
whole or not at all.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from actorscope.engine.codec import ENTRY, META
from actorscope.engine.executor import load_history
from actorscope.engine.model import EntryStatus, StepKind

WORKER = Path(__file__).with_name("crash_worker.py")
_spec = importlib.util.spec_from_file_location(
    "_actorscope_crash_store", Path(__file__).with_name("crash_store.py")
)
assert _spec is not None and _spec.loader is not None
crash_store = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash_store)
WORKFLOW_ID = "crash-wf"
# Replays the test performs after the first run completes: a step inside the
# loop (the loop rewinds as a whole) and a top-level step near the end.
REPLAY_TARGETS = ("item-3", "summarize")
MIN_KILLS = 50
MIN_REPLAY_KILLS = 5
MIN_RERUNS = 5
PROCESS_TIMEOUT = 60.0


@attrs.frozen
class Outcome:
    """How one worker process ended."""

    killed_at: str | None  # the event it was killed at, None if it finished
    output: Any
    events: int


@attrs.frozen
class Steps:
    """Step entries of a history: name -> (entry id, status)."""

    by_name: dict[str, tuple[str, EntryStatus]]

    def completed(self) -> dict[str, str]:
        return {
            name: entry_id
            for name, (entry_id, status) in self.by_name.items()
            if status is EntryStatus.COMPLETED
        }


def _run_worker(
    db: str,
    log: Path,
    args: list[str],
    *,
    pause_at: int | None = None,
    kill_after: int | None = None,
    host: str = "loop",
) -> Outcome:
    """Run the worker once; SIGKILL it when it pauses or reports event ``kill_after``."""
    command = [sys.executable, str(WORKER), db, str(log), *args, "--host", host]
    if pause_at is not None:
        command += ["--pause-at", str(pause_at)]
    errors = log.with_suffix(".stderr")
    with errors.open("w") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    watchdog = threading.Timer(PROCESS_TIMEOUT, proc.kill)
    watchdog.start()
    killed_at: str | None = None
    output: Any = None
    events = 0
    try:
        assert proc.stdout is not None
        # Read to the end even after the kill: a free-running worker may
        # finish (and print DONE) before the signal lands.
        for line in proc.stdout:
            tag, _, rest = line.rstrip("\n").partition(" ")
            if tag == "DONE":
                output = json.loads(rest)
            elif tag in ("EV", "PAUSED") and killed_at is None:
                number, _, description = rest.partition(" ")
                events = int(number)
                if tag == "PAUSED" or events == kill_after:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed_at = description
        proc.stdout.close()
        returncode = proc.wait()
    finally:
        watchdog.cancel()
    if killed_at is not None and returncode == -signal.SIGKILL:
        return Outcome(killed_at, None, events)
    assert returncode == 0, f"worker failed ({returncode}) running {args}:\n{errors.read_text()}"
    # A free-running worker may finish before the signal lands.
    return Outcome(None, output, events)


async def _read_history(db: str) -> Steps:
    driver, close = await crash_store.open_driver(db, WORKFLOW_ID)
    try:
        snapshot = await load_history(driver)
        entry_keys = [key[len(ENTRY) :] for key, _ in await driver.list(ENTRY)]
        meta_keys = [key[len(META) :] for key, _ in await driver.list(META)]
    finally:
        await close()
    # Nothing half-written: every stored entry has its stored metadata.
    assert entry_keys == meta_keys
    assert len(snapshot.entries) == len(entry_keys)
    steps: dict[str, tuple[str, EntryStatus]] = {}
    for entry in snapshot.entries:
        if isinstance(entry.kind, StepKind):
            last = entry.location[-1]
            assert isinstance(last, int)
            name = snapshot.name_registry[last]
            assert name not in steps, f"two step entries named {name}"
            steps[name] = (entry.id, snapshot.entry_metadata[entry.id].status)
    return Steps(steps)


def _history(db: str) -> Steps:
    if not db.startswith("postgresql://") and not Path(db).exists():
        return Steps({})
    return asyncio.run(_read_history(db))


class _Checker:
    """Follows the side-effect log and the history from kill to kill."""

    def __init__(self, db: str, log: Path) -> None:
        self.db = db
        self.log = log
        self.offset = 0
        self.before = Steps({})
        self.owed: set[str] = set()  # ran, completion not recorded, not yet re-run
        self.reruns = 0  # owed steps seen running again
        # A kill moment: (phase, event killed at, steps recorded as completed).
        self.moments: set[tuple[str, str, frozenset[str]]] = set()
        self.phase = ""
        self.runs = 0
        self.kills = 0
        self.replay_kills = 0

    def new_effects(self) -> list[str]:
        with self.log.open(encoding="utf-8") as f:
            f.seek(self.offset)
            text = f.read()
            self.offset = f.tell()
        return text.splitlines()

    def after_run(self, outcome: Outcome) -> Steps:
        ran = self.new_effects()
        after = _history(self.db)
        done_before, done_after = self.before.completed(), after.completed()
        for name, entry_id in done_before.items():
            if after.by_name.get(name, ("", None))[0] == entry_id:
                assert name not in ran, f"{name} ran again after its completion was recorded"
        for name, entry_id in done_after.items():
            if done_before.get(name) != entry_id:
                assert name in ran, f"{name} recorded as completed but its side effect never ran"
        self.reruns += len(self.owed & set(ran))
        self.owed -= set(ran)
        self.owed |= {name for name in ran if name not in done_after}
        if outcome.killed_at is not None:
            self.kills += 1
            self.replay_kills += outcome.killed_at.startswith("replay:")
            self.moments.add((self.phase, outcome.killed_at, frozenset(done_after)))
        self.before = after
        return after


def _kill_plan() -> Iterator[tuple[int | None, int | None]]:
    """(pause_at, kill_after) per run: mostly exact pauses, every 4th free-running."""
    offsets = itertools.cycle([2, 4, 3, 6, 2, 5, 3, 7])
    for i in itertools.count():
        offset = next(offsets)
        yield (None, offset) if i % 4 == 3 else (offset, None)


def _run_phase(checker: _Checker, replay_target: str | None) -> Any:
    """Drive one phase to completion through repeated kills; return its output."""
    checker.phase = f"replay {replay_target}" if replay_target else "run"
    plan = _kill_plan()
    replay_pause = 1
    for _ in range(200):
        mode = ["run"]
        pause_at: int | None
        kill_after: int | None
        if replay_target is not None:
            target_id = checker.before.by_name[replay_target][0]
            mode = ["replay", target_id]
            # Walk the kill through every event of replay_from_step in turn.
            pause_at, kill_after = replay_pause, None
            replay_pause += 1
        else:
            pause_at, kill_after = next(plan)
        # Alternate hosts: run_workflow in a loop, and WorkflowRunner as the
        # server uses it (resuming on the persisted wake time).
        checker.runs += 1
        host = "runner" if checker.runs % 2 else "loop"
        outcome = _run_worker(
            checker.db, checker.log, mode, pause_at=pause_at, kill_after=kill_after, host=host
        )
        after = checker.after_run(outcome)
        # A replay is done once its target entry was discarded.
        if replay_target is not None and after.by_name.get(replay_target, ("",))[0] != target_id:
            replay_target = None
        if outcome.killed_at is None:
            assert replay_target is None
            return outcome.output
    raise AssertionError(f"phase {checker.phase} did not finish")


# A writer that commits generation after generation of one big batch
# (overwrite 300 keys, move a 50-key block to a new prefix), printing each
# generation number after its commit returns.
_BATCH_WRITER = """
import asyncio, sys
sys.path.insert(0, sys.argv[2])
from crash_store import open_driver
from actorscope.engine.driver import Delete, DeletePrefix, Set

async def main():
    driver, _close = await open_driver(sys.argv[1], "writer")
    gen = len(await driver.list(b"gen/"))
    while True:
        gen += 1
        value = str(gen).encode() * 20
        ops = [Set(b"k/%04d" % i, value) for i in range(300)]
        ops += [DeletePrefix(b"block/"), Delete(b"marker")]
        ops += [Set(b"block/%d/%02d" % (gen, i), value) for i in range(50)]
        ops += [Set(b"gen/%08d" % gen, b""), Set(b"marker", value)]
        await driver.batch(ops)
        print(gen, flush=True)

asyncio.run(main())
"""


async def _check_writer(db: str, last_printed: int) -> None:
    driver, close = await crash_store.open_driver(db, "writer")
    try:
        gens = [int(key[4:]) for key, _ in await driver.list(b"gen/")]
        committed = gens[-1]
        # Every printed batch is there (the writer may have committed more
        # before the signal landed); the one in flight is all there or absent.
        assert gens == list(range(1, committed + 1))
        assert committed >= last_printed
        value = str(committed).encode() * 20
        keys = await driver.list(b"k/")
        assert len(keys) == 300
        assert {v for _, v in keys} == {value}
        block = [key for key, _ in await driver.list(b"block/")]
        assert block == [b"block/%d/%02d" % (committed, i) for i in range(50)]
        assert await driver.get(b"marker") == value
    finally:
        await close()


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """``stores(name)``: the spec of a fresh store named ``name`` on the param's kind."""
    if request.param == "sqlite":
        return lambda name: str(tmp_path / f"{name}.db")
    dsn = request.getfixturevalue("postgres_dsn")
    return lambda name: crash_store.postgres_spec(dsn, name)


def test_batches_are_all_or_nothing_under_kill(stores: Callable[[str], str]) -> None:
    db = stores("writer")
    # (batches to see, then how long to wait before the kill): the delays
    # spread the kill over the next batch's building, writing and commit.
    plan = [(n, delay_ms / 1000) for n in (1, 3, 8) for delay_ms in (0, 0.3, 0.7, 1.2, 2, 3.5, 6)]
    for kill_after, delay in plan:
        proc = subprocess.Popen(
            [sys.executable, "-c", _BATCH_WRITER, db, str(WORKER.parent)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        last = 0
        for seen, line in enumerate(proc.stdout, start=1):
            last = int(line)
            if seen == kill_after:
                time.sleep(delay)
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.stdout.close()
        assert proc.wait(timeout=PROCESS_TIMEOUT) == -signal.SIGKILL
        asyncio.run(_check_writer(db, last))


def test_kill_anywhere_loses_and_repeats_nothing(
    tmp_path: Path, stores: Callable[[str], str]
) -> None:
    # The uninterrupted reference: first run, then the two replays.
    ref_db, ref_log = stores("ref"), tmp_path / "ref.log"
    reference = _Checker(ref_db, ref_log)
    expected = [_run_worker(ref_db, ref_log, ["run"]).output]
    history = reference.after_run(Outcome(None, expected[0], 0))
    first_run_effects = ref_log.read_text().splitlines()
    assert sorted(first_run_effects) == sorted(history.completed())
    assert len(first_run_effects) == len(set(first_run_effects))  # each step once
    for target in REPLAY_TARGETS:
        target_id = history.by_name[target][0]
        expected.append(_run_worker(ref_db, ref_log, ["replay", target_id]).output)
        history = reference.after_run(Outcome(None, expected[-1], 0))
    assert expected[0] is not None
    assert expected[1:] == [expected[0]] * len(REPLAY_TARGETS)
    final_steps = set(history.completed())

    # The same under fire.
    db, log = stores("wf"), tmp_path / "wf.log"
    log.touch()
    checker = _Checker(db, log)
    assert _run_phase(checker, None) == expected[0]
    for target in REPLAY_TARGETS:
        assert target in checker.before.completed()
        assert _run_phase(checker, target) == expected[0]
        assert set(checker.before.completed()) == final_steps

    print(
        f"{checker.kills} kills, {len(checker.moments)} distinct moments, "
        f"{checker.replay_kills} inside replay_from_step, "
        f"{checker.reruns} unrecorded steps re-run"
    )
    assert checker.owed == set(), f"steps that ran unrecorded and never re-ran: {checker.owed}"
    # Kills between a side effect and its record did happen (the check above
    # is not vacuous).
    assert checker.reruns >= MIN_RERUNS
    assert checker.kills >= MIN_KILLS
    assert len(checker.moments) >= MIN_KILLS
    assert checker.replay_kills >= MIN_REPLAY_KILLS
