"""Starting a server as a cluster node: the settings, the store, the node, the router.

``ServerConfig.cluster`` set to a ``ClusterConfig`` makes ``start_server``
open the PostgreSQL store named by ``dsn`` instead of the SQLite file, run
a ``ClusterNode`` (``cluster.py``) and put the ``ClusterRouter``
(``cluster_routing.py``) in front of the app. A server without it is
exactly the lone server it always was (none of this is imported then).
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from typing import Any

import attrs

__all__ = ["ClusterConfig", "ClusterRun", "random_node_id"]


def random_node_id() -> str:
    return "node-" + secrets.token_hex(4)


@attrs.frozen
class ClusterConfig:
    """How this node joins the cluster.

    Attributes:
        dsn: the PostgreSQL connection string (``postgresql://…``).
        node_id: unique per running node; a node restarted with the same id
            gets back the actors pinned to it.
        advertise_url: where other nodes forward requests to (``http://host:port``);
            ``None``: the bound address.
        lease_ms: how long an actor's lease lasts without renewal.
        schema: the PostgreSQL schema holding the tables.
    """

    dsn: str
    node_id: str = attrs.field(factory=random_node_id)
    advertise_url: str | None = None
    lease_ms: int = 10_000
    schema: str = "actorscope"


class ClusterRun:
    """The running parts of a node: its socket, address and ``ClusterNode``."""

    def __init__(self, node: Any, sock: socket.socket, address: str) -> None:
        self.node = node
        self.sock = sock
        self.address = address

    @classmethod
    async def open(cls, config: ClusterConfig, data_dir: Path, sock: socket.socket) -> ClusterRun:
        from actorscope.engine.postgres_driver import PostgresStore

        from .cluster import ClusterNode

        try:
            pg = await PostgresStore.open(config.dsn, schema=config.schema)
        except BaseException:
            sock.close()
            raise
        host, port = sock.getsockname()[:2]
        if config.advertise_url is not None:
            address = config.advertise_url.rstrip("/")
        else:
            shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
            shown = f"[{shown}]" if ":" in shown else shown
            address = f"http://{shown}:{port}"
        node = ClusterNode(
            pg, data_dir, node_id=config.node_id, dsn=config.dsn, lease_ms=config.lease_ms
        )
        return cls(node, sock, address)

    def wrap(self, app: Any) -> Any:
        from .cluster_routing import ClusterRouter

        return ClusterRouter(app, self.node)

    async def abort(self) -> None:
        """Startup failed: give back what was taken."""
        self.sock.close()
        await self.node.stop_ticking()
        await self.node.release_all()
