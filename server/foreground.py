"""Serve in the foreground until SIGINT/SIGTERM, after printing the banner.

Shared by ``actorscope serve`` and the blocking ``actorscope.serve(...)``.
The banner says where to connect, which actor types and instances exist,
how to authenticate, and gives ``curl`` lines that paste as they are: the
token lives in a shell variable (``TOKEN``) the banner itself defines, never
a literal placeholder.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import sys
from typing import TextIO

from .runner import RunningServer, ServerConfig, start_server

__all__ = ["TOKEN_FILE", "print_banner", "serve_forever"]

#: The file in the data directory that holds the server-wide token.
TOKEN_FILE = "server-token"
# The environment variable a server-wide token may come from.
_TOKEN_ENV = "ACTORSCOPE_INSPECTOR_TOKEN"


async def serve_forever(config: ServerConfig, token_source: str, out: TextIO | None = None) -> None:
    """Start a server, print the banner, and serve until SIGINT or SIGTERM."""
    server = await start_server(config)
    if server.cluster is not None and server.cluster.token_generated:
        token_source = "new"  # no node had a token: this one made the cluster's
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        print_banner(server, token_source, out or sys.stdout)
        waiter = asyncio.create_task(stop.wait())
        serving = asyncio.create_task(server.wait())
        await asyncio.wait({waiter, serving}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    finally:
        # The handlers stay until the server has stopped: a second Ctrl-C (or
        # the reloader's SIGINT after the terminal's) must not interrupt the
        # shutdown halfway.
        with contextlib.suppress(BaseException):
            await server.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _token_lines(server: RunningServer, token_source: str) -> tuple[list[str], str | None]:
    """What the banner says about auth, and the shell line that sets ``TOKEN`` (if it can)."""
    token_path = (server.config.data_dir / TOKEN_FILE).resolve()
    set_token: str | None = f"TOKEN=$(cat {shlex.quote(str(token_path))})"
    match token_source:
        case "dev":
            return ["auth: OFF (--dev without a token); anyone can connect"], None
        case "new":
            lines = [
                f"server token: {server.server_token}",
                f"  (new; stored in {token_path}, it is not printed again)",
            ]
        case "stored":
            lines = [f"server token: stored in {token_path}"]
        case "given":
            # It is on the command line already; repeating it here is no new exposure.
            lines = ["server token: the one given on the command line"]
            set_token = f"TOKEN={shlex.quote(server.server_token or '')}"
        case "file":
            lines = ["server token: the one in the --inspector-token-file"]
            set_token = None
        case "env":
            lines = [f"server token: the one in ${_TOKEN_ENV}"]
            set_token = f'TOKEN="${_TOKEN_ENV}"'
        case _:
            # A token from somewhere else (a file, say) is never printed.
            lines = ["server token: the one you gave (set TOKEN to it for the lines below)"]
            set_token = None
    lines += [
        "  send it as 'Authorization: Bearer <token>' (HTTP and WebSocket); a browser",
        "  offers the WebSocket subprotocols 'rivet' and 'rivet_inspector_token.<token>'.",
        f"  An actor's own token (GET {server.url}/actors/<actorId>/inspector-token)",
        "  opens only that actor's inspector.",
    ]
    return lines, set_token


def print_banner(server: RunningServer, token_source: str, out: TextIO) -> None:
    """Where to connect, which actors exist, and how to authenticate."""
    url, ws = server.url, server.ws_url
    lines = [
        f"web inspector: {url}/ui/",
        f"actorscope serving on {url} (HTTP and WebSocket on one port)",
        f"data directory: {server.config.data_dir.resolve()}",
        f"inspector protocol: v1-v{server.config.max_protocol_version}",
        "",
        "actor types:",
    ]
    for definition in server.config.registry:
        parts = []
        if definition.workflow is not None:
            parts.append("workflow")
        if definition.database is not None:
            parts.append("database")
        actions = ", ".join(sorted(definition.actions)) or "none"
        parts.append(f"actions: {actions}")
        lines.append(f"  {definition.name:<12} {'; '.join(parts)}")
    actors = server.directory.actors()
    lines += ["", "instances (name/key: actor id):"]
    if actors:
        labels = [f"{a.record.name}/{a.record.key or chr(34) * 2}" for a in actors]
        width = max(map(len, labels))
        for label, actor in zip(labels, actors, strict=True):
            lines.append(f"  {label:<{width}}  {actor.actor_id}")
    else:
        lines.append("  none yet: create one with --create NAME[:KEY] or PUT /actors (below)")
    lines += [
        "",
        "endpoints:",
        f"  inspector WebSocket: {ws}/gateway/<actorId>/inspector/connect",
        f"  inspector HTTP:      {url}/gateway/<actorId>/inspector/summary",
        f"  client connection:   {ws}/gateway/<actorId>/connect",
        f"  management:          {url}/actors",
        "",
    ]
    auth_lines, set_token = _token_lines(server, token_source)
    lines += auth_lines
    auth = "" if token_source == "dev" else ' -H "Authorization: Bearer $TOKEN"'
    lines += ["", "try (these lines paste as they are):"]
    if set_token is not None:
        lines.append(f"  {set_token}")
    first_type = next(iter(server.config.registry)).name
    body = shlex.quote(f'{{"name": "{first_type}", "key": "mine"}}')
    lines.append(f"  curl{auth} -X PUT -d {body} {url}/actors")
    if actors:
        first = actors[0]
        lines.append(f"  curl{auth} {url}/gateway/{first.actor_id}/inspector/summary")
        with_actions = [a for a in actors if a.definition.actions]
        if with_actions:
            target = with_actions[0]
            action = sorted(target.definition.actions)[0]
            lines.append(
                f"  curl{auth} -X POST -d '{{\"args\": []}}' "
                f"{url}/gateway/{target.actor_id}/inspector/action/{action}"
            )
        orders = [a.actor_id for a in actors if a.record.name == "order"]
        if orders:
            # The demo order workflow ends waiting for this message.
            lines.append(
                f'  curl{auth} -X POST -d \'{{"by": "me"}}\' '
                f"{url}/gateway/{orders[0]}/queue/approval   # approve the demo order"
            )
    lines += ["", "(Ctrl-C stops the server)"]
    print("\n".join(lines), file=out, flush=True)
