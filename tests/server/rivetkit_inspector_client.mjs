// Drives an actorscope inspector endpoint with RivetKit's own browser client
// library (npm `rivetkit`, export `rivetkit/inspector/client`), the way the
// RivetKit Inspector UI does from 2.3.4 on: negotiated `?protocol_version=N`,
// requests through `TO_SERVER_VERSIONED.serialize(msg, N)`, replies through
// `TO_CLIENT_VERSIONED.deserialize(bytes, N)`, user values as CBOR (cbor-x,
// as the UI), workflow histories through `decodeWorkflowHistoryTransport`.
//
// Usage: node rivetkit_inspector_client.mjs NODE_MODULES_PARENT < plan.json
// plan: {"url": "ws://host:port", "token": "...", "version": 6,
//        "actors": [{"name": "...", "id": "...", "requests": [{"tag", "val"}]}]}
// In a request `val`, the uint fields are JSON numbers (sent as BigInt) and a
// data field is {"cbor": value}. Prints one JSON document: for each actor
// its Init and, per request, the reply (pushes in between are skipped).
// Written for the actorscope test suite; nothing here is RivetKit's code.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = process.argv[2];
const modules = join(root, "node_modules");
const require = createRequire(join(root, "package.json"));

// Resolve `rivetkit/inspector/client` through the package's own export map
// (its "import" condition), as a bundler for the browser would.
async function importExport(pkg, subpath) {
  const dir = join(modules, pkg);
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  let target = manifest.exports[subpath];
  while (typeof target === "object") target = target.import ?? target.default;
  return import(pathToFileURL(join(dir, target)).href);
}

const client = await importExport("rivetkit", "./inspector/client");
const { Encoder, decode: cborDecode } = require("cbor-x");
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });
const WebSocketImpl = globalThis.WebSocket ?? require("ws");

const UINT_FIELDS = new Set(["id", "limit", "startMs", "endMs", "offset"]);
const HISTORY_FIELDS = new Set(["history", "workflowHistory"]);

function toWire(val) {
  const out = {};
  for (const [k, v] of Object.entries(val)) {
    if (UINT_FIELDS.has(k)) out[k] = BigInt(v);
    else if (v !== null && typeof v === "object" && "cbor" in v) {
      const bytes = cbor.encode(v.cbor);
      out[k] = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    } else out[k] = v;
  }
  return out;
}

function bytesOf(x) {
  return x instanceof ArrayBuffer ? new Uint8Array(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

// JSON form of a decoded message: bigints as numbers, data as {hex, cbor}
// (cbor: the CBOR-decoded value, as the UI shows it), maps as objects.
function plain(x, key) {
  if (typeof x === "bigint") return Number(x);
  if (x instanceof ArrayBuffer || ArrayBuffer.isView(x)) {
    const bytes = bytesOf(x);
    if (HISTORY_FIELDS.has(key)) return { history: plain(client.decodeWorkflowHistoryTransport(bytes)) };
    const out = { hex: Buffer.from(bytes).toString("hex") };
    try {
      out.cbor = plain(cborDecode(Buffer.from(bytes)));
    } catch (e) {
      out.cborError = String(e);
    }
    return out;
  }
  if (x instanceof Map) return Object.fromEntries([...x].map(([k, v]) => [k, plain(v, k)]));
  if (Array.isArray(x)) return x.map((v) => plain(v));
  if (x !== null && typeof x === "object") {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v, k)]));
  }
  return x;
}

function open(url, actorId, token) {
  const protocols = ["rivet", "rivet_target.actor", `rivet_actor.${actorId}`, "rivet_encoding.bare"];
  if (token) protocols.push(`rivet_inspector_token.${token}`);
  const ws = new WebSocketImpl(url, protocols);
  ws.binaryType = "arraybuffer";
  const inbox = [];
  const waiters = [];
  let closed = null;
  ws.onmessage = (event) => {
    const msg = client.TO_CLIENT_VERSIONED.deserialize(bytesOf(event.data), version);
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(msg);
    else inbox.push(msg);
  };
  ws.onclose = (event) => {
    closed = { code: event.code, reason: event.reason };
    for (const w of waiters.splice(0)) w.reject(new Error(`closed ${event.code} ${event.reason}`));
  };
  const next = () =>
    inbox.length
      ? Promise.resolve(inbox.shift())
      : closed
        ? Promise.reject(new Error(`closed ${closed.code} ${closed.reason}`))
        : new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  const ready = new Promise((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = (e) => reject(new Error(`websocket error: ${e.message ?? e}`));
  });
  return { ws, next, ready, closedInfo: () => closed };
}

const PUSHES = new Set(["StateUpdated", "ConnectionsUpdated", "QueueUpdated", "WorkflowHistoryUpdated", "SchedulesUpdated"]);

async function reply(conn) {
  for (;;) {
    const msg = await conn.next();
    if (!PUSHES.has(msg.body.tag)) return msg;
  }
}

const plan = JSON.parse(readFileSync(0, "utf8"));
const version = plan.version;
const result = { protocols: [], actors: [] };
for (const actor of plan.actors) {
  const url = `${plan.url}/gateway/${encodeURIComponent(actor.id)}/inspector/connect?protocol_version=${version}`;
  const conn = open(url, actor.id, plan.token);
  await conn.ready;
  result.protocols.push(conn.ws.protocol);
  const init = await conn.next();
  const replies = [];
  for (const request of actor.requests) {
    const frame = client.TO_SERVER_VERSIONED.serialize({ body: { tag: request.tag, val: toWire(request.val) } }, version);
    conn.ws.send(frame);
    if (request.tag === "PatchStateRequest") {
      replies.push(null); // no answer by design
      continue;
    }
    replies.push(plain(await reply(conn)));
  }
  conn.ws.close();
  result.actors.push({ name: actor.name, init: plain(init), replies });
}
process.stdout.write(JSON.stringify(result));
process.exit(0);
