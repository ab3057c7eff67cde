"""RivetKit's own Inspector UI (the 2.2.1 build) against a real ``actorscope serve`` with a token.

The UI is fetched from the npm registry and served by the test on a loopback
port (``conftest.py``); the server is a real subprocess. The page is opened
the way the README tells a user to: ``<ui>/?u=<server>&t=<token>``. Every
WebSocket frame the server sends is decoded with our own codec, so an
``Error`` frame (which the UI would toast) fails the test even if the toast
was missed, and every toast the page shows is recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from actorscope.protocol.framing import decode_to_client
from actorscope.protocol.messages import Error
from playwright.sync_api import Page, Request, WebSocket, expect

from .conftest import ServeSubprocess

#: Generous: the machine running the suite may be busy.
TIMEOUT_MS = 30_000

# Sonner (the UI's toast library) renders each toast as an element with
# data-sonner-toast and data-type="success"|"error"|...; record them all
# as they appear, since they vanish after a few seconds.
_RECORD_TOASTS = """
window.__toasts = [];
new MutationObserver((records) => {
  for (const record of records) {
    for (const node of record.addedNodes) {
      if (!(node instanceof Element)) continue;
      const toasts = node.matches('[data-sonner-toast]') ? [node]
        : [...node.querySelectorAll('[data-sonner-toast]')];
      for (const t of toasts) {
        setTimeout(() => window.__toasts.push(
          {type: t.getAttribute('data-type'), text: t.innerText}), 50);
      }
    }
  }
}).observe(document, {childList: true, subtree: true});
"""


class Watch:
    """What the page did: its toasts, the server's WebSocket frames, its replay requests."""

    def __init__(self, page: Page, server: ServeSubprocess) -> None:
        self.page = page
        self.errors: list[str] = []
        self.frames = 0
        self.replay_requests: list[Request] = []
        self.sockets: list[str] = []
        # Chromium would dial out to Rivet's analytics; nothing else leaves loopback.
        page.route("https://**", lambda route: route.abort())
        page.add_init_script(_RECORD_TOASTS)
        page.on("websocket", self._on_websocket)

        def on_request(request: Request) -> None:
            if request.url.startswith(server.url) and "/workflow/replay" in request.url:
                self.replay_requests.append(request)

        page.on("request", on_request)

    def _on_websocket(self, ws: WebSocket) -> None:
        self.sockets.append(ws.url)

        def received(payload: bytes | str) -> None:
            if isinstance(payload, str):
                self.errors.append(f"text frame {payload[:80]!r}")
                return
            self.frames += 1
            try:
                _, message = decode_to_client(bytes(payload))
            except Exception as exc:
                self.errors.append(f"undecodable frame {bytes(payload).hex()}: {exc}")
                return
            if isinstance(message.body, Error):
                self.errors.append(f"Error frame: {message.body.message}")

        ws.on("framereceived", received)

    def toasts(self) -> list[dict[str, str]]:
        out: list[dict[str, str]] = self.page.evaluate("window.__toasts || []")
        return out

    def error_toasts(self) -> list[dict[str, str]]:
        return [t for t in self.toasts() if t.get("type") == "error"]

    def assert_clean(self) -> None:
        assert self.errors == []
        assert self.error_toasts() == []


def poll(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Call ``check`` until it returns something truthy (or fail after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.25)


def actor_id(server: ServeSubprocess, name: str) -> str:
    actors = [a for a in server.get("/actors")["actors"] if a["name"] == name]
    assert len(actors) == 1, actors
    return str(actors[0]["actor_id"])


def timeline(server: ServeSubprocess, actor: str) -> list[str]:
    state = server.get(f"/gateway/{actor}/inspector/state")["state"]
    return list(state["timeline"])


def replays(server: ServeSubprocess, actor: str) -> list[dict[str, Any]]:
    records = server.get(f"/gateway/{actor}/inspector/workflow/replays")["replays"]
    return sorted(records, key=lambda r: int(r["seq"]))  # oldest first


def demo_names(server: ServeSubprocess) -> list[str]:
    """The actor names the server runs (``serve --demo`` creates one instance of each)."""
    names = sorted(server.get("/actors/names?namespace=default")["names"])
    assert {"counter", "order", "steps"} <= set(names)
    return names


def open_ui(page: Page, ui: str, server: ServeSubprocess) -> None:
    # Exactly what the README tells a user to open.
    page.goto(f"{ui}?u={server.url}&t={server.token}")
    expect(page.get_by_text("Connected", exact=True)).to_be_visible(timeout=TIMEOUT_MS)


def open_actor(page: Page, watch: Watch, server: ServeSubprocess, name: str) -> None:
    """Open the demo instance of ``name`` as a user would, and wait for its inspector socket."""
    wanted = actor_id(server, name)
    page.get_by_text(name, exact=True).first.click()
    deadline = time.monotonic() + TIMEOUT_MS / 1000

    # The instance list of the previous name may still be on screen for a
    # moment: click "demo" until the page opens the right actor's inspector.
    def opened() -> bool:
        return any(f"/gateway/{wanted}/inspector/connect" in url for url in watch.sockets)

    while not opened():
        assert time.monotonic() < deadline, f"the page did not open {name}'s inspector"
        page.get_by_text("demo", exact=True).first.click()
        for _ in range(50):  # up to 5 s for the socket before clicking again
            if opened():
                break
            page.wait_for_timeout(100)  # lets Playwright deliver the socket event


def test_connects_and_lists_every_demo_actor(
    page: Page, inspector_ui_url: str, actorscope_serve: ServeSubprocess
) -> None:
    watch = Watch(page, actorscope_serve)
    open_ui(page, inspector_ui_url, actorscope_serve)
    for name in demo_names(actorscope_serve):
        expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=TIMEOUT_MS)
    for name in demo_names(actorscope_serve):
        page.get_by_text(name, exact=True).first.click()
        # The instance list of that name shows its demo instance.
        expect(page.get_by_text("demo", exact=True).first).to_be_visible(timeout=TIMEOUT_MS)
    watch.assert_clean()


