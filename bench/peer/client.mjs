// One load client for every server under test (actorscope, RivetKit, a bare
// echo): the same code path, the same frames, so the ratios compare servers.
// Usage: node client.mjs '<json job>'; prints one JSON line with the result.
// Jobs: {mode: "seq"|"pipe", url, protocols, frameHex, seconds, depth}
//       {mode: "http", url, token, seconds, concurrency}
//       {mode: "replay", url, token, count, settleMs}
import http from "node:http";
import { WebSocket } from "ws";

const job = JSON.parse(process.argv[2]);

function open(url, protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
    ws.binaryType = "nodebuffer";
    const timer = setTimeout(() => reject(new Error(`open ${url}: timeout`)), 30000);
    ws.once("error", reject);
    // Servers send Init first; a round trip starts after it.
    ws.once("message", () => { clearTimeout(timer); resolve(ws); });
    ws.once("open", () => { if (job.noInit) { clearTimeout(timer); resolve(ws); } });
  });
}

async function roundTrips(depth) {
  const frame = Buffer.from(job.frameHex, "hex");
  const ws = await open(job.url, job.protocols);
  let done = 0;
  let counting = false;
  const warm = 200;
  let started = 0;
  await new Promise((resolve, reject) => {
    ws.on("error", reject);
    ws.on("close", (code, reason) => reject(new Error(`closed ${code} ${reason}`)));
    const deadline = () => performance.now() - started >= job.seconds * 1000;
    ws.on("message", () => {
      if (!counting) {
        done += 1;
        if (done >= warm) { counting = true; done = 0; started = performance.now(); }
        ws.send(frame);
        return;
      }
      done += 1;
      if (deadline()) { resolve(); return; }
      ws.send(frame);
    });
    for (let i = 0; i < depth; i += 1) ws.send(frame);
  });
  const elapsed = (performance.now() - started) / 1000;
  // A clean close (not a reset), so no server logs a dropped connection.
  ws.removeAllListeners("close");
  ws.removeAllListeners("message");
  await new Promise((resolve) => { ws.once("close", resolve); ws.close(1000); });
  return { rate: done / elapsed, count: done };
}

function request(url, method, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: request.agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function httpLoad() {
  request.agent = new http.Agent({ keepAlive: true, maxSockets: job.concurrency });
  const headers = { authorization: `Bearer ${job.token}` };
  const first = await request(job.url, "GET", headers);
  if (first.status !== 200) throw new Error(`GET ${job.url}: ${first.status} ${first.body}`);
  let done = 0;
  const started = performance.now();
  const end = started + job.seconds * 1000;
  async function worker() {
    while (performance.now() < end) {
      const r = await request(job.url, "GET", headers);
      if (r.status !== 200) throw new Error(`GET ${job.url}: ${r.status}`);
      done += 1;
    }
  }
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  return { rate: done / ((performance.now() - started) / 1000), count: done };
}

// Wait (uncounted) until the re-run has finished: each replay then rewinds a
// completed three-step history, the same work on both servers.
async function settled(headers) {
  const url = job.url.replace(/workflow\/replay$/, "workflow-history");
  const deadline = performance.now() + 10000;
  while (performance.now() < deadline) {
    await new Promise((res) => setTimeout(res, job.settleMs));
    const r = await request(url, "GET", headers);
    if (r.status !== 200) continue;
    const history = JSON.parse(r.body).history;
    const metas = Object.values(history?.entryMetadata ?? {});
    const done = metas.filter((m) => String(m.status).toLowerCase() === "completed");
    if ((history?.entries ?? []).length >= 3 && done.length >= 3) return;
  }
  throw new Error(`workflow at ${url} did not finish its re-run`);
}

async function replays() {
  request.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const headers = { authorization: `Bearer ${job.token}`, "content-type": "application/json" };
  const times = [];
  let failed = 0;
  let lastError = null;
  while (times.length < job.count) {
    const t0 = performance.now();
    const r = await request(job.url, "POST", headers, "{}");
    const t = performance.now() - t0;
    if (r.status !== 200) {
      // Counted, reported, not timed; RivetKit 2.2.1 now and then answers a
      // replay with a 500 (its log says why). Give up past a bound.
      failed += 1;
      lastError = `${r.status} ${r.body}`;
      if (failed > job.count) throw new Error(`POST ${job.url}: ${lastError}`);
    } else {
      times.push(t);
    }
    await settled(headers);
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[Math.floor(times.length / 2)], count: times.length, failed, lastError };
}

const modes = {
  seq: () => roundTrips(1),
  pipe: () => roundTrips(job.depth ?? 64),
  http: httpLoad,
  replay: replays,
};
try {
  const result = await modes[job.mode]();
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
} catch (err) {
  process.stderr.write(`client: ${err.stack ?? err}\n`);
  process.exit(1);
}
