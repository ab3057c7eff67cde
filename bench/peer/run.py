"""Benchmark: actorscope side by side with the real RivetKit server.

Run ``make bench-peer`` (or ``python bench/peer/run.py``). It starts three
servers, each pinned to core 0 where the machine has two or more cores:

* RivetKit 2.2.1 (npm ``rivetkit``, its local file-system driver) serving
  ``rivetkit_server.mjs``, a counter and a three-step workflow;
* actorscope serving the same two actors (``--role actorscope`` below);
* a bare Python ``websockets`` echo server (``bench/server.py --role echo``).

One Node client (``client.mjs``, pinned to core 1) drives all three the same
way: a v4 ``StateRequest`` over the inspector WebSocket (embedded framing,
what the 2.2.1 UI speaks) sequentially and with 64 in flight, ``GET
/gateway/{id}/inspector/state`` with 16 concurrent keep-alive connections,
and ``POST /gateway/{id}/inspector/workflow/replay`` (median latency, each
replay rewinding the finished three-step history). Rounds alternate the
servers' order; each figure is the median of ``--rounds`` rounds of
``--seconds`` seconds. The npm packages go into a cache outside the repo
(``$ACTORSCOPE_BENCH_CACHE`` or ``~/.cache/actorscope-bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TOKEN = "bench-peer-token"
NPM_DEPS = ("rivetkit@2.2.1", "ws@8")
#: (measurement, echo figure or None, RivetKit, actorscope, lower is better)
Row = tuple[str, float | None, float, float, bool]
#: v4 embedded ``StateRequest { id: 1 }``: ``u16 LE 4``, tag 1, id 1.
STATE_REQUEST_HEX = "04000101"
#: The measurements, in the order each round runs them.
MEASURES = ("seq", "pipe", "http", "replay")


# -- actorscope, as a server role ----------------------------------------------


async def _actorscope_server() -> None:
    from actorscope.engine import WorkflowContext
    from actorscope.server.definitions import ActorContext, ActorDefinition, Registry
    from actorscope.server.runner import ServerConfig, start_server

    def increment(ctx: ActorContext, n: int = 1) -> int:
        ctx.state["count"] += n
        return int(ctx.state["count"])

    async def steps(wf: WorkflowContext, actor: ActorContext) -> None:
        for i, name in enumerate(("one", "two", "three"), start=1):
            await wf.step(name, lambda i=i: i)  # type: ignore[misc]

    registry = Registry(
        [
            ActorDefinition("counter", {"count": 0}, {"increment": increment}),
            ActorDefinition("steps", {"runs": 0}, {}, steps),
        ]
    )
    with tempfile.TemporaryDirectory() as data:
        running = await start_server(
            ServerConfig(
                registry,
                data_dir=Path(data),
                server_token=TOKEN,
                create=(("counter", "bench"), ("steps", "bench")),
            )
        )
        ids = {a.record.name: a.record.actor_id for a in running.directory.actors()}
        print(json.dumps({"port": running.port, "actors": ids}), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await running.stop()


# -- starting the servers --------------------------------------------------------


def _cache_dir() -> Path:
    root = os.environ.get("ACTORSCOPE_BENCH_CACHE") or Path.home() / ".cache" / "actorscope-bench"
    path = Path(root) / "peer"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _install_node_side() -> Path:
    """The npm packages in the cache, and this folder's scripts beside them."""
    cache = _cache_dir()
    stamp = cache / ".installed"
    if not stamp.exists() or stamp.read_text().split() != list(NPM_DEPS):
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("bench-peer needs Node.js and npm (apt-get install -y nodejs npm)")
        (cache / "package.json").write_text('{"name": "bench-peer", "private": true}\n')
        _progress(f"npm install {' '.join(NPM_DEPS)} into {cache}")
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *NPM_DEPS],
            cwd=cache,
            check=True,
        )
        stamp.write_text(" ".join(NPM_DEPS) + "\n")
    for script in HERE.glob("*.mjs"):
        shutil.copy(script, cache / script.name)
    return cache


def _pin(core: int) -> list[str]:
    if shutil.which("taskset") and len(os.sched_getaffinity(0)) >= 2:
        return ["taskset", "-c", str(core)]
    return []


@contextmanager
def _process(argv: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, **kwargs)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _first_json_line(proc: subprocess.Popen[str], what: str) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"the {what} server did not start")
    result: dict[str, Any] = json.loads(line)
    return result


def _rivetkit_port(proc: subprocess.Popen[str], deadline: float = 60.0) -> int:
    # rivetkit prints a banner naming the port it found free (from PEER_PORT on).
    assert proc.stdout is not None
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if found:
            return int(found.group(1))
    raise SystemExit("the RivetKit server printed no port")


