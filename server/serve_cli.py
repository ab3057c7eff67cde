"""``actorscope serve``: run a server in the foreground and print where to connect.

Auth (docs/PROTOCOL.md §6): outside ``--dev``, the server always has a server-wide
token. ``--inspector-token T`` sets it; otherwise the token stored in the
data directory (``server-token``) is reused, or a new one is generated,
stored there (mode 0600) and printed once. ``--dev`` with no token turns
auth off and says so.

``--keep-attempts N`` bounds the archive of what replays discarded:
each workflow keeps its newest N attempts (default 20); an older one answers
404 ``workflow.attempt_not_found``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from actorscope.engine.replay import DEFAULT_KEEP_ATTEMPTS
from actorscope.protocol.framing import NEWEST_VERSION, VERSIONS
from actorscope.protocol.values import VALUE_CODECS, CborCodec, value_codec

from . import eventloop
from .definitions import Registry
from .nodes_cli import add_cluster_arguments, cluster_config
from .runner import RunningServer, ServerConfig, start_server

__all__ = ["TOKEN_FILE", "register", "resolve_token", "run"]

TOKEN_FILE = "server-token"
DEFAULT_PORT = 6420


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the actor server (HTTP + WebSocket inspector on one port)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--data", type=Path, default=Path(".actorscope"), help="data directory")
    parser.add_argument("--demo", action="store_true", help="register and create the demo actors")
    parser.add_argument("--inspector-token", default=None, help="the server-wide token")
    parser.add_argument(
        "--max-protocol-version",
        type=int,
        choices=VERSIONS,
        default=NEWEST_VERSION,
        help="behave as an older inspector protocol peer",
    )
    parser.add_argument(
        "--dev", action="store_true", help="development mode: no token means auth is off"
    )
    parser.add_argument(
        "--value-codec",
        choices=sorted(VALUE_CODECS),
        default=CborCodec.name,
        help="how user values travel on the inspector WebSocket unless a peer asks "
        "(?value_codec=...); default cbor, as RivetKit's Inspector expects",
    )
    parser.add_argument(
        "--keep-attempts",
        type=_non_negative,
        default=DEFAULT_KEEP_ATTEMPTS,
        metavar="N",
        help="archived replay attempts kept per workflow, the newest N "
        f"(default {DEFAULT_KEEP_ATTEMPTS}; 0 keeps none)",
    )
    add_cluster_arguments(parser)
    parser.set_defaults(handler=run)


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def resolve_token(data_dir: Path, given: str | None, dev: bool) -> tuple[str | None, str]:
    """The server-wide token and how it came about: ``given``, ``dev``, ``stored`` or ``new``."""
    if given:
        return given, "given"
    if dev:
        return None, "dev"
    path = data_dir / TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token, "stored"
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(24)
    # Created 0600 from the start: the secret is never world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, "new"


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    token, source = resolve_token(args.data, args.inspector_token, args.dev)
    registry = Registry()
    create: tuple[tuple[str, str], ...] = ()
    if args.demo:
        from .demo import DEMO_KEY, demo_registry

        registry = demo_registry()
        create = tuple((name, DEMO_KEY) for name in registry.names())
    config = ServerConfig(
        registry=registry,
        data_dir=args.data,
        host=args.host,
        port=args.port,
        server_token=token,
        dev=args.dev,
        max_protocol_version=args.max_protocol_version,
        value_codec=value_codec(args.value_codec),
        create=create,
        keep_attempts=args.keep_attempts,
        cluster=cluster_config(args),
    )
    try:
        eventloop.run(_serve(config, source))
    except OSError as exc:
        print(f"actorscope serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(config: ServerConfig, token_source: str) -> None:
    server = await start_server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print_banner(server, token_source, sys.stdout)
    waiter = asyncio.create_task(stop.wait())
    serving = asyncio.create_task(server.wait())
    await asyncio.wait({waiter, serving}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    with contextlib.suppress(BaseException):
        await server.stop()


def print_banner(server: RunningServer, token_source: str, out: TextIO) -> None:
    """Where to connect, which actors exist, and how to authenticate."""
    url, ws = server.url, server.ws_url
    token_path = server.config.data_dir / TOKEN_FILE
    lines = [
        f"web inspector: {url}/ui/",
        f"actorscope serving on {url} (HTTP and WebSocket on one port)",
        f"data directory: {server.config.data_dir.resolve()}",
        *(
            [f"cluster node {server.cluster.node.node_id} (advertised at {server.cluster.address})"]
            if server.cluster is not None
            else []
        ),
        f"inspector protocol: v1-v{server.config.max_protocol_version}",
        "",
        "endpoints:",
        f"  inspector WebSocket: {ws}/gateway/<actorId>/inspector/connect",
        f"  inspector HTTP:      {url}/gateway/<actorId>/inspector/summary",
        f"  client connection:   {ws}/gateway/<actorId>/connect",
        f"  management:          {url}/actors",
        "",
    ]
    match token_source:
        case "dev":
            lines.append("auth: OFF (--dev without --inspector-token); anyone can connect")
        case "new":
            lines += [
                f"server token: {server.server_token}",
                f"  (new; stored in {token_path}, it is not printed again)",
            ]
        case "stored":
            lines.append(f"server token: stored in {token_path} (cat it to use it)")
        case _:
            lines.append("server token: the one given with --inspector-token")
    if token_source != "dev":
        lines += [
            "  send it as 'Authorization: Bearer <token>' (HTTP and WebSocket) or the",
            "  WebSocket subprotocol 'rivet_inspector_token.<token>'; an actor's own token",
            f"  (GET {url}/actors/<actorId>/inspector-token) opens only that actor",
        ]
    actors = server.directory.actors()
    if actors:
        lines += ["", "actors:"]
        for actor in actors:
            record = actor.record
            lines.append(f"  actor {record.name}/{record.key}: {record.actor_id}")
        first = actors[0].actor_id
        auth = "" if token_source == "dev" else " -H 'Authorization: Bearer <token>'"
        lines += ["", "try:", f"  curl{auth} {url}/gateway/{first}/inspector/summary"]
        orders = [a.actor_id for a in actors if a.record.name == "order"]
        if orders:
            # The demo order workflow ends waiting for this message.
            lines.append(
                f'  curl{auth} -X POST -d \'{{"by": "me"}}\' '
                f"{url}/gateway/{orders[0]}/queue/approval   # approve the demo order"
            )
    lines += ["", "(Ctrl-C stops the server)"]
    print("\n".join(lines), file=out, flush=True)
