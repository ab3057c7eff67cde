// Small DOM helpers. Every value from the server goes in as text (never as
// HTML), so nothing an actor stores can run as script in this page.

/** h("div", {class: "x", onclick: fn}, child, ...): an element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "text") {
      el.textContent = value;
    } else if (name === "value") {
      el.value = value;
    } else if (name === "style" && typeof value === "object") {
      // Through the CSSOM: the page's CSP allows no inline style attributes.
      Object.assign(el.style, value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** JSON for showing to a person: pretty, and "null" for absent values. */
export function pretty(value) {
  return JSON.stringify(value === undefined ? null : value, null, 2);
}

/** JSON on one line, shortened to `limit` characters. */
export function short(value, limit = 60) {
  const text = JSON.stringify(value === undefined ? null : value);
  return text.length <= limit ? text : text.slice(0, limit - 1) + "…";
}

/** Epoch milliseconds → local "YYYY-MM-DD HH:MM:SS". */
export function dateTime(ms) {
  if (typeof ms !== "number") return "-";
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Epoch milliseconds → local "HH:MM:SS.mmm". */
export function clock(ms) {
  if (typeof ms !== "number") return "-";
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** 7ms, 1.25s, 2m03s; "-" when unknown. */
export function duration(ms) {
  if (typeof ms !== "number" || ms < 0) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)}s`;
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** A table: `head` is a list of column titles, `rows` a list of lists of cells. */
export function table(head, rows, attrs = {}) {
  return h("div", { class: "table-wrap" },
    h("table", attrs,
      h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((r) => (r instanceof Node ? r : h("tr", {}, r.map((c) => h("td", {}, c))))))));
}

let toastTimer = null;

/** A short message in the status area (announced to screen readers). */
export function toast(text, kind = "info") {
  const el = document.getElementById("toast");
  el.className = `toast ${kind}`;
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 12000 : 5000);
}

/** Copy `text` to the clipboard; falls back to selecting it for a manual copy. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`copied ${text}`);
  } catch {
    const area = h("textarea", { class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    toast(ok ? `copied ${text}` : `copy this path: ${text}`);
  }
}
