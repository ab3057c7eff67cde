"""Serving from Python: ``serve(app)`` (blocking) and ``await start_server(app)``.

``app`` is what ``actorscope serve`` takes: a :class:`Registry`, an iterable
of :class:`Actor` declarations, one declaration, or a ``"MODULE:ATTR"``
string. Both take the same keywords as the command's flags and resolve the
server-wide token the same way (given, or stored in the data directory, or
generated and stored there).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from actorscope.engine.replay import DEFAULT_KEEP_ATTEMPTS

from . import eventloop
from .app_loader import as_registry, load_app
from .definitions import Actor, ActorDefinition, Registry, parse_create
from .foreground import serve_forever
from .runner import RunningServer, ServerConfig
from .runner import start_server as _start_server

__all__ = ["App", "NoActorsError", "build_config", "serve", "start_server"]

#: What can be served: a registry, actor declarations, or a ``MODULE:ATTR`` spec.
App = Registry | Actor | ActorDefinition | Iterable[Actor | ActorDefinition] | str

DEFAULT_PORT = 6420


class NoActorsError(ValueError):
    """The app holds no actor definitions (a server of nothing would be silent)."""


def _registry(app: App) -> Registry:
    registry = load_app(app) if isinstance(app, str) else as_registry(app)
    # Build every definition now: a bad declaration (state checkpoints
    # without a workflow, say) is refused before the server starts.
    list(registry)
    if len(registry) == 0:
        raise NoActorsError(
            "no actor definitions to serve: pass a registry of actorscope.Actor "
            "declarations (for example actorscope.Registry([counter]))"
        )
    return registry


def build_config(
    app: App,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    data: str | Path = ".actorscope",
    token: str | None = None,
    token_file: str | Path | None = None,
    dev: bool = False,
    create: Iterable[str | tuple[str, str]] = (),
    keep_attempts: int = DEFAULT_KEEP_ATTEMPTS,
    generate_token: bool = True,
) -> tuple[ServerConfig, str]:
    """The server configuration for ``app`` and where its token came from.

    ``generate_token=False`` (a cluster node): no token anywhere leaves it
    ``None`` (source ``none``), for the cluster to decide.

    Raises:
        NoActorsError: ``app`` holds no actors.
        ValueError: ``create`` names an actor type ``app`` does not define.
        TokenError: ``token_file`` is unreadable or empty.
    """
    # The token logic is the command's (server_token.py), so a script and
    # ``actorscope serve`` on one data directory share a token.
    from .server_token import resolve_token

    registry = _registry(app)
    wanted = [*registry.create, *(parse_create(c) if isinstance(c, str) else c for c in create)]
    unknown = sorted({name for name, _ in wanted if registry.get(name) is None})
    if unknown:
        raise ValueError(
            f"cannot create {', '.join(map(repr, unknown))}: not an actor type of this app "
            f"(it defines {', '.join(registry.names())})"
        )
    data_dir = Path(data)
    server_token, source = resolve_token(
        data_dir,
        token,
        dev,
        token_file=None if token_file is None else Path(token_file),
        generate=generate_token,
    )
    config = ServerConfig(
        registry=registry,
        data_dir=data_dir,
        host=host,
        port=port,
        server_token=server_token,
        dev=dev,
        create=tuple(dict.fromkeys(wanted)),
        keep_attempts=keep_attempts,
    )
    return config, source


async def start_server(
    app: App,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    data: str | Path = ".actorscope",
    token: str | None = None,
    dev: bool = False,
    create: Iterable[str | tuple[str, str]] = (),
    keep_attempts: int = DEFAULT_KEEP_ATTEMPTS,
) -> RunningServer:
    """Start serving ``app`` in the running event loop; ``await server.stop()`` ends it.

    Keywords: ``host``, ``port`` (default 6420; 0 picks a free port, read
    back as ``server.port``), ``data`` (the data directory), ``token`` (the
    server-wide token), ``dev``, ``create`` (``"NAME"``/``"NAME:KEY"``
    instances to create or reopen), ``keep_attempts``. ``server.url`` and
    ``server.server_token`` say how to reach it.
    """
    config, _ = build_config(
        app,
        host=host,
        port=port,
        data=data,
        token=token,
        dev=dev,
        create=create,
        keep_attempts=keep_attempts,
    )
    return await _start_server(config)


def serve(
    app: App,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    data: str | Path = ".actorscope",
    token: str | None = None,
    dev: bool = False,
    create: Iterable[str | tuple[str, str]] = (),
    keep_attempts: int = DEFAULT_KEEP_ATTEMPTS,
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, printing the banner first.

    Takes the keywords of :func:`start_server`. Blocks; for embedding in a
    program that runs its own event loop, use ``start_server``.
    """
    config, source = build_config(
        app,
        host=host,
        port=port,
        data=data,
        token=token,
        dev=dev,
        create=create,
        keep_attempts=keep_attempts,
    )
    eventloop.run(serve_forever(config, source))
