"""Benchmark: memory per idle inspector connection.

Run ``python bench/memory.py`` (``make bench`` runs it too). It starts
actorscope in a subprocess (the ``bench/peer`` actors: a counter and a
three-step workflow), reads the server's resident set size, opens
``--counts`` idle inspector WebSocket connections to the counter (each gets
its ``Init`` and then sends nothing), reads the RSS again, and prints the
growth per connection. Connections are opened in waves of 200, from this
process, with their own file-descriptor limit raised to the hard limit.

RSS includes what the allocator keeps after freeing, so the figure is an
upper bound on what one connection costs; the count that matters is that it
stays flat from 1,000 to 10,000 (no per-connection cost that grows with the
number of connections).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

HERE = Path(__file__).resolve().parent
TOKEN = "bench-peer-token"  # bench/peer/run.py's actorscope role uses it


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


async def _open_many(url: str, protocols: list[Subprotocol], n: int) -> list[ClientConnection]:
    conns: list[ClientConnection] = []

    async def one() -> ClientConnection:
        conn = await connect(url, subprotocols=protocols, compression=None, open_timeout=60)
        await conn.recv()  # Init
        return conn

    while len(conns) < n:
        wave = min(200, n - len(conns))
        conns.extend(await asyncio.gather(*(one() for _ in range(wave))))
    return conns


async def _measure(
    pid: int, port: int, actor: str, counts: list[int]
) -> list[tuple[int, int, float]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/actors/{actor}/inspector-token",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        token = json.loads(response.read())["token"]
    url = f"ws://127.0.0.1:{port}/gateway/{actor}/inspector/connect"
    protocols = [Subprotocol("rivet"), Subprotocol(f"rivet_inspector_token.{token}")]
    rows = []
    for n in counts:
        await asyncio.sleep(1.0)
        before = _rss_kib(pid)
        _progress(f"opening {n:,} connections")
        conns = await _open_many(url, protocols, n)
        await asyncio.sleep(1.0)  # let the server settle (tasks parked, buffers trimmed)
        after = _rss_kib(pid)
        rows.append((n, after - before, (after - before) * 1024 / n))
        _progress(f"closing {n:,} connections")
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    return rows


def _progress(text: str) -> None:
    print(f"  … {text}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1000,10000", help="connection counts, comma-separated")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    limit = _raise_fd_limit(max(counts) + 1000)
    if limit < max(counts) + 100:
        raise SystemExit(f"the file-descriptor limit ({limit}) is below {max(counts) + 100}")
    server = subprocess.Popen(
        [sys.executable, str(HERE / "peer" / "run.py"), "--role", "actorscope"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        start = time.monotonic()
        rows = asyncio.run(_measure(server.pid, info["port"], info["actors"]["counter"], counts))
    finally:
        server.terminate()
        server.wait(30)
    print("| idle inspector connections | server RSS growth | per connection |")
    print("|---|---|---|")
    for n, grown_kib, per_conn in rows:
        print(f"| {n:,} | {grown_kib / 1024:,.1f} MiB | {per_conn / 1024:,.1f} KiB |")
    print(f"\n({time.monotonic() - start:.0f} s; RSS of the server process from /proc)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
