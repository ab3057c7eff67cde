"""The web inspector's replay controls around running and failed steps, and dev mode.

These need workflows the demo does not have: a step that runs until the test
lets it finish (``gated``), and a step whose first attempt fails with a retry
an hour away (``flaky``). The server is the real one (``start_server``, on
127.0.0.1 port 0, SQLite in a temp dir), run in a thread with its own event
loop so the test drives Chromium synchronously.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from actorscope.engine import WorkflowContext
from actorscope.server.definitions import ActorContext, ActorDefinition, Registry
from actorscope.server.runner import RunningServer, ServerConfig, start_server
from playwright.sync_api import Page, expect

TOKEN = "browser-controls-token-0123456789"
WAIT_MS = 30_000
# Every expectation waits as long: the machines running this are shared.
expect.set_options(timeout=WAIT_MS)
IN_PROGRESS = "Step currently in progress"

# Per actor id; only touched from the server's event loop.
_gates: dict[str, asyncio.Event] = {}
_charges: dict[str, int] = {}


def _gate(actor_id: str) -> asyncio.Event:
    return _gates.setdefault(actor_id, asyncio.Event())


async def _wait_for_gate(actor: ActorContext) -> str:
    await _gate(actor.actor_id).wait()
    return "worked"


async def _gated(wf: WorkflowContext, actor: ActorContext) -> None:
    await wf.step("prepare", lambda: "ready")
    await wf.step("work", lambda: _wait_for_gate(actor))
    await wf.sleep("rest", 3600)


def _release(ctx: ActorContext) -> bool:
    _gate(ctx.actor_id).set()
    return True


def _charge(actor: ActorContext) -> str:
    count = _charges.get(actor.actor_id, 0)
    _charges[actor.actor_id] = count + 1
    if count == 0:
        raise RuntimeError("card declined")
    return "charged"


async def _flaky(wf: WorkflowContext, actor: ActorContext) -> None:
    await wf.step("prepare", lambda: "ready")
    # The retry is an hour away: only a replay runs the step again soon.
    await wf.step("charge", lambda: _charge(actor), retry_base=3600, retry_cap=3600)
    await wf.sleep("rest", 3600)


async def _ledger(wf: WorkflowContext, actor: ActorContext) -> None:
    for name in ("a", "b", "c"):

        async def write(name: str = name) -> str:
            actor.state["log"].append(name)
            await actor.save_state()
            return name

        await wf.step(name, write)
    await wf.sleep("rest", 3600)


async def _fanout(wf: WorkflowContext, actor: ActorContext) -> None:
    def fetch(name: str) -> Callable[[WorkflowContext], Any]:
        async def branch(ctx: WorkflowContext) -> Any:
            return await ctx.step("get", lambda: f"got {name}")

        return branch

    await wf.join("fetch", {"a": fetch("a"), "b": fetch("b")})

    async def slow(ctx: WorkflowContext) -> Any:
        await ctx.sleep("wait", 3600)
        return "slow"

    async def fast(ctx: WorkflowContext) -> Any:
        return await ctx.step("answer", lambda: "fast")

    await wf.race("pick", {"slow": slow, "fast": fast})
    await wf.sleep("rest", 3600)


def _plan(ctx: ActorContext) -> str:
    return ctx.schedule.every(3600, "tick", "hourly", name="hourly")


def _tick(ctx: ActorContext, label: str) -> str:
    return label


def _registry() -> Registry:
    return Registry(
        [
            ActorDefinition("gated", {"n": 0}, {"release": _release}, _gated),
            ActorDefinition("flaky", None, {}, _flaky),
            ActorDefinition("planner", None, {"plan": _plan, "tick": _tick}),
            ActorDefinition("ledger", {"log": []}, {}, _ledger, state_checkpoints=True),
            ActorDefinition("fanout", None, {}, _fanout),
        ]
    )


class ThreadServer:
    """A real server on its own event loop in a thread."""

    def __init__(self, config: ServerConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: RunningServer = self.run(start_server(config))

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def actor_id(self, name: str) -> str:
        return next(a.actor_id for a in self.server.directory.actors(name))

    def http(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.server.server_token:
            headers["Authorization"] = f"Bearer {self.server.server_token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.server.url + path, data=data, method=method, headers=headers
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def stop(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


ServerFactory = Callable[..., ThreadServer]


@pytest.fixture
def thread_server(tmp_path: Path) -> Iterator[ServerFactory]:
    started: list[ThreadServer] = []

    def factory(**overrides: Any) -> ThreadServer:
        config = ServerConfig(
            registry=_registry(),
            data_dir=tmp_path / f"data-{len(started)}",
            server_token=TOKEN,
            create=(
                ("gated", "one"),
                ("flaky", "one"),
                ("planner", "one"),
                ("ledger", "one"),
                ("fanout", "one"),
            ),
        )
        for name, value in overrides.items():
            config = type(config)(**{**_fields(config), name: value})
        started.append(ThreadServer(config))
        return started[-1]

    yield factory
    for running in started:
        running.stop()


def _fields(config: ServerConfig) -> dict[str, Any]:
    import attrs

    return attrs.asdict(config, recurse=False)


def open_actor(page: Page, running: ThreadServer, name: str) -> None:
    actor_id = running.actor_id(name)
    page.goto(running.server.url + "/ui/")
    if running.server.server_token:
        page.fill("#token", running.server.server_token)
        page.click("form.signin button[type=submit]")
    page.click(f"a.actor-link[data-name={name}]")
    expect(page.locator(".actor-head .actor-id")).to_have_text(actor_id)
    expect(page.locator(".live")).to_have_text("live", timeout=WAIT_MS)


def open_workflow(page: Page, running: ThreadServer, name: str) -> None:
    open_actor(page, running, name)
    page.click("#tab-workflow")


def test_replay_controls_disabled_while_a_step_runs(
    page: Page, thread_server: ServerFactory
) -> None:
    running = thread_server()
    open_workflow(page, running, "gated")
    # "work" has no entry until it returns; the page still shows it running.
    expect(page.locator("#wf-status")).to_have_text("running", timeout=WAIT_MS)
    expect(page.locator("#wf-running")).to_have_text("running: work")
    expect(page.locator("#wf-tree .entry.running[data-path='work']")).to_be_visible()
    button = page.locator("#replay-current")
    expect(button).to_be_disabled()
    tip = page.locator("#replay-current-tip")
    expect(tip).to_have_attribute("title", IN_PROGRESS)
    # The explanation is reachable from the keyboard too, and shown on focus.
    tip.focus()
    shown = page.evaluate(
        "getComputedStyle(document.getElementById('replay-current-tip'), '::after').content"
    )
    assert shown == f'"{IN_PROGRESS}"'

    # The step menu is open to reach, but its replay item is disabled and says why.
    page.locator("#wf-tree .entry[data-path='prepare']").click(button="right")
    item = page.locator("#menu-replay")
    expect(item).to_be_disabled()
    expect(item).to_have_attribute("title", IN_PROGRESS)
    page.keyboard.press("Escape")
    expect(page.locator("#step-menu")).to_have_count(0)

    # The step finishes (released over HTTP): the controls come back, live.
    running.http("POST", f"/gateway/{running.actor_id('gated')}/inspector/action/release")
    expect(page.locator("#wf-tree .entry[data-path='work']")).to_have_attribute(
        "data-status", "COMPLETED", timeout=WAIT_MS
    )
    expect(button).to_be_enabled(timeout=WAIT_MS)
    expect(page.locator("#wf-status")).to_have_text("sleeping")
    expect(tip).to_have_attribute("title", "Replay from work")


def test_failed_step_waiting_for_retry_can_be_replayed(
    page: Page, thread_server: ServerFactory
) -> None:
    running = thread_server()
    open_workflow(page, running, "flaky")
    charge = page.locator("#wf-tree .entry[data-path='charge']")
    expect(charge).to_have_attribute("data-status", "FAILED", timeout=WAIT_MS)
    expect(charge).to_contain_text("card declined")
    expect(page.locator("#wf-status")).to_have_text("failed")
    # The current step is the failed one; its retry is an hour away.
    expect(page.locator("#replay-current")).to_be_enabled()
    expect(page.locator("#replay-current-tip")).to_have_attribute("title", "Replay from charge")
    page.click("#replay-current")
    dialog = page.locator("dialog.replay-dialog")
    expect(dialog).to_contain_text("failed and waits for its retry")
    expect(dialog.locator("#replay-discard")).to_contain_text("charge")
    page.fill("#replay-reason", "the card works now")
    page.click("#replay-confirm")
    expect(charge).to_have_attribute("data-status", "COMPLETED", timeout=WAIT_MS)
    expect(charge).to_contain_text('"charged"')
    expect(page.locator("#wf-status")).to_have_text("sleeping", timeout=WAIT_MS)
    page.click("#tab-replays")
    expect(page.locator("#replays-table tbody tr")).to_have_count(1)
    expect(page.locator("#replays-table tbody tr").first).to_contain_text("the card works now")


def test_a_refused_replay_shows_its_code(page: Page, thread_server: ServerFactory) -> None:
    running = thread_server()
    gated = running.actor_id("gated")
    open_workflow(page, running, "gated")
    expect(page.locator("#wf-status")).to_have_text("running", timeout=WAIT_MS)
    running.http("POST", f"/gateway/{gated}/inspector/action/release")
    expect(page.locator("#replay-current")).to_be_enabled(timeout=WAIT_MS)
    page.click("#replay-current")
    expect(page.locator("#replay-confirm")).to_be_enabled(timeout=WAIT_MS)

    async def close_gate() -> None:
        _gate(gated).clear()

    # Meanwhile another operator replays from the start: "work" runs again
    # and has no entry until it returns, so the dialog's target is gone.
    running.run(close_gate())
    running.http("POST", f"/gateway/{gated}/inspector/workflow/replay", {})
    expect(page.locator("#wf-running")).to_have_text("running: work", timeout=WAIT_MS)
    page.click("#replay-confirm")
    error = page.locator("#replay-error")
    expect(error).to_contain_text("workflow.step_not_found: ", timeout=WAIT_MS)
    expect(error).to_contain_text("'work'")
    expect(page.locator("dialog.replay-dialog")).to_be_visible()
    page.click("#replay-cancel")
    running.http("POST", f"/gateway/{gated}/inspector/action/release")


def test_schedules_tab_appears_live_and_cancels(page: Page, thread_server: ServerFactory) -> None:
    running = thread_server()
    open_actor(page, running, "planner")
    # No state, no workflow, no schedules yet: only what it has.
    expect(page.locator("#tab-actions")).to_be_visible()
    for absent in ("state", "workflow", "queue", "database", "schedules"):
        expect(page.locator(f"#tab-{absent}")).to_have_count(0)
    page.click("#tab-actions")
    page.locator("form[data-action=plan] button[type=submit]").click()
    expect(page.locator("form[data-action=plan] pre.result")).to_contain_text('"hourly"')
    # The schedule arrives over the event stream; the tab appears without a reload.
    expect(page.locator("#tab-schedules")).to_be_visible(timeout=WAIT_MS)
    page.click("#tab-schedules")
    row = page.locator("#panel tbody tr", has_text="hourly")
    expect(row).to_contain_text("every")
    expect(row).to_contain_text('tick("hourly")')
    row.locator("button", has_text="History").click()
    expect(page.locator("#schedule-history h3")).to_have_text("History of hourly")
    row.locator("button", has_text="Cancel").click()
    expect(page.locator("#toast")).to_contain_text("cancelled hourly")
    expect(page.locator("#tab-schedules")).to_have_count(0, timeout=WAIT_MS)
    assert running.http("GET", f"/gateway/{running.actor_id('planner')}/inspector/schedules") == {
        "schedules": []
    }


def test_replay_can_restore_the_state_checkpoint(page: Page, thread_server: ServerFactory) -> None:
    running = thread_server()
    ledger = running.actor_id("ledger")
    open_workflow(page, running, "ledger")
    expect(page.locator("#wf-status")).to_have_text("sleeping", timeout=WAIT_MS)
    page.locator("#wf-tree .entry[data-path='b']").click(button="right")
    page.click("#menu-replay")
    restore = page.locator("#replay-restore-state")
    expect(restore).to_be_visible(timeout=WAIT_MS)
    diff = page.locator("#replay-state-diff")
    expect(diff).to_be_hidden()
    restore.check()
    expect(diff).to_be_visible()
    # Back to the state before "b": its entry and c's leave the log.
    changes = page.locator("#replay-state-changes tbody tr")
    expect(changes).to_have_count(2)
    expect(changes.nth(0)).to_contain_text("log[1]")
    expect(changes.nth(0)).to_contain_text("remove")
    expect(changes.nth(0)).to_contain_text('"b"')
    expect(diff).to_contain_text("state restored")
    page.fill("#replay-reason", "rewind the ledger too")
    page.click("#replay-confirm")
    expect(page.locator("dialog.replay-dialog")).to_have_count(0)
    expect(page.locator("#wf-tree .entry[data-path='c']")).to_have_attribute(
        "data-status", "COMPLETED", timeout=WAIT_MS
    )
    expect(page.locator("#wf-status")).to_have_text("sleeping", timeout=WAIT_MS)
    # Restored, then b and c ran again: no duplicates in the log.
    assert running.http("GET", f"/gateway/{ledger}/inspector/state")["state"] == {
        "log": ["a", "b", "c"]
    }
    page.click("#tab-replays")
    row = page.locator("#replays-table tbody tr").first
    expect(row).to_contain_text("rewind the ledger too")
    expect(row).to_contain_text("restored")


def test_no_restore_offered_without_checkpoints(page: Page, thread_server: ServerFactory) -> None:
    running = thread_server()
    open_workflow(page, running, "gated")
    running.http("POST", f"/gateway/{running.actor_id('gated')}/inspector/action/release")
    expect(page.locator("#replay-current")).to_be_enabled(timeout=WAIT_MS)
    page.click("#replay-current")
    expect(page.locator("#replay-confirm")).to_be_enabled(timeout=WAIT_MS)
    expect(page.locator("#replay-restore-state")).to_have_count(0)
    expect(page.locator("#replay-restore-unavailable")).to_have_count(0)


def test_joins_and_races_show_their_branches(page: Page, thread_server: ServerFactory) -> None:
    running = thread_server()
    open_workflow(page, running, "fanout")
    expect(page.locator("#wf-status")).to_have_text("sleeping", timeout=WAIT_MS)
    join = page.locator("#wf-tree .entry[data-path='fetch']")
    expect(join).to_contain_text("join")
    expect(join).to_contain_text("a=COMPLETED, b=COMPLETED")
    for branch in ("a", "b"):
        group = page.locator(f"details[data-group='fetch/{branch}']")
        expect(group.locator("summary")).to_contain_text(f"branch {branch}")
        if group.get_attribute("open") is None:
            group.locator("summary").click()
        step = page.locator(f"#wf-tree .entry[data-path='fetch/{branch}/get']")
        expect(step).to_contain_text(f'"got {branch}"')
    race = page.locator("#wf-tree .entry[data-path='pick']")
    expect(race).to_contain_text("race")
    expect(race).to_contain_text("winner fast")
    expect(page.locator("details[data-group='pick/fast'] summary")).to_contain_text("branch fast")


def test_dev_mode_needs_no_sign_in(page: Page, thread_server: ServerFactory) -> None:
    running = thread_server(dev=True, server_token=None)
    page.goto(running.server.url + "/ui/")
    expect(page.locator("#who")).to_have_text("signed in: dev mode, no token", timeout=WAIT_MS)
    expect(page.locator("#signout")).to_be_hidden()
    expect(page.locator("a.actor-link")).to_have_count(5)
    expect(page.locator("#token")).to_have_count(0)
