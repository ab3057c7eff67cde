"""``actorscope serve``: run a server in the foreground and print where to connect.

What to serve: ``actorscope serve MODULE:ATTR`` imports MODULE (the current
directory first, as uvicorn does) and serves the actors ATTR names: a
registry, an iterable of actor declarations, or a zero-argument function
returning either. ``--demo`` is ``actorscope serve
actorscope.server.demo:demo_registry``. ``--create NAME[:KEY]`` (repeatable)
creates or reopens instances at start; without ``:KEY`` the key is empty.
A server with no actor definitions refuses to start.

``--reload`` runs the server in a child process and restarts it when a
Python file under the current directory (or a ``--reload-dir``) changes.
A restart is the ordinary resume path: a running workflow picks up where
its history ends, as after any restart.

Auth (docs/PROTOCOL.md §6): outside ``--dev``, the server always has a
server-wide token. Give it in a file (``--inspector-token-file PATH``) or the
environment (``ACTORSCOPE_INSPECTOR_TOKEN``); ``--inspector-token T`` works
too, but puts it in the process list for every local user to read.
Otherwise the token stored in the data directory (``server-token``) is
reused, or a new one is generated, stored there (mode 0600) and printed
once. ``--dev`` with no token turns auth off and says so. A cluster node
(``--store``) must have the cluster's token: the first node records its
hash in the database, and a node with another token (or none, once one is
recorded) refuses to start, exit code 2.

Limits: ``--max-body-bytes N`` (HTTP bodies, default 1 MiB: bigger get 413)
and ``--header-timeout S`` (seconds to send a request head, default 10).

``--keep-attempts N`` bounds the archive of what replays discarded: each
workflow keeps its newest N attempts (default 20); an older one answers 404
``workflow.attempt_not_found``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import attrs

from actorscope.engine.replay import DEFAULT_KEEP_ATTEMPTS
from actorscope.protocol.framing import NEWEST_VERSION, VERSIONS
from actorscope.protocol.values import VALUE_CODECS, CborCodec, value_codec

from . import eventloop
from .app_loader import AppLoadError, AppRaised
from .cluster_boot import ClusterStartError
from .embed import DEFAULT_PORT, NoActorsError, build_config
from .foreground import TOKEN_FILE, serve_forever
from .limits import add_limit_arguments, limits_from_args
from .nodes_cli import add_cluster_arguments, cluster_config
from .server_token import TOKEN_ENV, TokenError, resolve_token

__all__ = ["DEMO_APP", "TOKEN_FILE", "register", "resolve_token", "run"]

#: What ``--demo`` serves.
DEMO_APP = "actorscope.server.demo:demo_registry"

_NO_ACTORS = """actorscope serve: no actor definitions to serve.
Name the module and attribute that hold your actors, for example
    actorscope serve app:registry
where ./app.py has
    import actorscope
    counter = actorscope.Actor("counter", state={"count": 0})
    registry = actorscope.Registry([counter])
or try the demo actors: actorscope serve --demo"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the actor server (HTTP + WebSocket inspector on one port)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "app",
        nargs="?",
        metavar="MODULE:ATTR",
        help="the actors to serve, e.g. app:registry (./app.py, attribute registry)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--data", type=Path, default=Path(".actorscope"), help="data directory")
    parser.add_argument("--demo", action="store_true", help=f"serve the demo actors ({DEMO_APP})")
    parser.add_argument(
        "--create",
        action="append",
        default=[],
        metavar="NAME[:KEY]",
        help="create (or reopen) an instance at start; repeatable; no :KEY means the empty key",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        help="restart the server when a Python file changes (development)",
    )
    parser.add_argument(
        "--reload-dir",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="with --reload: a directory to watch (repeatable; default the current one)",
    )
    tokens = parser.add_mutually_exclusive_group()
    tokens.add_argument(
        "--inspector-token-file",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"read the server-wide token from PATH (recommended, or set {TOKEN_ENV})",
    )
    tokens.add_argument(
        "--inspector-token",
        default=None,
        metavar="TOKEN",
        help="the server-wide token; visible to every local user in the process list, "
        f"so prefer --inspector-token-file or {TOKEN_ENV}",
    )
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
    add_limit_arguments(parser)
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


def run(args: argparse.Namespace) -> int:
    if args.demo and args.app:
        print("actorscope serve: give MODULE:ATTR or --demo, not both", file=sys.stderr)
        return 2
    spec = DEMO_APP if args.demo else args.app
    if spec is None:
        print(_NO_ACTORS, file=sys.stderr)
        return 2
    if args.reload:
        # The child loads the app, so an app that fails to import is reported
        # there and fixed by the next edit, as with any reloading server.
        from .reload import run_with_reload

        return run_with_reload(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    cluster = cluster_config(args)
    try:
        config, source = build_config(
            spec,
            host=args.host,
            port=args.port,
            data=args.data,
            token=args.inspector_token,
            token_file=args.inspector_token_file,
            dev=args.dev,
            create=args.create,
            keep_attempts=args.keep_attempts,
            # A cluster node's token is the cluster's (cluster_token.py).
            generate_token=cluster is None,
        )
    except AppRaised as exc:
        print(exc.traceback, file=sys.stderr, end="")
        print(f"actorscope serve: {exc}", file=sys.stderr)
        return 1
    except NoActorsError:
        print(
            _NO_ACTORS.replace("no actor definitions", f"{spec} holds no actor definitions"),
            file=sys.stderr,
        )
        return 2
    except (AppLoadError, ValueError, TokenError) as exc:
        print(f"actorscope serve: {exc}", file=sys.stderr)
        return 2
    config = attrs.evolve(
        config,
        max_protocol_version=args.max_protocol_version,
        value_codec=value_codec(args.value_codec),
        limits=limits_from_args(args),
        cluster=None if cluster is None else attrs.evolve(cluster, token_source=source),
    )
    try:
        eventloop.run(serve_forever(config, source))
    except ClusterStartError as exc:
        print(f"actorscope serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"actorscope serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
