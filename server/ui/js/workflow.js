// The Workflow, Replays and Attempts tabs: the history as a tree, replay from
// the current step or from any step (context menu), the replay dialog with
// its dry-run preview, the audit, and archived attempts against the current run.

import { api, describe, inspector } from "./api.js";
import { clock, copyText, dateTime, duration, fill, h, short, table, toast } from "./dom.js";
import { buildTree, currentStep, diffHistories, entryPath } from "./history.js";

export const IN_PROGRESS = "Step currently in progress";

function executing(model) {
  return (model.status && model.status.executing) || [];
}

function statusBadge(text) {
  return h("span", { class: `status ${String(text).toLowerCase()}` }, text);
}

// Workflow tab -------------------------------------------------------------------

export function mountWorkflow(panel, page) {
  const { model } = page;
  const opened = new Map(); // group path -> open?, as the user left it
  const head = h("div", { class: "toolbar wf-head" });
  const helper = h("p", { class: "help", id: "wf-helper" },
    "Right-click a step, or use its … button, and choose Replay from this step. " +
    "Every replay first shows what it will discard and asks for a reason.");
  const tree = h("div", { id: "wf-tree", class: "wf-tree" });
  fill(panel, head, helper, tree);

  function render() {
    const busy = executing(model).length > 0;
    const history = model.history;
    const cur = history ? currentStep(history) : null;
    const status = model.status ? model.status.status : "-";
    const button = h("button", {
      type: "button", id: "replay-current", class: "primary", disabled: busy || !cur,
      onclick: () => cur && openReplayDialog(page, cur),
    }, "Replay from current step");
    const tip = busy ? IN_PROGRESS : cur ? `Replay from ${cur.path}` : "No step has run yet";
    fill(head,
      h("h2", {}, "Workflow"),
      h("span", { class: `badge ${status}`, id: "wf-status" }, status),
      busy ? h("span", { class: "running-note", id: "wf-running" }, `running: ${executing(model).join(", ")}`) : null,
      h("span", { class: "tip", id: "replay-current-tip", title: tip, "data-tip": tip, tabindex: busy || !cur ? "0" : null }, button));
    if (!history || !(history.entries || []).length) {
      fill(tree, h("p", { class: "muted" }, "The workflow has recorded nothing yet."));
      return;
    }
    const roots = buildTree(history);
    const runningPaths = new Set(executing(model));
    const known = new Set((history.entries || []).map((e) => entryPath(history, e)));
    const pending = [...runningPaths].filter((p) => !known.has(p));
    fill(tree,
      h("div", { class: "entry head", "aria-hidden": "true" },
        h("span", {}, "entry"), h("span", {}, "status"), h("span", {}, "att."), h("span", {}, "duration"), h("span", {}, "output / error"), h("span", {}, "")),
      h("ul", { class: "tree", "aria-label": "Workflow history" },
        roots.map((n) => renderNode(n, runningPaths, busy, 0)),
        pending.map((p) => h("li", {}, h("div", { class: "entry running", "data-path": p },
          h("span", { class: "entry-name" }, h("span", { class: "kind" }, "step"), p),
          h("span", { class: "state" }, statusBadge("RUNNING")), h("span", { class: "attempts" }), h("span", { class: "duration" }),
          h("span", { class: "output muted" }, "in progress…"), h("span", { class: "more" }))))));
  }

  // Depth indents the first column only, so the other columns stay aligned.
  const indent = (depth) => ({ paddingLeft: `${depth * 1.4}rem` });

  function renderNode(node, runningPaths, busy, depth) {
    const r = node.row;
    const running = runningPaths.has(r.path);
    const status = running ? "RUNNING" : r.status;
    const isStep = r.kind === "step";
    const out = r.error
      ? h("span", { class: "err-text" }, r.error)
      : r.output !== undefined && r.output !== null ? h("code", {}, `→ ${short(r.output, 80)}`) : h("span", { class: "muted" }, r.detail);
    const more = isStep
      ? h("button", {
        type: "button", class: "more", "aria-haspopup": "menu", "aria-label": `Actions for step ${r.path}`,
        onclick: (ev) => stepMenu(ev.currentTarget, null, r, busy),
      }, "…")
      : h("span", { class: "more" });
    const row = h("div", {
      class: `entry ${isStep ? "step" : r.kind}${running ? " running" : ""}`,
      "data-path": r.path, "data-entry-id": r.id, "data-status": status,
    },
    h("span", { class: "entry-name", style: indent(depth) },
      h("span", { class: "kind" }, r.kind), h("span", { class: "name" }, r.name),
      h("button", { type: "button", class: "path", title: "Copy this path", "aria-label": `Copy path ${r.path}`, onclick: () => copyText(r.path) }, r.path),
      r.detail && ((r.output !== undefined && r.output !== null) || r.error) ? h("small", { class: "muted" }, ` ${r.detail}`) : null),
    h("span", { class: "state" }, statusBadge(status)),
    h("span", { class: "attempts", title: "attempts" }, r.attempts ? `×${r.attempts}` : ""),
    h("span", { class: "duration", title: `started ${clock(r.startedAt)}, finished ${clock(r.finishedAt)}` }, duration(r.durationMs)),
    h("span", { class: "output" }, out),
    more);
    if (isStep) {
      row.addEventListener("contextmenu", (ev) => {
        ev.preventDefault();
        stepMenu(more, { x: ev.clientX, y: ev.clientY }, r, busy);
      });
    }
    const kids = node.children.map((c) => renderNode(c, runningPaths, busy, depth + 1));
    const groups = node.groups.map((g, i) => {
      // Loop iterations are folded but for the latest; branches all show.
      const open = opened.has(g.path) ? opened.get(g.path) : r.kind !== "loop" || i === node.groups.length - 1;
      const det = h("details", { open, "data-group": g.path },
        h("summary", { style: indent(depth + 1) }, `${g.label} `, h("small", { class: "muted" }, `${g.children.length} entr${g.children.length === 1 ? "y" : "ies"}`)),
        h("ul", { class: "tree" }, g.children.map((c) => renderNode(c, runningPaths, busy, depth + 2))));
      det.addEventListener("toggle", () => opened.set(g.path, det.open));
      return h("li", {}, det);
    });
    return h("li", {}, row, kids.length || groups.length ? h("ul", { class: "tree" }, kids, groups) : null);
  }

  function stepMenu(opener, at, row, busy) {
    openMenu(opener, at, [
      { label: "Replay from this step", id: "menu-replay", disabled: busy, title: busy ? IN_PROGRESS : `Replay from ${row.path}`, run: () => openReplayDialog(page, row) },
      { label: "Copy path", id: "menu-copy", run: () => copyText(row.path) },
    ]);
  }

  render();
  return { update: (kind) => (kind === "history" || kind === "workflow") && render() };
}

