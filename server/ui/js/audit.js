// The Replays tab (the audit, paged) and the Attempts tab (an archived
// attempt beside the current run, path by path).

import { api, describe, inspector } from "./api.js";
import { dateTime, fill, h, short, table, toast } from "./dom.js";
import { diffHistories, entryPath } from "./history.js";
import { statusBadge } from "./workflow.js";

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