def test_ordinary_use_shows_no_error(
    page: Page, inspector_ui_url: str, actorscope_serve: ServeSubprocess
) -> None:
    """Open every demo actor and every tab it has: no Error frame, no error toast."""
    watch = Watch(page, actorscope_serve)
    open_ui(page, inspector_ui_url, actorscope_serve)
    for name in demo_names(actorscope_serve):
        before = watch.frames
        open_actor(page, watch, actorscope_serve, name)
        # Wait for this actor's Init, then for the tabs to settle on what it has.
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while watch.frames == before and time.monotonic() < deadline:
            page.wait_for_timeout(100)  # lets Playwright deliver the frame events
        assert watch.frames > before, f"no inspector frames for {name}"
        page.wait_for_timeout(1_000)
        for tab in ("Workflow", "Database", "State", "Queue", "Connections", "Metadata"):
            # Tabs of features the actor lacks (a workflow, a database) are disabled.
            handle = page.get_by_role("tab", name=tab)
            if handle.count() and handle.is_enabled():
                handle.click()
                page.wait_for_timeout(500)
    # Let late answers (queue, history, database) arrive before judging.
    page.wait_for_timeout(2_000)
    watch.assert_clean()


def test_state_shows_the_actor_state(
    page: Page, inspector_ui_url: str, actorscope_serve: ServeSubprocess
) -> None:
    watch = Watch(page, actorscope_serve)
    open_ui(page, inspector_ui_url, actorscope_serve)
    counter = actor_id(actorscope_serve, "counter")
    open_actor(page, watch, actorscope_serve, "counter")
    page.get_by_role("tab", name="State").click()
    # The state arrives as CBOR in Init and is shown as JSON.
    expect(page.get_by_text('"count"').first).to_be_visible(timeout=TIMEOUT_MS)
    assert actorscope_serve.get(f"/gateway/{counter}/inspector/state")["state"] == {"count": 0}
    watch.assert_clean()