// Context menu -------------------------------------------------------------------

let openMenuEl = null;

function closeMenu(restore) {
  if (!openMenuEl) return;
  const { el, opener, onDoc } = openMenuEl;
  document.removeEventListener("mousedown", onDoc, true);
  el.remove();
  openMenuEl = null;
  if (restore && opener && opener.isConnected) opener.focus();
}

function openMenu(opener, at, items) {
  closeMenu(false);
  const buttons = items.map((it) => {
    const b = h("button", { type: "button", role: "menuitem", id: it.id, disabled: it.disabled, title: it.title || null }, it.label);
    b.addEventListener("click", () => { closeMenu(true); it.run(); });
    // A disabled item still says why, for the pointer (title) and on screen.
    return h("span", { class: "tip", title: it.title || null, "data-tip": it.disabled ? it.title : null, role: "none" }, b);
  });
  const el = h("div", { class: "menu", role: "menu", id: "step-menu" }, buttons);
  document.body.append(el);
  const box = opener.getBoundingClientRect();
  const x = at ? at.x : box.right - 4;
  const y = at ? at.y : box.bottom + 2;
  el.style.left = `${Math.max(4, Math.min(x, window.innerWidth - el.offsetWidth - 4))}px`;
  el.style.top = `${Math.max(4, Math.min(y, window.innerHeight - el.offsetHeight - 4))}px`;
  const focusable = () => [...el.querySelectorAll("button")];
  el.addEventListener("keydown", (ev) => {
    const list = focusable();
    const i = list.indexOf(document.activeElement);
    if (ev.key === "Escape" || ev.key === "Tab") { ev.preventDefault(); closeMenu(true); }
    else if (ev.key === "ArrowDown") { ev.preventDefault(); list[(i + 1) % list.length].focus(); }
    else if (ev.key === "ArrowUp") { ev.preventDefault(); list[(i - 1 + list.length) % list.length].focus(); }
  });
  const onDoc = (ev) => { if (!el.contains(ev.target)) closeMenu(false); };
  document.addEventListener("mousedown", onDoc, true);
  openMenuEl = { el, opener, onDoc };
  // Disabled buttons take no focus: focus the first item that can.
  (focusable().find((b) => !b.disabled) || el).focus();
  if (!el.contains(document.activeElement)) { el.tabIndex = -1; el.focus(); }
}