def _http_json(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {TOKEN}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _rivetkit_actor(base: str, name: str) -> tuple[str, str]:
    """Create (or get) a RivetKit actor; its id and its inspector token (KV key [3])."""
    body = {
        "name": name,
        "key": "bench",
        "runner_name_selector": "default",
        "crash_policy": "sleep",
    }
    actor_id: str = _http_json(f"{base}/actors?namespace=default", "PUT", body)["actor"]["actor_id"]
    for _ in range(100):
        try:
            value = _http_json(f"{base}/actors/{actor_id}/kv/keys/Aw%3D%3D?namespace=default")
            return actor_id, base64.b64decode(value["value"]).decode()
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no inspector token for the RivetKit {name} actor")


def _actorscope_token(base: str, actor_id: str) -> str:
    token: str = _http_json(f"{base}/actors/{actor_id}/inspector-token")["token"]
    return token


# -- measuring -------------------------------------------------------------------


def _client(cache: Path, job: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node") or "node"
    done = subprocess.run(
        [*_pin(1), node, str(cache / "client.mjs"), json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=job.get("seconds", 5) * 4 + 120,
    )
    if done.returncode != 0:
        raise SystemExit(f"client {job['mode']} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _ws_job(
    mode: str, url: str, token: str, seconds: float, no_init: bool = False
) -> dict[str, Any]:
    protocols = ["rivet", f"rivet_inspector_token.{token}"] if token else []
    return {
        "mode": mode,
        "url": url,
        "protocols": protocols,
        "frameHex": STATE_REQUEST_HEX,
        "seconds": seconds,
        "depth": 64,
        "noInit": no_init,
    }


def _run(args: argparse.Namespace) -> tuple[list[Row], dict[str, int]]:
    cache = _install_node_side()
    node = shutil.which("node") or "node"
    # Development mode (no NODE_ENV=production): RivetKit restricts the KV read
    # of an actor's inspector token to it. RIVET_INSPECTOR_TOKEN keeps auth on.
    env = {**os.environ, "RIVET_INSPECTOR_TOKEN": TOKEN}
    with (
        tempfile.TemporaryDirectory() as rk_data,
        open(cache / "rivetkit.log", "w") as rk_log,
        _process(
            [*_pin(0), node, str(cache / "rivetkit_server.mjs")],
            cwd=cache,
            stderr=rk_log,
            env={**env, "RIVETKIT_STORAGE_PATH": rk_data, "PEER_PORT": str(args.rivetkit_port)},
        ) as rk_proc,
        _process([*_pin(0), sys.executable, __file__, "--role", "actorscope"]) as ours_proc,
        _process(
            [*_pin(0), sys.executable, str(HERE.parent / "server.py"), "--role", "echo"]
        ) as echo_proc,
    ):
        rk_base = f"http://127.0.0.1:{_rivetkit_port(rk_proc)}"
        ours = _first_json_line(ours_proc, "actorscope")
        echo = _first_json_line(echo_proc, "echo")
        ours_base = f"http://127.0.0.1:{ours['port']}"
        rk_counter, rk_counter_token = _rivetkit_actor(rk_base, "counter")
        rk_steps, rk_steps_token = _rivetkit_actor(rk_base, "steps")
        ours_counter = ours["actors"]["counter"]
        ours_steps = ours["actors"]["steps"]
        ours_counter_token = _actorscope_token(ours_base, ours_counter)
        ours_steps_token = _actorscope_token(ours_base, ours_steps)

        def ws(base: str, actor: str) -> str:
            return base.replace("http://", "ws://") + f"/gateway/{actor}/inspector/connect"

        targets: dict[str, dict[str, dict[str, Any]]] = {
            "rivetkit": {
                "seq": _ws_job("seq", ws(rk_base, rk_counter), rk_counter_token, args.seconds),
                "pipe": _ws_job("pipe", ws(rk_base, rk_counter), rk_counter_token, args.seconds),
                "http": {
                    "mode": "http",
                    "url": f"{rk_base}/gateway/{rk_counter}/inspector/state",
                    "token": rk_counter_token,
                    "seconds": args.seconds,
                    "concurrency": 16,
                },
                "replay": {
                    "mode": "replay",
                    "token": rk_steps_token,
                    "count": args.replays,
                    "settleMs": 20,
                    "url": f"{rk_base}/gateway/{rk_steps}/inspector/workflow/replay",
                },
            },
            "actorscope": {
                "seq": _ws_job(
                    "seq", ws(ours_base, ours_counter), ours_counter_token, args.seconds
                ),
                "pipe": _ws_job(
                    "pipe", ws(ours_base, ours_counter), ours_counter_token, args.seconds
                ),
                "http": {
                    "mode": "http",
                    "url": f"{ours_base}/gateway/{ours_counter}/inspector/state",
                    "token": ours_counter_token,
                    "seconds": args.seconds,
                    "concurrency": 16,
                },
                "replay": {
                    "mode": "replay",
                    "token": ours_steps_token,
                    "count": args.replays,
                    "settleMs": 20,
                    "url": f"{ours_base}/gateway/{ours_steps}/inspector/workflow/replay",
                },
            },
            "echo": {
                "seq": _ws_job("seq", f"ws://127.0.0.1:{echo['port']}/", "", args.seconds, True),
                "pipe": _ws_job("pipe", f"ws://127.0.0.1:{echo['port']}/", "", args.seconds, True),
            },
        }
        results: dict[tuple[str, str], list[float]] = {}
        failures: dict[str, int] = {}
        order = list(targets)
        for round_no in range(args.rounds):
            # Alternate who goes first, so drift on the shared machine hits all alike.
            rotated = order[round_no % len(order) :] + order[: round_no % len(order)]
            for measure in args.only:
                for target in rotated:
                    job = targets[target].get(measure)
                    if job is None:
                        continue
                    _progress(f"round {round_no + 1}/{args.rounds}: {target} {measure}")
                    out = _client(cache, job)
                    value = out["medianMs"] if measure == "replay" else out["rate"]
                    if out.get("failed"):
                        failures[target] = failures.get(target, 0) + out["failed"]
                        _progress(f"{target}: {out['failed']} replays failed: {out['lastError']}")
                    results.setdefault((target, measure), []).append(value)

    def med(target: str, measure: str) -> float | None:
        values = results.get((target, measure))
        return statistics.median(values) if values else None

    rows: list[Row] = []
    names = {
        "seq": "WS StateRequest round trips/s, sequential",
        "pipe": "WS round trips/s, 64 in flight",
        "http": "HTTP GET /inspector/state req/s, 16 concurrent",
        "replay": "POST workflow/replay, median ms",
    }
    for measure, name in names.items():
        if measure not in args.only:
            continue
        rk, ours_v = med("rivetkit", measure), med("actorscope", measure)
        assert rk is not None and ours_v is not None
        rows.append((name, med("echo", measure), rk, ours_v, measure == "replay"))
    return rows, failures


def _progress(text: str) -> None:
    print(f"  … {text}", file=sys.stderr, flush=True)


def _print(rows: list[Row], failures: dict[str, int], args: argparse.Namespace) -> None:
    header = (
        "measurement",
        "echo",
        "RivetKit 2.2.1",
        "actorscope",
        "vs RivetKit (>1: better)",
        "vs echo",
    )
    table = [header]
    for name, echo, rk, ours, lower_is_better in rows:
        ratio = rk / ours if lower_is_better else ours / rk
        table.append(
            (
                name,
                "-" if echo is None else f"{echo:,.0f}",
                f"{rk:,.1f}" if lower_is_better else f"{rk:,.0f}",
                f"{ours:,.1f}" if lower_is_better else f"{ours:,.0f}",
                f"{ratio:.2f}x",
                "-" if echo is None else f"{ours / echo:.2f}x",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    pinned = "servers on core 0, client on core 1" if _pin(0) else "no CPU pinning (one core)"
    print(
        f"\n{args.rounds} rounds of {args.seconds:g} s, medians; {pinned}; "
        f"replay: median of {args.replays} per round"
    )
    for target, count in sorted(failures.items()):
        print(f"{target} answered {count} replay(s) with an error (retried, not timed)")
    print(f"RivetKit's log: {_cache_dir() / 'rivetkit.log'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["actorscope"], help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measurement")
    parser.add_argument("--replays", type=int, default=30, help="replays per round")
    parser.add_argument(
        "--rivetkit-port",
        type=int,
        default=7420,
        help="first port RivetKit tries (it takes the next free one)",
    )
    parser.add_argument(
        "--only",
        type=lambda text: [part for part in text.split(",") if part],
        default=list(MEASURES),
        help=f"comma-separated subset of {','.join(MEASURES)} (all by default)",
    )
    args = parser.parse_args()
    unknown = set(args.only) - set(MEASURES)
    if unknown:
        parser.error(f"--only: unknown measurement(s) {', '.join(sorted(unknown))}")
    if args.role == "actorscope":
        from actorscope.server import eventloop

        eventloop.run(_actorscope_server())  # the loop `actorscope serve` runs on
        return 0
    rows, failures = _run(args)
    _print(rows, failures, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
