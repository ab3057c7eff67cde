// The tabs of an actor other than the workflow's: State, Actions,
// Connections, Queue, Schedules, Database and Traces. Each mount(panel, page)
// builds its panel and returns {update(kind)} for live changes.

import { api, describe, inspector } from "./api.js";
import { clock, dateTime, duration, fill, h, pretty, short, table, toast } from "./dom.js";

function errorBox() {
  const el = h("p", { class: "error", role: "alert" });
  el.hidden = true;
  return {
    el,
    show(err) { el.textContent = typeof err === "string" ? err : describe(err); el.hidden = false; },
    clear() { el.hidden = true; el.textContent = ""; },
  };
}

function parseJson(text, what) {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: `request.invalid: ${what} is not valid JSON (${err.message})` };
  }
}

// State ------------------------------------------------------------------------

export function mountState(panel, page) {
  const { model } = page;
  const view = h("pre", { class: "json", id: "state-view", tabindex: "0", "aria-label": "State" });
  const editor = h("textarea", { id: "state-editor", class: "json", rows: 14, spellcheck: "false", "aria-label": "State as JSON" });
  const note = h("p", { class: "note", role: "status" });
  const err = errorBox();
  let editing = false;
  const edit = h("button", { type: "button", id: "state-edit" }, "Edit");
  const save = h("button", { type: "button", id: "state-save", class: "primary" }, "Save");
  const cancel = h("button", { type: "button" }, "Cancel");
  const show = () => {
    view.hidden = editing; editor.hidden = !editing; edit.hidden = editing;
    save.hidden = !editing; cancel.hidden = !editing;
  };
  edit.addEventListener("click", () => {
    editing = true; editor.value = pretty(model.state); note.textContent = ""; err.clear(); show(); editor.focus();
  });
  cancel.addEventListener("click", () => { editing = false; view.textContent = pretty(model.state); err.clear(); show(); });
  save.addEventListener("click", async () => {
    const parsed = parseJson(editor.value, "the state");
    if (!parsed.ok) return err.show(parsed.error);
    try {
      await api("PATCH", inspector(page.actorId, "state"), { state: parsed.value });
      model.state = parsed.value;
      editing = false; err.clear(); view.textContent = pretty(model.state); show();
      toast("state saved");
    } catch (e) {
      err.show(e);
    }
  });
  view.textContent = pretty(model.state);
  fill(panel, h("div", { class: "toolbar" }, h("h2", {}, "State"), edit, save, cancel), note, err.el, view, editor);
  show();
  return {
    update(kind) {
      if (kind !== "state") return;
      if (editing) note.textContent = "The state changed on the server while you were editing; saving replaces it.";
      else view.textContent = pretty(model.state);
    },
  };
}

// Actions ----------------------------------------------------------------------

export function mountActions(panel, page) {
  const forms = page.model.rpcs.map((name) => {
    const args = h("input", { class: "args", value: "[]", spellcheck: "false", "aria-label": `Arguments of ${name} as a JSON list` });
    const out = h("pre", { class: "json result", "aria-live": "polite" });
    out.hidden = true;
    const err = errorBox();
    const form = h("form", { class: "action card", "data-action": name },
      h("h3", {}, h("code", {}, name)),
      h("div", { class: "row" }, h("label", {}, "args ", args), h("button", { type: "submit" }, "Call")),
      err.el, out);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.clear(); out.hidden = true;
      const parsed = parseJson(args.value, "the arguments");
      if (!parsed.ok) return err.show(parsed.error);
      if (!Array.isArray(parsed.value)) return err.show("request.invalid: the arguments must be a JSON list");
      try {
        const res = await api("POST", inspector(page.actorId, `action/${encodeURIComponent(name)}`), { args: parsed.value });
        out.textContent = `→ ${pretty(res.output)}`;
        out.hidden = false;
      } catch (e) {
        err.show(e);
      }
    });
    return form;
  });
  fill(panel, h("h2", {}, "Actions"), h("p", { class: "help" }, "Arguments are a JSON list, e.g. [5]."), forms);
  return {};
}

// Connections ------------------------------------------------------------------