// Replay dialog ------------------------------------------------------------------

function openReplayDialog(page, row) {
  const { model } = page;
  const body = h("div", { class: "dialog-body", id: "replay-preview" }, h("p", { class: "muted" }, "Computing what this replay would discard…"));
  const reason = h("textarea", { id: "replay-reason", rows: 3, placeholder: "why replay? (kept in the audit)", "aria-label": "Reason" });
  const restoreBox = h("div", { id: "replay-restore" });
  const err = h("p", { class: "error", role: "alert", id: "replay-error" });
  err.hidden = true;
  const confirm = h("button", { type: "button", class: "primary", id: "replay-confirm", disabled: true }, "Replay");
  const cancel = h("button", { type: "button", id: "replay-cancel" }, "Cancel");
  const dialog = h("dialog", { class: "replay-dialog", "aria-labelledby": "replay-title" },
    h("h2", { id: "replay-title" }, "Replay from ", h("code", {}, row.path)),
    body, restoreBox,
    h("label", { for: "replay-reason" }, "Reason"), reason,
    err,
    h("div", { class: "row end" }, cancel, confirm));
  document.body.append(dialog);
  let restore = null;
  const close = () => { dialog.close(); dialog.remove(); };
  cancel.addEventListener("click", close);
  dialog.addEventListener("cancel", (ev) => { ev.preventDefault(); close(); });
  dialog.showModal();
  reason.focus();

  const showErr = (e) => { err.textContent = describe(e); err.hidden = false; };

  (async () => {
    try {
      const preview = await api("POST", inspector(page.actorId, "workflow/replay"), { step: row.path, dryRun: true });
      fill(body, previewView(preview, row));
      restore = await restoreSection(page, row, restoreBox);
      confirm.disabled = false;
    } catch (e) {
      fill(body, h("p", {}, "The server will not replay from here."));
      showErr(e);
    }
  })();

  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    err.hidden = true;
    // By path: the audit then names the step as the operator saw it.
    const request = { step: row.path };
    if (reason.value.trim()) request.reason = reason.value.trim();
    if (restore && restore.checked()) request.restoreState = true;
    try {
      const res = await api("POST", inspector(page.actorId, "workflow/replay"), request);
      close();
      const archived = res.attempt ? `, archived as attempt ${res.attempt}` : "";
      toast(`replayed from ${row.path}: ${res.discarded} entries discarded${archived}`);
      // The tree follows the event stream: the answer's history (right after
      // the rewind) may be older than pushes of the re-run already shown.
    } catch (e) {
      showErr(e);
      confirm.disabled = false;
    }
  })
}

function previewView(preview, row) {
  const parts = [];
  const target = preview.target;
  const boundary = preview.boundary;
  if (row.status === "FAILED") {
    parts.push(h("p", { class: "note" }, "This step failed and waits for its retry: replaying runs it again now, without waiting."));
  }
  if (boundary) {
    parts.push(h("p", { id: "replay-boundary" }, "Rewind boundary: ", h("code", {}, boundary.path), ` (${boundary.kind})`));
    if (target && boundary.entryId !== target.entryId && boundary.kind === "loop") {
      parts.push(h("p", { class: "note", id: "replay-loop-note" },
        `The step is inside the loop "${boundary.path}", so the whole loop is rewound and re-runs from its ` +
        "initial state: each iteration starts from the state the previous one left, so no iteration " +
        "can be re-run on its own."));
    } else if (target && boundary.entryId !== target.entryId) {
      parts.push(h("p", { class: "note" }, `The rewind starts at "${boundary.path}", which holds the step.`));
    }
  } else {
    parts.push(h("p", { id: "replay-boundary" }, "Rewind boundary: the start of the workflow"));
  }
  const n = preview.discard.length;
  parts.push(h("p", { id: "replay-count" }, `${n} entr${n === 1 ? "y" : "ies"} will be discarded (kept as an archived attempt):`));
  parts.push(table(["path", "kind", "status"], preview.discard.map((d) => [h("code", {}, d.path), d.kind, d.status || "-"]), { id: "replay-discard" }));
  return parts;
}

