// The page shell: sign-in, the actors list, and routing (#/ and #/actor/ID/TAB).
// The token lives in sessionStorage for this tab only and travels as a bearer
// header; the address bar never holds it.

import { ApiError, api, describe, getToken, setToken } from "./api.js";
import { dateTime, fill, h, table, toast } from "./dom.js";
import { openActor } from "./actor.js";

const main = document.getElementById("main");
const who = document.getElementById("who");
const signOut = document.getElementById("signout");

let session = null; // {credential, types, actors}
let current = null; // the open actor page ({actorId, close(), showTab(tab)})
let listTimer = null;

signOut.addEventListener("click", () => {
  setToken(null);
  session = null;
  location.hash = "#/";
  showSignIn(null);
});

function statusBadge(workflow) {
  if (!workflow) return h("span", { class: "badge none" }, "no workflow");
  return h("span", { class: `badge ${workflow.status}` }, workflow.status);
}

async function loadSession() {
  session = await api("GET", "/ui/api/actors");
  const labels = { server: "server token", actor: "actor token", dev: "dev mode, no token" };
  who.textContent = `signed in: ${labels[session.credential] || session.credential}`;
  signOut.hidden = session.credential === "dev";
  return session;
}

function showSignIn(message) {
  stopList();
  closeActor();
  who.textContent = "";
  signOut.hidden = true;
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true, "aria-describedby": "signin-help" });
  const error = h("p", { class: "error", role: "alert", id: "signin-error" }, message || "");
  error.hidden = !message;
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to the inspector"),
    h("label", { for: "token" }, "Server token or actor token"),
    input,
    h("p", { id: "signin-help", class: "help" },
      "The server token is printed when the server first starts and kept in .actorscope/server-token. " +
      "It stays in this browser tab only (session storage) and is sent as a bearer header."),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    try {
      await loadSession();
      route();
    } catch (err) {
      setToken(null);
      const text = err instanceof ApiError && err.status === 401
        ? `That token was not accepted (${describe(err)}).`
        : describe(err);
      showSignIn(text);
    }
  });
  fill(main, form);
  input.focus();
}

function stopList() {
  clearInterval(listTimer);
  listTimer = null;
}

function closeActor() {
  if (current) current.close();
  current = null;
}

function showActors() {
  closeActor();
  const search = h("input", { type: "search", id: "search", placeholder: "name, key or id", "aria-label": "Search actors" });
  const list = h("div", { id: "actor-list" });
  const parts = [h("h1", {}, "Actors")];
  if (session.types.length) parts.push(createForm());
  parts.push(h("div", { class: "toolbar" }, h("label", { for: "search" }, "Search"), search), list);
  fill(main, h("section", { class: "actors" }, parts));

  const render = () => {
    const q = search.value.trim().toLowerCase();
    const match = (a) => !q || [a.name, a.key, a.actorId].some((v) => v.toLowerCase().includes(q));
    const shown = session.actors.filter(match);
    const types = session.types.length ? session.types : [...new Set(session.actors.map((a) => a.name))];
    const blocks = types.map((type) => {
      const mine = shown.filter((a) => a.name === type);
      const total = session.actors.filter((a) => a.name === type).length;
      return h("section", { class: "type", "aria-label": `actor type ${type}` },
        h("h2", {}, type, h("span", { class: "count" }, ` ${total} instance${total === 1 ? "" : "s"}`)),
        mine.length
          ? table(["key", "id", "created", "workflow"], mine.map((a) => [
            h("a", { href: `#/actor/${encodeURIComponent(a.actorId)}`, class: "actor-link", "data-name": a.name, "data-key": a.key }, a.key || "(empty key)"),
            h("code", {}, a.actorId),
            dateTime(a.createdAt),
            statusBadge(a.workflow),
          ]))
          : h("p", { class: "muted" }, q ? "no match" : "no instances yet"));
    });
    fill(list, blocks.length ? blocks : h("p", { class: "muted" }, "no actors"));
  };
  search.addEventListener("input", render);
  render();
  stopList();
  // The list has no push of its own: refresh it while it is on screen.
  listTimer = setInterval(async () => {
    try {
      await loadSession();
      render();
    } catch (err) {
      toast(describe(err), "error");
    }
  }, 3000);
}

function createForm() {
  const type = h("select", { id: "create-name", "aria-label": "Actor type" },
    session.types.map((t) => h("option", { value: t }, t)));
  const keyInput = h("input", { id: "create-key", placeholder: "key", "aria-label": "Key", required: true });
  const error = h("p", { class: "error", role: "alert" });
  error.hidden = true;
  const form = h("form", { class: "card create", "aria-label": "Create an instance" },
    h("h2", {}, "Create an instance"),
    h("div", { class: "row" }, type, keyInput, h("button", { type: "submit" }, "Create")),
    error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    try {
      const res = await api("PUT", "/actors", { name: type.value, key: keyInput.value });
      toast(`actor ${res.actor.name}/${res.actor.key} is ${res.actor.actor_id}`);
      await loadSession();
      location.hash = `#/actor/${encodeURIComponent(res.actor.actor_id)}`;
    } catch (err) {
      error.textContent = describe(err);
      error.hidden = false;
    }
  });
  return form;
}

function route() {
  if (!session) return;
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "actor" && parts[1]) {
    stopList();
    const info = session.actors.find((a) => a.actorId === parts[1]);
    if (current && current.actorId === parts[1]) {
      current.showTab(parts[2]);
      return;
    }
    closeActor();
    current = openActor(main, parts[1], info, parts[2]);
    return;
  }
  showActors();
}

window.addEventListener("hashchange", route);

async function start() {
  try {
    // With a stored token, or in dev mode with none, this signs straight in.
    await loadSession();
    route();
  } catch (err) {
    if (getToken()) setToken(null);
    showSignIn(err instanceof ApiError && err.status === 401 ? null : describe(err));
  }
}

start();
