// The HTTP API as the page uses it: bearer token from sessionStorage (never a
// cookie, never in a URL), errors as ApiError carrying the server's
// group.code, and the live event stream read with fetch() (EventSource
// cannot send an Authorization header).

const TOKEN_KEY = "actorscope.token";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** A refusal from the server (or no answer at all), with its `group.code`. */
export class ApiError extends Error {
  constructor(status, group, code, message) {
    super(`${group}.${code}: ${message}`);
    this.status = status;
    this.group = group;
    this.code = code;
    this.detail = message;
  }

  get fullCode() {
    return `${this.group}.${this.code}`;
  }
}

/** "group.code: message" for any error the page meets. */
export function describe(err) {
  if (err instanceof ApiError) return `${err.fullCode}: ${err.detail}`;
  return `ui.error: ${err && err.message ? err.message : String(err)}`;
}

function headers(extra) {
  const out = { ...extra };
  const token = getToken();
  if (token) out.Authorization = `Bearer ${token}`;
  return out;
}

/** One request; resolves to the JSON answer, rejects with ApiError. */
export async function api(method, path, body) {
  const init = { method, headers: headers({}), credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", "unreachable", `no answer from the server (${err.message})`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    if (data && typeof data.group === "string") {
      throw new ApiError(res.status, data.group, data.code, data.message);
    }
    throw new ApiError(res.status, "http", String(res.status), text.slice(0, 200) || res.statusText);
  }
  return data;
}

/** The path of an inspector route of one actor. */
export function inspector(actorId, rest) {
  return `/gateway/${encodeURIComponent(actorId)}/inspector/${rest}`;
}

/**
 * Follow an actor's event stream (GET /inspector/events). Calls
 * onEvent(name, data) per event and onState("live" | "reconnecting", err)
 * as the connection comes and goes; reconnects by itself until close().
 */
export function followEvents(actorId, onEvent, onState) {
  let stopped = false;
  let controller = null;
  let delay = 500;

  async function once() {
    controller = new AbortController();
    const res = await fetch(inspector(actorId, "events"), {
      headers: headers({ Accept: "text/event-stream" }),
      credentials: "omit",
      cache: "no-store",
      signal: controller.signal,
    });
    if (!res.ok) {
      let data = null;
      try { data = await res.json(); } catch { data = null; }
      if (data && data.group) throw new ApiError(res.status, data.group, data.code, data.message);
      throw new ApiError(res.status, "http", String(res.status), res.statusText);
    }
    onState("live", null);
    delay = 500;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        dispatch(block);
      }
    }
  }

  function dispatch(block) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (!data.length) return;
    try {
      onEvent(name, JSON.parse(data.join("\n")));
    } catch (err) {
      console.error("event", name, err);
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await once();
        if (!stopped) onState("reconnecting", null);
      } catch (err) {
        if (stopped) return;
        onState("reconnecting", err);
        if (err instanceof ApiError && err.status === 401) return;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  })();

  return {
    close() {
      stopped = true;
      if (controller) controller.abort();
    },
  };
}
