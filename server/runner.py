"""Run a server in-process: ``start_server(config) -> RunningServer``.

Used by ``actorscope serve``, the tests and the benchmarks. The socket is
bound here (port 0 picks a free one, read back as ``.port``) and handed to
uvicorn, which serves HTTP and WebSocket on it. uvicorn runs with the
protocols of ``uvicorn_protocols.py``: h11 with a request-head timeout, and
its ``websockets-sansio`` WebSocket protocol (the ``websockets`` protocol
implementation) with messages over 1 MiB after decompression closed with
1009 (PROTOCOL.md §5) and stuck transports aborted. The app is wrapped in
``BodyLimit`` (413 for bodies over ``limits.max_body_bytes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator, Iterable
from pathlib import Path

import attrs
import uvicorn

from actorscope.engine.replay import DEFAULT_KEEP_ATTEMPTS
from actorscope.protocol.framing import NEWEST_VERSION
from actorscope.protocol.values import CborCodec, ValueCodec

from .app import build_app
from .body_limit import BodyLimit
from .cluster_boot import ClusterConfig, ClusterRun
from .definitions import Registry
from .directory import ActorSystem
from .errors import InspectorError
from .event_stream import end_event_streams
from .limits import MAX_MESSAGE_BYTES, Limits
from .store import ActorStore
from .traces import DEFAULT_TRACE_CAPACITY
from .uvicorn_protocols import protocol_classes

__all__ = ["WS_MAX_SIZE", "RunningServer", "ServerConfig", "start_server"]

log = logging.getLogger("actorscope.server")

#: Largest inbound WebSocket message (PROTOCOL.md §5: bigger closes with 1009).
WS_MAX_SIZE = MAX_MESSAGE_BYTES


@attrs.frozen
class ServerConfig:
    """Everything ``start_server`` needs.

    Attributes:
        registry: the actor definitions this server runs.
        data_dir: where the SQLite store lives (created if missing).
        host, port: where to listen; port 0 picks a free port.
        server_token: the server-wide inspector token (``None``: none).
        dev: development mode; with no ``server_token``, auth is off.
        max_protocol_version: the newest inspector protocol version served.
        value_codec: encodes user values on the inspector wire unless a peer
            asks for another (§11; CBOR by default).
        create: (name, key) actors to create (or reopen) at start.
        trace_capacity: spans kept per actor.
        keep_attempts: archived replay attempts kept per workflow.
        limits: body size, request-head timeout, WebSocket message size and
            close timeout (``limits.py``).
        cluster: run as a node of a cluster on PostgreSQL (``cluster_boot.py``);
            ``None``: a lone server on the SQLite file of ``data_dir``.
    """

    registry: Registry
    data_dir: Path = Path(".actorscope")
    host: str = "127.0.0.1"
    port: int = 0
    server_token: str | None = None
    dev: bool = False
    max_protocol_version: int = NEWEST_VERSION
    value_codec: ValueCodec = attrs.field(factory=CborCodec)
    create: tuple[tuple[str, str], ...] = ()
    trace_capacity: int = DEFAULT_TRACE_CAPACITY
    keep_attempts: int = DEFAULT_KEEP_ATTEMPTS
    limits: Limits = attrs.field(factory=Limits)
    cluster: ClusterConfig | None = None


class _Server(uvicorn.Server):
    # The embedding process owns signals (the CLI installs its own; tests and
    # benches must not have SIGINT swallowed), so uvicorn installs none.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class RunningServer:
    """A started server. ``await stop()`` shuts it down and closes the store."""

    def __init__(
        self,
        config: ServerConfig,
        system: ActorSystem,
        server: uvicorn.Server,
        task: asyncio.Task[None],
        port: int,
        cluster: ClusterRun | None = None,
    ) -> None:
        self.config = config
        self.cluster = cluster
        self.directory = system
        self._server = server
        self._task = task
        self.port = port
        self._stopped = False

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def url(self) -> str:
        """``http://host:port`` (the WebSocket endpoints are the same with ``ws://``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :]

    @property
    def server_token(self) -> str | None:
        return self.config.server_token

    async def stop(self) -> None:
        """Stop serving, close every actor and the store (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        # Event streams never end by themselves: end them, or shutdown waits.
        end_event_streams(self._server.config.app)
        self._server.should_exit = True
        if self.cluster is not None:
            await self.cluster.node.stop_ticking()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.directory.stop()
        if self.cluster is not None:
            # After the actors closed cleanly: others take them over at once.
            await self.cluster.node.release_all()

    async def wait(self) -> None:
        """Until the server stops (``should_exit`` set by a signal handler)."""
        await asyncio.shield(self._task)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only
    # when the listening socket names TCP; without it Nagle plus delayed ACKs
    # hold every keep-alive HTTP response for ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


async def start_server(config: ServerConfig) -> RunningServer:
    """Open the store, start every actor, and serve on ``config.host:port``."""
    cluster = None
    if config.cluster is not None:
        # A node binds first: its advertised address defaults to the bound port.
        cluster = await ClusterRun.open(
            config.cluster,
            config.data_dir,
            _bind(config.host, config.port),
            token=config.server_token,
            dev=config.dev,
        )
        # The token the cluster agreed on (cluster_token.py): the given one, or
        # one generated here when neither this node nor the cluster had any.
        config = attrs.evolve(config, server_token=cluster.token)
    system = ActorSystem(
        config.registry,
        ActorStore(config.data_dir) if cluster is None else cluster.node.store,
        server_token=config.server_token,
        dev=config.dev,
        trace_capacity=config.trace_capacity,
        keep_attempts=config.keep_attempts,
    )
    try:
        if cluster is not None:
            await cluster.node.prepare(system, cluster.address)
        await system.start()
    except BaseException:
        if cluster is not None:
            await cluster.abort()
        raise
    try:
        await _create(system, config.create)
        if system.dev_mode:
            log.warning("development mode: inspector and management auth is OFF")
        app = build_app(
            system,
            value_codec=config.value_codec,
            max_protocol_version=config.max_protocol_version,
        )
        if cluster is not None:
            app = cluster.wrap(app)
            await cluster.node.start()
        sock = _bind(config.host, config.port) if cluster is None else cluster.sock
    except BaseException:
        await system.stop()
        if cluster is not None:
            await cluster.abort()
        raise
    limits = config.limits
    http_protocol, ws_protocol = protocol_classes(limits)
    uv_config = uvicorn.Config(
        BodyLimit(app, limits.max_body_bytes),
        http=http_protocol,
        ws=ws_protocol,
        # The frame parser's bound; the message limit itself is applied after
        # decompression by ws_protocol (a compressed frame may be larger).
        ws_max_size=limits.max_message_bytes + limits.wire_allowance,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = _Server(uv_config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            sock.close()
            await system.stop()
            task.result()  # raises what stopped it
            raise RuntimeError("the server stopped during startup")
        await asyncio.sleep(0.01)
    return RunningServer(config, system, server, task, sock.getsockname()[1], cluster)


async def _create(system: ActorSystem, wanted: Iterable[tuple[str, str]]) -> None:
    for name, key in wanted:
        try:
            await system.get_or_create(name, key)
        except InspectorError as exc:
            if exc.group != "cluster":
                raise
            # In a cluster another node may own it: it stays there.
            log.info("actor %s/%s not opened here: %s", name, key, exc.message)