// Restoring the actor's state to its checkpoint at the boundary: offered when
// a dry run with restoreState says it can be done (the actor keeps state
// checkpoints), with the diff it would apply.
async function restoreSection(page, row, box) {
  box.replaceChildren();
  if (!page.model.isStateEnabled) return null;
  let preview;
  try {
    preview = await api("POST", inspector(page.actorId, "workflow/replay"), { step: row.path, dryRun: true, restoreState: true });
  } catch (e) {
    // No checkpoints: nothing to offer. Any other refusal says why it cannot be offered.
    if (e.fullCode !== "workflow.state_checkpoints_disabled") {
      box.replaceChildren(h("p", { class: "note", id: "replay-restore-unavailable" }, `State restore is not possible here: ${describe(e)}`));
    }
    return null;
  }
  const check = h("input", { type: "checkbox", id: "replay-restore-state" });
  const diff = stateDiffView(preview.state);
  box.replaceChildren(
    h("label", { class: "check", for: "replay-restore-state" }, check, " Also restore the actor state to its checkpoint at the boundary"),
    diff);
  diff.hidden = true;
  check.addEventListener("change", () => { diff.hidden = !check.checked; });
  return { checked: () => check.checked };
}

function pointer(path) {
  return path.length ? path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("").replace(/^\./, "") : "(whole state)";
}

/** The state now and as restored, side by side, and the changes between them. */
export function stateDiffView(state) {
  const changes = state.diff || [];
  return h("div", { id: "replay-state-diff", class: "state-diff" },
    h("p", {}, changes.length ? `${changes.length} change${changes.length === 1 ? "" : "s"} to the state:` : "The state would not change."),
    changes.length ? table(["where", "change", "now", "restored"], changes.map((c) => [
      h("code", {}, pointer(c.path)), c.op,
      "from" in c ? h("code", {}, short(c.from, 60)) : "—",
      "to" in c ? h("code", {}, short(c.to, 60)) : "—",
    ]), { id: "replay-state-changes" }) : null,
    h("div", { class: "side-by-side" },
      h("div", {}, h("h3", {}, "state now"), h("pre", { class: "json" }, JSON.stringify(state.current, null, 2))),
      h("div", {}, h("h3", {}, "state restored"), h("pre", { class: "json" }, JSON.stringify(state.restored, null, 2)))));
}

// Replays tab (the audit) --------------------------------------------------------

function targetText(record) {
  const t = record.target || {};
  if (t.step) return t.step;
  if (record.boundary && t.entryId === record.boundary.entryId) return record.boundary.path;
  return t.entryId || "(the start)";
}

export function mountReplays(panel, page) {
  const body = h("div", { id: "replays" });
  const more = h("button", { type: "button", id: "replays-older" }, "Show older");
  more.hidden = true;
  let timer = null;
  let shown = []; // records, newest first
  let nextBefore = null;
  const row = (r) => [
    dateTime(r.at), r.transport, r.credential, h("code", {}, targetText(r)),
    r.boundary ? h("code", {}, r.boundary.path) : "-", String(r.discarded),
    r.result === "done"
      ? statusBadge("done")
      : h("span", { class: "err-text" }, `refused${r.dryRun ? " at preview" : ""}${r.count > 1 ? ` ×${r.count}` : ""}: ${r.refusal ? `${r.refusal.code}: ${r.refusal.message}` : ""}`),
    r.stateRestored ? "restored" : "-",
    r.attempt ? h("a", { href: `#/actor/${encodeURIComponent(page.actorId)}/attempts`, "data-attempt": r.attempt, onclick: () => { sessionStorage.setItem("actorscope.attempt", String(r.attempt)); } }, `#${r.attempt}`) : "-",
    r.reason || "",
  ];
  function render() {
    fill(body, shown.length
      ? table(["when", "transport", "credential", "target", "boundary", "discarded", "result", "state", "attempt", "reason"], shown.map(row), { id: "replays-table" })
      : h("p", { class: "muted" }, "No replays yet."));
    more.hidden = nextBefore === null;
  }
  async function refresh() {
    try {
      const res = await api("GET", inspector(page.actorId, "workflow/replays?limit=50"));
      shown = res.replays;
      nextBefore = res.nextBefore ?? null;
      render();
    } catch (e) {
      fill(body, h("p", { class: "error", role: "alert" }, describe(e)));
    }
  }
  more.addEventListener("click", async () => {
    try {
      const res = await api("GET", inspector(page.actorId, `workflow/replays?limit=50&before=${nextBefore}`));
      shown = shown.concat(res.replays);
      nextBefore = res.nextBefore ?? null;
      render();
    } catch (e) {
      toast(describe(e), "error");
    }
  });
  fill(panel, h("h2", {}, "Replays"), h("p", { class: "help" }, "Every replay, from any transport, done or refused; the credential class, never the token."), body, more);
  refresh();
  return {
    update(kind) {
      if (kind !== "history") return;
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    },
    unmount() { clearTimeout(timer); },
  };
}

