// Workflow histories in the HTTP API's JSON form (docs/PROTOCOL.md §4, §8):
// entry paths, the tree of entries, one-line details, and the comparison of
// an archived attempt with the current run. No DOM here.

const KINDS = {
  WorkflowStepEntry: "step",
  WorkflowLoopEntry: "loop",
  WorkflowSleepEntry: "sleep",
  WorkflowMessageEntry: "message",
  WorkflowRollbackCheckpointEntry: "rollback",
  WorkflowJoinEntry: "join",
  WorkflowRaceEntry: "race",
  WorkflowRemovedEntry: "removed",
  WorkflowVersionCheckEntry: "version",
};

const isMarker = (seg) => seg.tag === "WorkflowLoopIterationMarker";

// The engine's spelling (docs/ENGINE.md, paths): `/` and `%` escaped, and a
// leading `~`, so a path parses back; a loop iteration is `~N`.
function escapeName(name) {
  const out = name.replaceAll("%", "%25").replaceAll("/", "%2F");
  return out.startsWith("~") ? "%7E" + out.slice(1) : out;
}

function segmentText(names, seg) {
  if (isMarker(seg)) return `~${seg.val.iteration}`;
  const name = names[seg.val];
  return typeof name === "string" ? escapeName(name) : `#${seg.val}`;
}

export function entryPath(history, entry) {
  const names = history.nameRegistry || [];
  return (entry.location || []).map((s) => segmentText(names, s)).join("/");
}

export function kindName(entry) {
  return KINDS[entry.kind && entry.kind.tag] || String(entry.kind && entry.kind.tag);
}

/** One row's facts: path, kind, status, attempts, times, output, error, detail. */
export function describeEntry(history, entry) {
  const meta = (history.entryMetadata || {})[entry.id] || {};
  const kind = kindName(entry);
  const val = (entry.kind && entry.kind.val) || {};
  let status = meta.status || "-";
  if (kind === "sleep" && val.state && status !== "COMPLETED") status = val.state === "PENDING" ? "PENDING" : val.state;
  const started = kind === "step" ? meta.lastAttemptAt : meta.createdAt;
  const finished = meta.completedAt;
  const row = {
    id: entry.id,
    path: entryPath(history, entry),
    name: lastName(history, entry),
    kind,
    status,
    attempts: meta.attempts || 0,
    createdAt: meta.createdAt,
    startedAt: started,
    finishedAt: finished,
    durationMs: typeof finished === "number" && typeof started === "number" ? finished - started : null,
    error: meta.error || (kind === "step" ? val.error : null) || null,
    output: undefined,
    detail: "",
  };
  switch (kind) {
    case "step":
      row.output = val.output;
      break;
    case "loop":
      row.output = val.output;
      row.detail = `iteration ${val.iteration}` + (val.output === null || val.output === undefined ? "" : ", done");
      break;
    case "sleep":
      row.detail = `until ${new Date(val.deadline).toLocaleTimeString()} (${val.state})`;
      break;
    case "message":
      row.output = val.messageData;
      row.detail = `waits for "${val.name}"`;
      break;
    case "join":
    case "race": {
      const branches = Object.entries(val.branches || {}).sort(([a], [b]) => (a < b ? -1 : 1));
      row.detail = branches.map(([b, s]) => `${b}=${s.status}`).join(", ");
      if (kind === "race") row.detail = `winner ${val.winner ?? "-"}; ` + row.detail;
      break;
    }
    case "removed":
      row.detail = `was ${val.originalType} ${val.originalName || ""}`.trim();
      break;
    default:
      break;
  }
  return row;
}

function lastName(history, entry) {
  const names = history.nameRegistry || [];
  const loc = entry.location || [];
  for (let i = loc.length - 1; i >= 0; i--) if (!isMarker(loc[i])) return names[loc[i].val] ?? `#${loc[i].val}`;
  return "";
}

const key = (segs) => JSON.stringify(segs.map((s) => (isMarker(s) ? `~${s.val.iteration}` : s.val)));

/**
 * The entries as a tree. A node is {row, children: [...], groups: [{label,
 * key, children}]}; entries inside a loop are grouped by iteration (and
 * those inside a join or race by branch), each group keyed by its path.
 */
export function buildTree(history) {
  const entries = history.entries || [];
  const byLocation = new Map();
  const nodes = entries.map((entry) => {
    const node = { row: describeEntry(history, entry), entry, children: [], groups: [] };
    byLocation.set(key(entry.location || []), node);
    return node;
  });
  const roots = [];
  for (const node of nodes) {
    const loc = node.entry.location || [];
    let parent = null;
    let cut = loc.length - 1;
    for (; cut > 0; cut--) {
      parent = byLocation.get(key(loc.slice(0, cut)));
      if (parent) break;
    }
    if (!parent) {
      roots.push(node);
      continue;
    }
    const between = loc.slice(cut, loc.length - 1);
    if (!between.length) {
      parent.children.push(node);
      continue;
    }
    const names = history.nameRegistry || [];
    const groupPath = entryPathOf(names, loc.slice(0, loc.length - 1));
    let group = parent.groups.find((g) => g.path === groupPath);
    if (!group) {
      const label = between.map((s) => (isMarker(s) ? `iteration ${s.val.iteration}` : `branch ${names[s.val]}`)).join(" / ");
      group = { path: groupPath, label, children: [] };
      parent.groups.push(group);
    }
    group.children.push(node);
  }
  return roots;
}

function entryPathOf(names, segs) {
  return segs.map((s) => segmentText(names, s)).join("/");
}

/** Step rows in history order. */
export function stepRows(history) {
  return (history.entries || []).filter((e) => kindName(e) === "step").map((e) => describeEntry(history, e));
}

/**
 * The step "Replay from current step" targets: the step the run is on (the
 * one failed and waiting for its retry, if any), else the last step recorded.
 */
export function currentStep(history) {
  const steps = stepRows(history);
  const failed = steps.filter((s) => s.status === "FAILED");
  if (failed.length) return failed[failed.length - 1];
  return steps.length ? steps[steps.length - 1] : null;
}

function outputOf(entry) {
  const val = (entry.kind && entry.kind.val) || {};
  return "output" in val ? val.output : val.messageData;
}

/**
 * An archived attempt against the current run, path by path (the same rule
 * as `actorscope inspect history --diff`): a path in both ran again
 * ("re-run"; the same entry id in both is "kept"); an archived path absent
 * now is "not-re-run"; a current path created at or after the replay
 * (`replayedAt`) that the attempt lacks is "new".
 */
export function diffHistories(attempt, current, replayedAt) {
  const rows = (h) => new Map((h.entries || []).map((e) => [entryPath(h, e), { e, row: describeEntry(h, e) }]));
  const old = rows(attempt);
  const now = rows(current);
  const lines = [];
  for (const [path, a] of old) {
    const b = now.get(path);
    if (!b) {
      lines.push({ path, change: "not-re-run", kind: a.row.kind, old: a.row, now: null, outputChanged: false });
      continue;
    }
    const changed = JSON.stringify(outputOf(a.e)) !== JSON.stringify(outputOf(b.e));
    lines.push({ path, change: a.e.id === b.e.id ? "kept" : "re-run", kind: b.row.kind, old: a.row, now: b.row, outputChanged: changed });
  }
  for (const [path, b] of now) {
    if (old.has(path)) continue;
    if (typeof replayedAt === "number" && !(typeof b.row.createdAt === "number" && b.row.createdAt >= replayedAt)) continue;
    lines.push({ path, change: "new", kind: b.row.kind, old: null, now: b.row, outputChanged: false });
  }
  return lines;
}
