"""The built-in web inspector in Chromium, against a real ``actorscope serve --demo``.

One server subprocess per test (started like an operator starts it, on
port 0, URL and token read from its banner). The tests go the way an
operator goes: sign in, find ``order``, edit its state, call an action,
send the ``approval`` message and watch the workflow finish without a
reload, replay from the current step, replay from an earlier step through
the context menu (preview, reason, the result in Replays), then open the
archived attempt and its diff against the current run. The Workflow tab's
screenshot for the README is written here (``docs/images/workflow-tab.png``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "images" / "workflow-tab.png"
# Generous: the machine running these is shared and slow.
WAIT_MS = 30_000
# Every expectation waits as long: the machines running this are shared.
expect.set_options(timeout=WAIT_MS)
SERVE = [sys.executable, "-m", "actorscope", "serve", "--demo", "--port", "0"]


@attrs.define
class Served:
    """A running ``actorscope serve`` and what its banner said."""

    proc: subprocess.Popen[str]
    banner: list[str]
    ui_url: str = ""
    url: str = ""
    token: str = ""

    def http(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def actor_id(self, name: str) -> str:
        actors = self.http("GET", f"/actors?name={name}")["actors"]
        return str(actors[0]["actor_id"])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    proc = subprocess.Popen(
        [*SERVE, "--data", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "serve.log").open("w"),
        text=True,
    )
    running = Served(proc, [])
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            running.banner.append(line.rstrip("\n"))
            if m := re.match(r"^web inspector: (http://\S+/ui/)", line):
                running.ui_url = m.group(1)
            elif m := re.match(r"^actorscope serving on (http://\S+)", line):
                running.url = m.group(1)
            elif m := re.match(r"^server token: ([0-9a-f]{16,})$", line.strip()):
                running.token = m.group(1)
            elif line.startswith("(Ctrl-C"):
                break
        assert running.ui_url and running.token, "\n".join(running.banner)
        yield running
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sign_in(page: Page, served: Served, token: str | None = None) -> None:
    page.goto(served.ui_url)
    page.fill("#token", token or served.token)
    page.click("form.signin button[type=submit]")
    expect(page.locator("#who")).to_contain_text("signed in", timeout=WAIT_MS)


def open_tab(page: Page, tab: str) -> None:
    page.click(f"#tab-{tab}")
    expect(page.locator(f"#tab-{tab}")).to_have_attribute("aria-selected", "true")


def entry(page: Page, path: str) -> Any:
    return page.locator(f"#wf-tree .entry[data-path='{path}']")


def test_banner_prints_the_ui_url_first(served: Served) -> None:
    assert served.banner[0] == f"web inspector: {served.url}/ui/"


def test_sign_in_wrong_token_then_server_token(page: Page, served: Served) -> None:
    page.goto(served.ui_url)
    # Without a token the page asks for one (the static files need none).
    expect(page.locator("#token")).to_be_visible()
    page.fill("#token", "not-the-token")
    page.click("form.signin button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("not accepted")
    expect(page.locator("#signin-error")).to_contain_text("inspector.unauthorized")

    sign_in(page, served)
    expect(page.locator("#who")).to_have_text("signed in: server token")
    for name in ("counter", "order", "steps", "inventory"):
        expect(page.locator(f"a.actor-link[data-name={name}]")).to_have_text("demo")
    # The order workflow ends its first run waiting for the approval message.
    order_row = page.locator("tr", has=page.locator("a.actor-link[data-name=order]"))
    expect(order_row.locator(".badge")).to_have_text("waiting", timeout=WAIT_MS)
    expect(
        page.locator("tr", has=page.locator("a[data-name=counter]")).locator(".badge")
    ).to_have_text("no workflow")
    # Kept for this tab only: never a cookie, never in the URL.
    assert page.evaluate("sessionStorage.getItem('actorscope.token')") == served.token
    assert page.context.cookies() == []
    assert served.token not in page.url

    # Search narrows the list; create adds an instance and opens it.
    page.fill("#search", "ord")
    expect(page.locator("a.actor-link")).to_have_count(1)
    page.fill("#search", "")
    page.select_option("#create-name", "counter")
    page.fill("#create-key", "mine")
    page.click("form.create button[type=submit]")
    expect(page.locator(".actor-head h1")).to_have_text("counter / mine", timeout=WAIT_MS)
    assert any(a["key"] == "mine" for a in served.http("GET", "/actors?name=counter")["actors"])


def test_actor_token_opens_only_its_actor(page: Page, served: Served) -> None:
    order = served.actor_id("order")
    actor_token = served.http("GET", f"/actors/{order}/inspector-token")["token"]
    sign_in(page, served, actor_token)
    expect(page.locator("#who")).to_have_text("signed in: actor token")
    expect(page.locator("a.actor-link")).to_have_count(1)
    expect(page.locator("a.actor-link")).to_have_attribute("data-name", "order")
    # Creating needs the server token: the form is not offered.
    expect(page.locator("form.create")).to_have_count(0)


def test_order_state_action_approval_replays_and_attempts(page: Page, served: Served) -> None:
    order = served.actor_id("order")
    sign_in(page, served)
    page.click("a.actor-link[data-name=order]")
    expect(page.locator(".actor-head h1")).to_have_text("order / demo")
    expect(page.locator(".live")).to_have_text("live", timeout=WAIT_MS)
    # Tabs only for what the actor has: a workflow, state, actions; no database.
    for tab in ("state", "actions", "queue", "traces", "workflow", "replays", "attempts"):
        expect(page.locator(f"#tab-{tab}")).to_be_visible()
    expect(page.locator("#tab-database")).to_have_count(0)
    expect(page.locator("#wf-status")).to_have_text("waiting", timeout=WAIT_MS)
    # Reloads would reset this; "live" means it survives every update below.
    page.evaluate("window.__sameDocument = true")

    # State: edit as JSON, save (PATCH), and the server has it.
    open_tab(page, "state")
    page.click("#state-edit")
    state = served.http("GET", f"/gateway/{order}/inspector/state")["state"]
    state["note"] = "edited in the browser"
    page.fill("#state-editor", json.dumps(state))
    page.click("#state-save")
    expect(page.locator("#state-view")).to_contain_text("edited in the browser")
    assert served.http("GET", f"/gateway/{order}/inspector/state")["state"]["note"] == (
        "edited in the browser"
    )
    # Bad JSON is refused on the page, with a code, and nothing is sent.
    page.click("#state-edit")
    page.fill("#state-editor", "{not json")
    page.click("#state-save")
    expect(page.locator("#panel .error")).to_contain_text("request.invalid")
    page.click("#panel button:text('Cancel')")

    # Actions: call one and see its output; an action error shows its code.
    open_tab(page, "actions")
    action = page.locator("form[data-action=get_timeline]")
    action.locator("button[type=submit]").click()
    expect(action.locator("pre.result")).to_contain_text('"charge"')
    action.locator("input.args").fill('["unexpected"]')
    action.locator("button[type=submit]").click()
    expect(action.locator(".error")).to_contain_text("actor.action_failed")

    # Queue: send approval; the workflow finishes, pushed to the open page.
    open_tab(page, "queue")
    page.fill("#queue-name", "approval")
    page.fill("#queue-body", '{"by": "browser"}')
    page.click("#panel form button[type=submit]")
    open_tab(page, "workflow")
    expect(entry(page, "ship")).to_have_attribute("data-status", "COMPLETED", timeout=WAIT_MS)
    expect(page.locator("#wf-status")).to_have_text("done", timeout=WAIT_MS)
    expect(entry(page, "approval")).to_contain_text('"browser"')
    assert page.evaluate("window.__sameDocument") is True

    # Replay from the current step (the last one, ship): preview, then confirm.
    expect(page.locator("#replay-current-tip")).to_have_attribute("title", "Replay from ship")
    page.click("#replay-current")
    dialog = page.locator("dialog.replay-dialog")
    expect(dialog.locator("#replay-boundary")).to_contain_text("ship")
    expect(dialog.locator("#replay-count")).to_contain_text("1 entry will be discarded")
    page.fill("#replay-reason", "resend the shipping notice")
    page.click("#replay-confirm")
    expect(dialog).to_have_count(0)
    expect(page.locator("#toast")).to_contain_text("replayed from ship")
    expect(entry(page, "ship")).to_have_attribute("data-status", "COMPLETED", timeout=WAIT_MS)
    expect(page.locator("#wf-status")).to_have_text("done", timeout=WAIT_MS)

    # An earlier step, through the context menu (right-click) on its row.
    iteration = page.locator("details[data-group='items/~1']")
    iteration.locator("summary").click()
    expect(iteration).to_have_attribute("open", "")
    entry(page, "items/~1/reserve-1").click(button="right")
    menu = page.locator("#step-menu")
    expect(menu).to_be_visible()
    expect(page.locator("#menu-replay")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog.locator("#replay-boundary")).to_contain_text("items (loop)")
    expect(dialog.locator("#replay-loop-note")).to_contain_text("the whole loop is rewound")
    discard = dialog.locator("#replay-discard tbody tr")
    expect(discard.first).to_contain_text("items")
    discarded_paths = [
        discard.nth(i).locator("td").first.inner_text() for i in range(discard.count())
    ]
    assert discarded_paths[:4] == [
        "items",
        "items/~0/reserve-0",
        "items/~1/reserve-1",
        "items/~2/reserve-2",
    ]
    assert {"charge", "cool-down", "approval", "ship"} <= set(discarded_paths)
    expect(dialog.locator("#replay-count")).to_contain_text(f"{len(discarded_paths)} entries")
    page.fill("#replay-reason", "reserve-1 hit a stale stock count")
    page.click("#replay-confirm")
    expect(dialog).to_have_count(0)
    # The re-run shows live: back to waiting for a new approval.
    expect(entry(page, "ship")).to_have_count(0, timeout=WAIT_MS)
    expect(page.locator("#wf-status")).to_have_text("waiting", timeout=WAIT_MS)
    expect(entry(page, "charge")).to_have_attribute("data-status", "COMPLETED")

    # The README's picture: the Workflow tab with a step's menu open.
    iteration = page.locator("details[data-group='items/~1']")
    if iteration.get_attribute("open") is None:
        iteration.locator("summary").click()
    more = entry(page, "items/~1/reserve-1").locator("button.more")
    more.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#menu-replay")).to_be_focused()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    page.keyboard.press("Escape")
    expect(page.locator("#step-menu")).to_have_count(0)
    expect(more).to_be_focused()

    # Replays: the audit, newest first, with the reason and the credential class.
    open_tab(page, "replays")
    rows = page.locator("#replays-table tbody tr")
    expect(rows).to_have_count(2)
    newest = rows.nth(0)
    expect(newest).to_contain_text("reserve-1 hit a stale stock count")
    expect(newest).to_contain_text("items/~1/reserve-1")
    expect(newest).to_contain_text("http")
    expect(newest).to_contain_text("server")
    expect(newest).to_contain_text(str(len(discarded_paths)))
    expect(newest.locator(".status")).to_have_text("done")
    expect(rows.nth(1)).to_contain_text("resend the shipping notice")
    attempt = newest.locator("a[data-attempt]")
    expect(attempt).to_have_text("#2")

    # Attempts: the archived run beside the current one.
    attempt.click()
    expect(page.locator("#tab-attempts")).to_have_attribute("aria-selected", "true")
    diff = page.locator("#attempt-diff")
    expect(diff).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#attempt-view h3")).to_have_text("Attempt 2")

    def change(path: str) -> Any:
        return diff.locator(f"tr[data-path='{path}'] td").last

    # ship ran in attempt 2 and has not run again (no new approval yet).
    expect(change("ship")).to_contain_text("not-re-run")
    expect(change("items/~0/reserve-0")).to_contain_text("re-run")
    expect(change("items/~0/reserve-0")).to_contain_text("same output")
    expect(diff.locator("tr[data-path='ship'] td").nth(1)).to_contain_text("COMPLETED")
    expect(diff.locator("tr[data-path='ship'] td").nth(2)).to_contain_text("—")
    # Attempt 1 (the replay of ship) is there too.
    page.click("#attempt-list button[data-attempt='1']")
    expect(page.locator("#attempt-view h3")).to_have_text("Attempt 1")
    assert page.evaluate("window.__sameDocument") is True


def test_counter_connections_traces_and_keyboard_tabs(page: Page, served: Served) -> None:
    counter = served.actor_id("counter")
    sign_in(page, served)
    page.click("a.actor-link[data-name=counter]")
    expect(page.locator(".live")).to_have_text("live", timeout=WAIT_MS)
    # No workflow: none of its tabs; no connections yet: no Connections tab.
    for absent in ("workflow", "queue", "replays", "attempts", "connections", "database"):
        expect(page.locator(f"#tab-{absent}")).to_have_count(0)
    ws_url = served.url.replace("http://", "ws://") + f"/gateway/{counter}/connect"
    with connect(ws_url, additional_headers={"Authorization": f"Bearer {served.token}"}):
        # A client connects: the tab appears, pushed to the open page.
        expect(page.locator("#tab-connections")).to_be_visible(timeout=WAIT_MS)
        open_tab(page, "connections")
        expect(page.locator("#panel h2")).to_have_text("Connections (1)")
    expect(page.locator("#tab-connections")).to_have_count(0, timeout=WAIT_MS)

    # Tabs are reachable with the arrow keys.
    page.focus("#tab-state")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-actions")).to_be_focused()
    expect(page.locator("#tab-actions")).to_have_attribute("aria-selected", "true")
    action = page.locator("form[data-action=increment]")
    action.locator("input.args").fill("[5]")
    action.locator("input.args").press("Enter")
    expect(action.locator("pre.result")).to_contain_text("5")
    open_tab(page, "traces")
    span = page.locator(".timeline .span", has_text="increment")
    expect(span).to_be_visible(timeout=WAIT_MS)
    expect(span).to_contain_text("action")


def test_inventory_database_is_paged(page: Page, served: Served) -> None:
    inventory = served.actor_id("inventory")
    for i in range(25):
        served.http(
            "POST", f"/gateway/{inventory}/inspector/action/add_item", {"args": [f"item-{i}", i]}
        )
    sign_in(page, served)
    page.click("a.actor-link[data-name=inventory]")
    open_tab(page, "database")
    page.click("#panel .db-tables button:has-text('items')")
    rows = page.locator("#db-rows tbody tr")
    expect(rows).to_have_count(20)
    expect(page.locator("#db-rows .pager")).to_contain_text("rows 1\u201320 of 28")
    expect(rows.first).to_contain_text("apple")
    page.click("#db-rows button:text('Next')")
    expect(page.locator("#db-rows .pager")).to_contain_text("rows 21\u201328 of 28")
    expect(rows).to_have_count(8)
    expect(rows.last).to_contain_text("item-24")
    expect(page.locator("#db-rows button:text('Next')")).to_be_disabled()
    page.click("#db-rows button:text('Previous')")
    expect(rows.first).to_contain_text("apple")


def test_entry_paths_are_copyable(page: Page, served: Served) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, served)
    page.click("a.actor-link[data-name=order]")
    open_tab(page, "workflow")
    iteration = page.locator("details[data-group='items/~1']")
    iteration.locator("summary").click()
    entry(page, "items/~1/reserve-1").locator("button.path").click()
    expect(page.locator("#toast")).to_have_text("copied items/~1/reserve-1")
    assert page.evaluate("navigator.clipboard.readText()") == "items/~1/reserve-1"


def test_phone_width_is_readable(page: Page, served: Served) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, served)
    page.click("a.actor-link[data-name=order]")
    open_tab(page, "workflow")
    expect(entry(page, "charge")).to_be_visible(timeout=WAIT_MS)
    # Wide parts scroll inside their own boxes; the page itself never scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.click("#replay-current")
    expect(page.locator("#replay-count")).to_be_visible(timeout=WAIT_MS)
    box = page.locator("dialog.replay-dialog").bounding_box()
    assert box is not None and box["width"] <= 390
    page.click("#replay-cancel")
    expect(page.locator("dialog.replay-dialog")).to_have_count(0)