// Attempts tab -------------------------------------------------------------------

export function mountAttempts(panel, page) {
  const list = h("div", { class: "row wrap", id: "attempt-list" });
  const view = h("div", { id: "attempt-view" });
  let shown = null; // {number, attempt, history}
  async function refresh() {
    try {
      const { replays } = await api("GET", inspector(page.actorId, "workflow/replays?limit=200"));
      const numbers = [...new Set(replays.filter((r) => r.attempt).map((r) => r.attempt))].sort((a, b) => b - a);
      fill(list, numbers.length
        ? numbers.map((n) => h("button", { type: "button", "data-attempt": n, "aria-pressed": String(shown && shown.number === n), onclick: () => open(n) }, `Attempt ${n}`))
        : h("p", { class: "muted" }, "No archived attempts: a replay archives what it discards."));
      const wanted = Number(sessionStorage.getItem("actorscope.attempt"));
      sessionStorage.removeItem("actorscope.attempt");
      if (wanted && numbers.includes(wanted)) open(wanted);
    } catch (e) {
      fill(list, h("p", { class: "error", role: "alert" }, describe(e)));
    }
  }
  async function open(n) {
    try {
      const res = await api("GET", inspector(page.actorId, `workflow-history?attempt=${n}`));
      shown = { number: n, attempt: res.attempt, history: res.history };
      for (const b of list.querySelectorAll("button")) b.setAttribute("aria-pressed", String(Number(b.dataset.attempt) === n));
      render();
    } catch (e) {
      fill(view, h("p", { class: "error", role: "alert" }, describe(e)));
    }
  }
  function render() {
    if (!shown) return;
    const { number, attempt, history } = shown;
    const current = page.model.history || { entries: [] };
    const lines = diffHistories(history, current, attempt.createdAt);
    const cell = (r) => (r ? [statusBadge(r.status), " ", r.error ? h("span", { class: "err-text" }, r.error) : h("code", {}, r.output === undefined ? r.detail : short(r.output, 50))] : h("span", { class: "muted" }, "—"));
    fill(view,
      h("h3", {}, `Attempt ${number}`),
      h("p", {}, `archived ${dateTime(attempt.createdAt)}; ${attempt.entries} entries; boundary `,
        h("code", {}, pathOfId(history, attempt.boundaryId) || attempt.boundaryId || "(start)"),
        attempt.error ? h("span", { class: "err-text" }, ` error: ${attempt.error}`) : null),
      h("div", { class: "table-wrap" },
        h("table", { class: "diff", id: "attempt-diff", "aria-label": `Attempt ${number} beside the current run` },
          h("thead", {}, h("tr", {}, h("th", {}, "path"), h("th", {}, `attempt ${number}`), h("th", {}, "current run"), h("th", {}, "change"))),
          h("tbody", {}, lines.map((l) => h("tr", { class: `change-${l.change}`, "data-path": l.path },
            h("td", {}, h("code", {}, l.path), h("small", { class: "muted" }, ` ${l.kind}`)),
            h("td", {}, cell(l.old)), h("td", {}, cell(l.now)),
            h("td", {}, l.change, l.change === "re-run" || l.change === "kept" ? h("small", {}, l.outputChanged ? " · output differs" : " · same output") : null)))))));
  }
  fill(panel, h("h2", {}, "Attempts"), h("p", { class: "help" }, "What each replay discarded, beside the current run, path by path."), list, view);
  refresh();
  return { update: (kind) => kind === "history" && render() };
}

function pathOfId(history, id) {
  const e = (history.entries || []).find((x) => x.id === id);
  return e ? entryPath(history, e) : null;
}