export function mountConnections(panel, page) {
  const render = () => fill(panel, h("h2", {}, `Connections (${page.model.connections.length})`),
    table(["id", "details"], page.model.connections.map((c) => [h("code", {}, c.id), h("code", {}, short(c.details, 200))])));
  render();
  return { update: (kind) => kind === "connections" && render() };
}

// Queue ------------------------------------------------------------------------

export function mountQueue(panel, page) {
  const list = h("div", { id: "queue-list" });
  const name = h("input", { id: "queue-name", placeholder: "approval", required: true, "aria-label": "Message name" });
  const body = h("input", { id: "queue-body", value: "{}", spellcheck: "false", "aria-label": "Message body as JSON" });
  const err = errorBox();
  const form = h("form", { class: "card", "aria-label": "Send a message" },
    h("h3", {}, "Send a message"),
    h("div", { class: "row" }, h("label", {}, "name ", name), h("label", {}, "body ", body), h("button", { type: "submit" }, "Send")),
    err.el);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.clear();
    const parsed = parseJson(body.value, "the message body");
    if (!parsed.ok) return err.show(parsed.error);
    try {
      await api("POST", `/gateway/${encodeURIComponent(page.actorId)}/queue/${encodeURIComponent(name.value)}`, parsed.value);
      toast(`sent ${name.value}`);
      await refresh();
    } catch (e) {
      err.show(e);
    }
  });
  async function refresh() {
    try {
      const q = await api("GET", inspector(page.actorId, "queue?limit=100"));
      fill(list, h("p", {}, `${q.size} pending (at most ${q.maxSize})${q.truncated ? ", first 100 shown" : ""}`),
        q.messages.length ? table(["id", "name", "sent"], q.messages.map((m) => [String(m.id), m.name, dateTime(m.createdAtMs)])) : null);
    } catch (e) {
      fill(list, h("p", { class: "error", role: "alert" }, describe(e)));
    }
  }
  fill(panel, h("h2", {}, "Queue"), list, form);
  refresh();
  return { update: (kind) => (kind === "queue" || kind === "history") && refresh() };
}

// Schedules --------------------------------------------------------------------

export function mountSchedules(panel, page) {
  const history = h("div", { id: "schedule-history" });
  const err = errorBox();
  const render = () => fill(panel, h("h2", {}, "Schedules"), err.el,
    table(["id", "kind", "action", "next run", "last run", "repeat", ""], (page.model.schedules || []).map((s) => [
      h("code", {}, s.id), s.kind, h("code", {}, `${s.action}(${short(s.args, 40).replace(/^\[|\]$/g, "")})`),
      dateTime(s.nextRunAt), dateTime(s.lastRunAt),
      s.expression ? `${s.expression}${s.timezone ? ` (${s.timezone})` : ""}` : s.intervalMs ? `every ${duration(s.intervalMs)}` : "once",
      h("span", { class: "row" },
        h("button", { type: "button", onclick: () => showHistory(s) }, "History"),
        h("button", { type: "button", class: "danger", onclick: () => cancelSchedule(s) }, "Cancel")),
    ])), history);
  let following = null; // the schedule whose history is shown, kept live
  async function showHistory(s) {
    following = s.id;
    try {
      const res = await api("GET", inspector(page.actorId, `schedules/${encodeURIComponent(s.id)}/history?limit=50`));
      fill(history, h("h3", {}, `History of ${s.id}`),
        table(["scheduled", "fired", "finished", "result", "error"], res.history.map((f) => [
          dateTime(f.scheduledAt), dateTime(f.firedAt), dateTime(f.finishedAt), f.result,
          f.error ? `${f.error.group}.${f.error.code}: ${f.error.message}` : "",
        ])));
    } catch (e) { err.show(e); }
  }
  async function cancelSchedule(s) {
    try {
      const res = await api("DELETE", inspector(page.actorId, `schedules/${encodeURIComponent(s.id)}?kind=${encodeURIComponent(s.kind)}`));
      toast(res.deleted ? `cancelled ${s.id}` : `${s.id} was already gone`);
    } catch (e) { err.show(e); }
  }
  render();
  return {
    update(kind) {
      if (kind !== "schedules") return;
      render();
      const still = (page.model.schedules || []).find((x) => x.id === following);
      if (still) showHistory(still);
    },
  };
}