def test_workflow_replays_from_the_current_and_from_an_earlier_step(
    page: Page, inspector_ui_url: str, actorscope_serve: ServeSubprocess
) -> None:
    server = actorscope_serve
    watch = Watch(page, server)
    steps = actor_id(server, "steps")
    poll("the steps workflow to finish its steps", lambda: len(timeline(server, steps)) == 3)
    open_ui(page, inspector_ui_url, server)
    open_actor(page, watch, server, "steps")
    page.get_by_role("tab", name="Workflow").click()

    # Every entry of the workflow, and the helper text.
    for entry in ("one", "two", "three", "rest"):
        expect(page.get_by_text(entry, exact=True).first).to_be_visible(timeout=TIMEOUT_MS)
    helper = "Right-click a previous step to replay the workflow from there."
    expect(page.get_by_text(helper)).to_be_visible(timeout=TIMEOUT_MS)

    # Replay From Current Step: the current step is the last step, "three".
    page.get_by_role("button", name="Replay From Current Step").click()
    expect(page.get_by_text("Workflow replay scheduled from selected step.")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    audit = poll("the replay in the audit", lambda: replays(server, steps))
    assert len(audit) == 1, audit
    assert audit[0]["transport"] == "http"
    # The page sends the actor's own token, which it read from the server.
    assert audit[0]["credential"] == "actor"
    assert audit[0]["result"] == "done"
    poll("the re-run of three", lambda: timeline(server, steps) == ["one", "two", "three", "three"])

    # Replay from an earlier step: the request the (never-opening, §10.5)
    # right-click menu would send, sent from the page with the token it holds.
    assert len(watch.replay_requests) == 1
    sent = watch.replay_requests[0]
    token = sent.headers["authorization"]
    assert token.startswith("Bearer ") and token != f"Bearer {server.token}"
    assert json.loads(sent.post_data or "{}")["entryId"] == audit[0]["target"]["entryId"]
    history = server.get(f"/gateway/{steps}/inspector/workflow-history")["history"]
    first = next(e["id"] for e in history["entries"] if e["kind"]["tag"] == "WorkflowStepEntry")
    answer = page.evaluate(
        """async ([url, token, entryId]) => {
            const r = await fetch(url, {method: "POST",
                headers: {Authorization: token, "Content-Type": "application/json"},
                body: JSON.stringify({entryId})});
            return {status: r.status, body: await r.json()};
        }""",
        [sent.url, token, first],
    )
    assert answer["status"] == 200, answer
    # The shape the UI validates: history as the transport bytes.
    body = answer["body"]
    assert body["isWorkflowEnabled"] is True
    assert isinstance(body["history"], list) and body["history"]
    assert all(isinstance(b, int) and 0 <= b <= 255 for b in body["history"])
    audit = poll("the second replay", lambda: (r := replays(server, steps))[1:] and r)
    assert len(audit) == 2, audit
    assert audit[1]["target"]["entryId"] == first
    assert (audit[1]["transport"], audit[1]["credential"]) == ("http", "actor")
    poll(
        "the re-run from one",
        lambda: timeline(server, steps) == ["one", "two", "three", "three", "one", "two", "three"],
    )
    # The page follows the re-run over its WebSocket: every step completed again.
    expect(page.get_by_text("completed").nth(2)).to_be_visible(timeout=TIMEOUT_MS)
    assert watch.frames > 0
    watch.assert_clean()
    assert [t for t in watch.toasts() if t.get("type") == "success"]


def test_state_connections_and_queue_follow_the_actor_live(
    page: Page, inspector_ui_url: str, actorscope_serve: ServeSubprocess
) -> None:
    server = actorscope_serve
    watch = Watch(page, server)
    counter = actor_id(server, "counter")
    order = actor_id(server, "order")
    open_ui(page, inspector_ui_url, server)
    open_actor(page, watch, server, "counter")
    page.get_by_role("tab", name="State").click()
    body = page.locator("body")
    expect(body).to_contain_text('"count": 0', timeout=TIMEOUT_MS)
    # A change made elsewhere arrives as a StateUpdated push (CBOR) and shows.
    assert server.post(f"/gateway/{counter}/inspector/action/increment", {"args": [5]}) == {
        "output": 5
    }
    expect(body).to_contain_text('"count": 5', timeout=TIMEOUT_MS)

    # A client connects (from this page, with the server token as a browser
    # client would): the Connections tab lists it.
    url = f"{server.url.replace('http', 'ws', 1)}/gateway/{counter}/connect?user=alice"
    page.evaluate(
        "([u, t]) => { window.__client = new WebSocket(u, ['rivet', 'rivet_token.' + t]); }",
        [url, server.token],
    )
    page.get_by_role("tab", name="Connections").click()
    expect(body).to_contain_text("connections: (1)", timeout=TIMEOUT_MS)

    # A queued message for the order workflow shows in its Queue tab.
    open_actor(page, watch, server, "order")
    page.get_by_role("tab", name="Queue").click()
    assert server.post(f"/gateway/{order}/queue/note", {"keep": "me"}) == {
        "ok": True,
        "queueSize": 1,
    }
    expect(body).to_contain_text("Queue size 1", timeout=TIMEOUT_MS)
    expect(page.get_by_text("note", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    watch.assert_clean()


def test_create_actor_from_the_ui(
    page: Page, inspector_ui_url: str, actorscope_serve: ServeSubprocess
) -> None:
    server = actorscope_serve
    watch = Watch(page, server)
    open_ui(page, inspector_ui_url, server)
    page.get_by_text("counter", exact=True).first.click()
    page.get_by_text("Create Actor").click()
    dialog = page.get_by_role("dialog")
    key_field = dialog.get_by_role("textbox").first
    expect(key_field).to_be_visible(timeout=TIMEOUT_MS)
    key_field.fill("made-in-the-ui")
    dialog.get_by_role("button", name="Create").click()
    # POST /actors in the engine API's shape created it: listed, and it opens.
    expect(page.get_by_text("made-in-the-ui", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    created = [a for a in server.get("/actors")["actors"] if a["key"] == "made-in-the-ui"]
    assert [a["name"] for a in created] == ["counter"]
    page.get_by_text("made-in-the-ui", exact=True).click()
    page.get_by_role("tab", name="State").click()
    expect(page.locator("body")).to_contain_text('"count": 0', timeout=TIMEOUT_MS)
    watch.assert_clean()
