// The replay dialog: the dry-run preview (boundary, what is discarded, why a
// loop rewinds whole), a reason, and for actors with state checkpoints the
// option to restore the state, with its diff. Confirm replays by path.

import { api, describe, inspector } from "./api.js";
import { fill, h, short, table, toast } from "./dom.js";

// Replay dialog ------------------------------------------------------------------

export function openReplayDialog(page, row) {
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

