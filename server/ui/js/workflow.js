// The Workflow tab: the history as a tree, "Replay from current step" in its
// header, and a menu on every step (right-click, or its "…" button) with
// "Replay from this step". Replays go through the dialog (replay_dialog.js).

import { clock, copyText, duration, fill, h, short } from "./dom.js";
import { buildTree, currentStep, entryPath } from "./history.js";
import { openReplayDialog } from "./replay_dialog.js";

export const IN_PROGRESS = "Step currently in progress";

function executing(model) {
  return (model.status && model.status.executing) || [];
}

export function statusBadge(text) {
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