// Database ---------------------------------------------------------------------

const PAGE_ROWS = 20;

export function mountDatabase(panel, page) {
  const tables = h("div", { class: "db-tables", role: "list" });
  const rows = h("div", { id: "db-rows" });
  const err = errorBox();
  let schema = [];
  async function loadSchema() {
    try {
      schema = (await api("GET", inspector(page.actorId, "database/schema"))).schema.tables;
      fill(tables, schema.map((t) => h("button", { type: "button", role: "listitem", onclick: () => showRows(t, 0) },
        `${t.table.name} (${t.records})`)));
    } catch (e) { err.show(e); }
  }
  async function showRows(t, offset) {
    try {
      const q = `database/rows?table=${encodeURIComponent(t.table.name)}&limit=${PAGE_ROWS}&offset=${offset}`;
      const res = await api("GET", inspector(page.actorId, q));
      const cols = t.columns.map((c) => c.name);
      const last = offset + res.rows.length;
      fill(rows, h("h3", {}, t.table.name),
        table(cols, res.rows.map((r) => cols.map((c) => short(r[c], 80)))),
        h("div", { class: "row pager" },
          h("button", { type: "button", disabled: offset === 0, onclick: () => showRows(t, Math.max(0, offset - PAGE_ROWS)) }, "Previous"),
          h("span", {}, res.rows.length ? `rows ${offset + 1}–${last} of ${t.records}` : "no rows"),
          h("button", { type: "button", disabled: last >= t.records, onclick: () => showRows(t, offset + PAGE_ROWS) }, "Next")));
    } catch (e) { err.show(e); }
  }
  fill(panel, h("div", { class: "toolbar" }, h("h2", {}, "Database"), h("button", { type: "button", onclick: loadSchema }, "Refresh")), err.el, tables, rows);
  loadSchema();
  return {};
}

// Traces -----------------------------------------------------------------------

export function mountTraces(panel, page) {
  const body = h("div", { id: "traces" });
  let timer = null;
  async function refresh() {
    try {
      const res = await api("GET", inspector(page.actorId, "traces?limit=200"));
      const spans = res.otlp.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
      fill(body, timeline(spans), res.clamped ? h("p", { class: "muted" }, "only the newest spans are shown") : null);
    } catch (e) {
      fill(body, h("p", { class: "error", role: "alert" }, describe(e)));
    }
  }
  fill(panel, h("h2", {}, "Traces"), body);
  refresh();
  return {
    update() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    },
    unmount() { clearTimeout(timer); },
  };
}

function timeline(spans) {
  if (!spans.length) return h("p", { class: "muted" }, "no spans yet");
  const ms = (ns) => Number(BigInt(ns) / 1000n) / 1000;
  const items = spans.map((s) => ({ s, start: ms(s.startTimeUnixNano), end: ms(s.endTimeUnixNano) }));
  const t0 = Math.min(...items.map((i) => i.start));
  const t1 = Math.max(...items.map((i) => i.end), t0 + 1);
  const span = t1 - t0;
  return h("ol", { class: "timeline", "aria-label": "Spans, oldest first" }, items.map(({ s, start, end }) => {
    const left = ((start - t0) / span) * 100;
    const width = Math.max(((end - start) / span) * 100, 0.4);
    const kind = (s.attributes.find((a) => a.key === "actorscope.kind") || {}).value;
    const failed = s.status && s.status.code === 2;
    return h("li", { class: failed ? "span failed" : "span" },
      h("span", { class: "span-name" }, s.name, h("small", {}, ` ${kind ? kind.stringValue : ""}`)),
      h("span", { class: "span-track" },
        h("span", { class: "span-bar", style: { marginLeft: `${left.toFixed(2)}%`, width: `${width.toFixed(2)}%` } })),
      h("span", { class: "span-time" }, `${clock(start)} · ${duration(end - start)}${failed ? ` · ${s.status.message || "error"}` : ""}`));
  }));
}
