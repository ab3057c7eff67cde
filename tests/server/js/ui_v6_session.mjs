// What today's RivetKit Inspector UI does against a server, with rivetkit
// 2.3.19's own browser codecs (rivetkit/inspector/client) and cbor-x: pick the
// protocol from GET /metadata, open the inspector WebSocket negotiated at that
// version, send the requests its tabs send, decode every user value as CBOR,
// then replay over HTTP the way the UI does and decode the answer with the
// UI's transport decoder. Prints one JSON object; the Python test judges it.
//
// usage: node --experimental-websocket ui_v6_session.mjs URL ACTOR_ID ACTOR_TOKEN
import * as cbor from "cbor-x";
import {
	TO_CLIENT_VERSIONED as toClient,
	TO_SERVER_VERSIONED as toServer,
	decodeWorkflowHistoryTransport,
} from "rivetkit/inspector/client";

const [url, actorId, actorToken] = process.argv.slice(2);
const out = { errors: [], replies: {} };

const metadata = await (await fetch(`${url}/metadata`)).json();
out.version = metadata.version;
const version = 6; // the test checks that metadata.version makes the UI pick 6

const ws = new WebSocket(
	`${url.replace(/^http/, "ws")}/gateway/${actorId}/inspector/connect?protocol_version=${version}`,
	["rivet", "rivet_target.actor", `rivet_actor.${actorId}`, "rivet_encoding.bare",
		`rivet_inspector_token.${actorToken}`],
);
ws.binaryType = "arraybuffer";
const pending = new Map();
let init;
const initArrived = new Promise((resolve) => { init = resolve; });
const toJson = (v) => JSON.parse(JSON.stringify(v, (_, x) => (typeof x === "bigint" ? Number(x) : x)));

ws.onmessage = (event) => {
	const message = toClient.deserialize(new Uint8Array(event.data), version);
	const { tag, val } = message.body;
	if (tag === "Error") out.errors.push(val.message);
	else if (tag === "Init") init(val);
	else if ("rid" in val && pending.has(Number(val.rid))) {
		pending.get(Number(val.rid))({ tag, val });
		pending.delete(Number(val.rid));
	}
};
const opened = new Promise((resolve, reject) => {
	ws.onopen = resolve;
	ws.onerror = () => reject(new Error("websocket error"));
});
await opened;
const first = await initArrived;
out.init = {
	state: first.state ? cbor.decode(new Uint8Array(first.state)) : null,
	tabs: first.tabConfig.map((t) => [t.id, t.hidden]),
	schedules: first.schedules.length,
	history: first.workflowHistory
		? decodeWorkflowHistoryTransport(first.workflowHistory).entries.map((e) => e.kind.tag)
		: null,
};

let nextId = 1;
function request(tag, fields = {}) {
	const id = nextId++;
	ws.send(toServer.serialize({ body: { tag, val: { id: BigInt(id), ...fields } } }, version));
	return new Promise((resolve, reject) => {
		pending.set(id, resolve);
		setTimeout(() => reject(new Error(`no answer to ${tag}`)), 20000);
	});
}

const state = await request("StateRequest");
out.replies.state = cbor.decode(new Uint8Array(state.val.state));
const rpcs = await request("RpcsListRequest");
out.replies.rpcs = rpcs.val.rpcs;
const queue = await request("QueueRequest", { limit: 200n });
out.replies.queue = toJson(queue.val.status).size;
const schedules = await request("SchedulesRequest");
out.replies.schedules = schedules.tag;
const history = await request("WorkflowHistoryRequest");
const decoded = decodeWorkflowHistoryTransport(history.val.history);
out.replies.stepOutputs = decoded.entries
	.filter((e) => e.kind.tag === "WorkflowStepEntry" && e.kind.val.output)
	.map((e) => cbor.decode(new Uint8Array(e.kind.val.output)));
const action = await request("ActionRequest", {
	name: "get_timeline",
	args: new Uint8Array(cbor.encode([])).buffer,
});
out.replies.action = cbor.decode(new Uint8Array(action.val.output));

// Replay over HTTP, as the UI does, from the first step.
const firstStep = decoded.entries.find((e) => e.kind.tag === "WorkflowStepEntry");
const response = await fetch(`${url}/gateway/${actorId}/inspector/workflow/replay`, {
	method: "POST",
	headers: {
		Authorization: `Bearer ${actorToken}`,
		"Content-Type": "application/json",
		Origin: "https://inspect.rivet.dev",
	},
	body: JSON.stringify({ entryId: firstStep.id }),
});
const body = await response.json();
out.replay = {
	status: response.status,
	isWorkflowEnabled: body.isWorkflowEnabled,
	isByteArray: Array.isArray(body.history) && body.history.every((b) => Number.isInteger(b) && b >= 0 && b <= 255),
	entries: decodeWorkflowHistoryTransport(new Uint8Array(body.history).buffer).entries.length,
};
ws.close();
console.log(JSON.stringify(toJson(out)));
