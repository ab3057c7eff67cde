"""Benchmark: a cluster of 1, 2 and 3 nodes on one PostgreSQL, and failover.

Run ``python bench/cluster.py`` (about a minute; it starts a throwaway
PostgreSQL from Debian's binaries like the tests do, or use ``--dsn``).
Every node is a real ``start_server`` process on 127.0.0.1 with the bench
actor ``burst`` (a workflow of ``--steps`` durable steps, then a long
sleep). The table shows:

* **steps/s**: ``--actors`` burst actors per node, created on their node
  (so placed there), all running at once; durable steps completed per
  second over the whole cluster, from the first creation to the last step;
* **inspector round trips/s**: ``--requests`` sequential inspector
  ``state`` requests over one WebSocket opened on the first node, to an
  actor on that node (local) and, with 2+ nodes, to an actor on another
  node (relayed by the forwarder);
* **failover**: two nodes with ``--lease-ms``; the owner of a running burst
  workflow is killed with SIGKILL; the time until the other node has taken
  it over and its workflow advanced (a new step completed there);
* the single-node figures on SQLite (no ``--store``) beside PostgreSQL's.

Numbers depend on the machine; on a shared, loaded machine they are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

TOKEN = "bench-cluster-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parent.parent
_PHASE_S = 120.0


# -- the node process ----------------------------------------------------------------


def _registry(steps: int) -> Any:
    from actorscope.engine import WorkflowContext
    from actorscope.server.definitions import ActorContext, ActorDefinition, Registry

    async def burst(wf: WorkflowContext, _actor: ActorContext) -> None:
        for i in range(steps):
            await wf.step(f"s{i}", lambda i=i: i)  # type: ignore[misc]
        await wf.sleep("rest", 3600)

    async def slow(wf: WorkflowContext, _actor: ActorContext) -> None:
        # For the failover: one step every 100 ms for a long while.
        for i in range(100_000):
            await wf.step(f"t{i}", lambda i=i: i)  # type: ignore[misc]
            await wf.sleep(f"p{i}", 0.1)

    return Registry(
        [
            ActorDefinition("burst", {"n": 0}, {}, burst),
            ActorDefinition("slow", {"n": 0}, {}, slow),
            ActorDefinition("probe", {"n": 1}, {"get": lambda ctx: ctx.state["n"]}),
        ]
    )


async def _node_main(args: argparse.Namespace) -> None:
    from actorscope.server.cluster_boot import ClusterConfig
    from actorscope.server.runner import ServerConfig, start_server

    cluster = None
    if args.dsn:
        cluster = ClusterConfig(
            dsn=args.dsn, node_id=args.node_id, lease_ms=args.lease_ms, schema=args.schema
        )
    config = ServerConfig(
        registry=_registry(args.steps),
        data_dir=Path(args.data),
        server_token=TOKEN,
        cluster=cluster,
    )
    server = await start_server(config)
    print(server.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop()


class Node:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url

    @classmethod
    def start(cls, dsn: str | None, node_id: str, data: Path, steps: int, lease_ms: int) -> Node:
        # Each setup gets its own schema (the node id's prefix): no actor of
        # an earlier setup is taken over and run again.
        schema = "bench_" + node_id.split("-")[0] + f"_{os.getpid()}"
        argv = [sys.executable, __file__, "node", "--node-id", node_id, "--data", str(data)]
        argv += ["--schema", schema]
        argv += ["--steps", str(steps), "--lease-ms", str(lease_ms)]
        if dsn:
            argv += ["--dsn", dsn]
        data.mkdir(parents=True, exist_ok=True)
        with (data / "node.log").open("w") as log:  # kept for a failed run's post-mortem
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True)
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"node {node_id} did not start")
        return cls(proc, url)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- measurements ----------------------------------------------------------------------


async def _create(http: httpx.AsyncClient, node: Node, name: str, key: str) -> str:
    answer = await http.put(f"{node.url}/actors", json={"name": name, "key": key}, headers=AUTH)
    answer.raise_for_status()
    actor_id: str = answer.json()["actor"]["actor_id"]
    return actor_id


async def _completed_steps(http: httpx.AsyncClient, node: Node, actor_id: str) -> int:
    answer = await http.get(
        f"{node.url}/gateway/{actor_id}/inspector/workflow-history", headers=AUTH
    )
    answer.raise_for_status()
    history = answer.json()["history"] or {"entries": []}
    return sum(1 for e in history["entries"] if e["kind"]["tag"] == "WorkflowStepEntry")


async def _steps_per_second(nodes: list[Node], actors: int, steps: int) -> float:
    async with httpx.AsyncClient(timeout=60) as http:
        start = time.perf_counter()
        made = await asyncio.gather(
            *(
                _create(http, node, "burst", f"{i}-{j}-{time.time_ns()}")
                for i, node in enumerate(nodes)
                for j in range(actors)
            )
        )
        pending = {(nodes[k // actors], a) for k, a in enumerate(made)}
        while pending:
            done = set()
            for node, actor_id in pending:
                if await _completed_steps(http, node, actor_id) >= steps:
                    done.add((node, actor_id))
            pending -= done
            if pending:
                await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
    return len(made) * steps / elapsed


async def _round_trips(first: Node, owner: Node, requests: int) -> float:
    from actorscope.client.connection import InspectorClient

    async with httpx.AsyncClient(timeout=60) as http:
        actor_id = await _create(http, owner, "probe", f"probe-{time.time_ns()}")
    async with InspectorClient(first.url, actor_id, TOKEN, timeout=60) as inspector:
        await inspector.state()
        start = time.perf_counter()
        for _ in range(requests):
            await inspector.state()
        return requests / (time.perf_counter() - start)


async def _failover(dsn: str, root: Path, lease_ms: int) -> float:
    a = Node.start(dsn, "f-a", root / "fa", 1, lease_ms)
    b = Node.start(dsn, "f-b", root / "fb", 1, lease_ms)
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            actor_id = await _create(http, a, "slow", f"slow-{time.time_ns()}")
            while await _completed_steps(http, a, actor_id) < 3:
                await asyncio.sleep(0.05)
            before = await _completed_steps(http, a, actor_id)
            a.proc.kill()
            a.proc.wait()
            killed = time.perf_counter()
            while True:
                try:
                    if await _completed_steps(http, b, actor_id) > before:
                        break
                except httpx.HTTPError:
                    pass  # 503 while the dead owner's lease runs out
                await asyncio.sleep(0.02)
            return time.perf_counter() - killed
    finally:
        a.stop()
        b.stop()


async def _bench(args: argparse.Namespace, dsn: str, root: Path) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    sqlite = Node.start(None, "solo", root / "solo", args.steps, args.lease_ms)
    try:
        sps = await _steps_per_second([sqlite], args.actors, args.steps)
        rtt = await _round_trips(sqlite, sqlite, args.requests)
        rows.append(("1 node, SQLite", f"{sps:,.0f}", f"{rtt:,.0f}", "-"))
        _progress(rows[-1])
    finally:
        sqlite.stop()
    for count in (1, 2, 3):
        nodes = [
            Node.start(dsn, f"n{count}-{i}", root / f"n{count}-{i}", args.steps, args.lease_ms)
            for i in range(count)
        ]
        try:
            # Bounded: on an overloaded machine a figure may not come; say so.
            sps = await _bounded(_steps_per_second(nodes, args.actors, args.steps))
            local = await _bounded(_round_trips(nodes[0], nodes[0], args.requests))
            relayed = "-"
            if count > 1:
                relayed = await _bounded(_round_trips(nodes[0], nodes[-1], args.requests))
            label = f"{count} node{'s' if count > 1 else ''}, PostgreSQL"
            rows.append((label, sps, local, relayed))
            _progress(rows[-1])
        finally:
            for node in nodes:
                node.stop()
    took = await _failover(dsn, root, args.lease_ms)
    rows.append(
        (f"failover (lease {args.lease_ms} ms)", "-", "-", f"kill -9 -> resumed {took:.2f} s")
    )
    return rows


async def _bounded(measure: Any) -> str:
    try:
        value = await asyncio.wait_for(measure, _PHASE_S)
    except TimeoutError:
        return f"stalled (> {_PHASE_S:.0f} s; see node.log)"
    return f"{value:,.0f}"


def _progress(row: tuple[str, ...]) -> None:
    print("...", " | ".join(row), file=sys.stderr, flush=True)


def _start_postgres() -> tuple[Any, str]:
    spec = importlib.util.spec_from_file_location("pgcluster", ROOT / "tests" / "pgcluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bin_dir = module.find_pg_bin()
    if bin_dir is None:
        raise SystemExit(module.INSTALL_HINT)
    cluster = module.PgCluster(bin_dir).start()
    return cluster, cluster.dsn()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode")
    node = sub.add_parser("node")
    node.add_argument("--dsn", default=None)
    node.add_argument("--node-id", required=True)
    node.add_argument("--data", required=True)
    node.add_argument("--steps", type=int, default=50)
    node.add_argument("--lease-ms", type=int, default=2000)
    node.add_argument("--schema", default="actorscope")
    parser.add_argument("--dsn", default=os.environ.get("ACTORSCOPE_STORE"))
    parser.add_argument("--actors", type=int, default=2, help="burst actors per node")
    parser.add_argument("--steps", type=int, default=20, help="steps per burst actor")
    parser.add_argument("--requests", type=int, default=100, help="inspector round trips")
    parser.add_argument("--lease-ms", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.mode == "node":
        asyncio.run(_node_main(args))
        return
    pg = None
    dsn = args.dsn
    if not dsn:
        pg, dsn = _start_postgres()
    try:
        with tempfile.TemporaryDirectory(prefix="actorscope-bench-cluster-") as tmp:
            rows = asyncio.run(_bench(args, dsn, Path(tmp)))
    finally:
        if pg is not None:
            pg.stop()
    if args.json:
        print(json.dumps(rows))
        return
    head = ("setup", "steps/s", "inspector RT/s (local)", "inspector RT/s (relayed) / failover")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    for row in [head, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    print(f"({args.actors} burst actors of {args.steps} steps per node; {args.requests} requests)")


if __name__ == "__main__":
    main()
