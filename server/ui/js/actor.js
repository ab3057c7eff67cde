// One actor's page: a header, the tabs it has (a tab shows only when the
// actor has the thing), and the live event stream feeding them.

import { ApiError, api, describe, followEvents, inspector } from "./api.js";
import { fill, h, toast } from "./dom.js";
import { mountAttempts, mountReplays } from "./audit.js";
import {
  mountActions, mountConnections, mountDatabase, mountQueue, mountSchedules, mountState, mountTraces,
} from "./tabs.js";
import { mountWorkflow } from "./workflow.js";

const TABS = [
  { id: "state", label: "State", has: (m) => m.isStateEnabled, mount: mountState },
  { id: "actions", label: "Actions", has: (m) => m.rpcs.length > 0, mount: mountActions },
  { id: "connections", label: "Connections", has: (m) => m.connections.length > 0, mount: mountConnections },
  { id: "queue", label: "Queue", has: (m) => m.isWorkflowEnabled, mount: mountQueue },
  { id: "schedules", label: "Schedules", has: (m) => Array.isArray(m.schedules) && m.schedules.length > 0, mount: mountSchedules },
  { id: "database", label: "Database", has: (m) => m.isDatabaseEnabled, mount: mountDatabase },
  { id: "traces", label: "Traces", has: () => true, mount: mountTraces },
  { id: "workflow", label: "Workflow", has: (m) => m.isWorkflowEnabled, mount: mountWorkflow },
  { id: "replays", label: "Replays", has: (m) => m.isWorkflowEnabled, mount: mountReplays },
  { id: "attempts", label: "Attempts", has: (m) => m.isWorkflowEnabled, mount: mountAttempts },
];

export function openActor(main, actorId, info, wantedTab) {
  const model = {
    actorId, info, loaded: false, state: null, isStateEnabled: false, isDatabaseEnabled: false,
    isWorkflowEnabled: false, rpcs: [], connections: [], queueSize: 0, history: null,
    status: info ? info.workflow : null, schedules: null,
  };
  const title = info ? `${info.name} / ${info.key}` : actorId;
  const live = h("span", { class: "live", role: "status" }, "connecting…");
  const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "Actor tabs" });
  const panel = h("section", { class: "panel", role: "tabpanel", id: "panel", tabindex: "-1" });
  fill(main, h("section", { class: "actor" },
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Actors"), " / ", title),
    h("header", { class: "actor-head" },
      h("h1", {}, title), h("code", { class: "actor-id" }, actorId), live),
    tablist, panel));

  let tab = wantedTab;
  let mounted = null; // {update(kind)}
  let stream = null;
  const page = {
    actorId,
    model,
    panel,
    /** Ask the open tab to refresh what `kind` changed. */
    emit(kind) {
      renderTabs();
      if (mounted && mounted.update) mounted.update(kind);
    },
    close() {
      if (stream) stream.close();
      if (mounted && mounted.unmount) mounted.unmount();
    },
    showTab(id) {
      tab = id;
      renderTabs();
      mountTab();
    },
  };

  function available() {
    return TABS.filter((t) => t.has(model));
  }

  function renderTabs() {
    if (!model.loaded) return;
    const tabs = available();
    const active = tabs.find((t) => t.id === tab) ? tab : (tabs.find((t) => t.id === "workflow") || tabs[0]).id;
    if (active !== tab) {
      tab = active;
      mountTab();
    }
    fill(tablist, tabs.map((t) => h("button", {
      role: "tab", id: `tab-${t.id}`, type: "button", "aria-selected": String(t.id === tab),
      "aria-controls": "panel", tabindex: t.id === tab ? "0" : "-1",
      onclick: () => { location.hash = `#/actor/${encodeURIComponent(actorId)}/${t.id}`; },
      onkeydown: (ev) => tabKeys(ev, tabs, t.id),
    }, t.label)));
    panel.setAttribute("aria-labelledby", `tab-${tab}`);
  }

  function tabKeys(ev, tabs, id) {
    const i = tabs.findIndex((t) => t.id === id);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[ev.key];
    if (step === undefined) return;
    ev.preventDefault();
    const next = tabs[(i + step + tabs.length) % tabs.length];
    location.hash = `#/actor/${encodeURIComponent(actorId)}/${next.id}`;
    setTimeout(() => document.getElementById(`tab-${next.id}`)?.focus(), 0);
  }

  function mountTab() {
    if (mounted && mounted.unmount) mounted.unmount();
    const spec = TABS.find((t) => t.id === tab);
    panel.replaceChildren();
    mounted = spec ? spec.mount(panel, page) : null;
  }

  function onEvent(name, data) {
    switch (name) {
      case "state": model.state = data.state; break;
      case "connections": model.connections = data.connections; break;
      case "queue": model.queueSize = data.size; break;
      case "history": model.history = data.history; break;
      case "workflow": model.status = data; break;
      case "schedules": model.schedules = data.schedules; break;
      default: return;
    }
    page.emit(name);
  }

  (async () => {
    try {
      const summary = await api("GET", inspector(actorId, "summary"));
      Object.assign(model, {
        state: summary.state, isStateEnabled: summary.isStateEnabled,
        isDatabaseEnabled: summary.isDatabaseEnabled, isWorkflowEnabled: summary.isWorkflowEnabled,
        rpcs: summary.rpcs, connections: summary.connections, queueSize: summary.queueSize,
        history: summary.workflowHistory,
      });
      model.schedules = await loadSchedules(actorId);
      model.loaded = true;
      renderTabs();
      mountTab();
      stream = followEvents(actorId, onEvent, (state, err) => {
        live.textContent = state === "live" ? "live" : `reconnecting${err ? ` (${describe(err)})` : "…"}`;
        live.className = `live ${state}`;
      });
    } catch (err) {
      fill(panel, h("p", { class: "error", role: "alert" }, describe(err)));
    }
  })();
  return page;
}

async function loadSchedules(actorId) {
  try {
    const res = await api("GET", inspector(actorId, "schedules"));
    return res.schedules;
  } catch (err) {
    // A server without schedules over HTTP answers 404 for the route: no tab then.
    if (err instanceof ApiError && err.status === 404 && (err.group === "http" || err.fullCode === "request.route_not_found")) return null;
    toast(describe(err), "error");
    return null;
  }
}

