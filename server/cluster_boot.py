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

__all__ = ["ClusterConfig", "ClusterRun", "ClusterStartError", "random_node_id"]


class ClusterStartError(Exception):
    """This node cannot join its cluster (the message says what to do)."""


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
        token_source: where the server token came from (``server_token.resolve_token``),
            named in the error when it is not the cluster's.
    """

    dsn: str
    node_id: str = attrs.field(factory=random_node_id)
    advertise_url: str | None = None
    lease_ms: int = 10_000
    schema: str = "actorscope"
    token_source: str = "given"


class ClusterRun:
    """The running parts of a node: its socket, address and ``ClusterNode``."""

    def __init__(
        self,
        node: Any,
        sock: socket.socket,
        address: str,
        token: str | None = None,
        token_generated: bool = False,
    ) -> None:
        self.node = node
        self.sock = sock
        self.address = address
        #: The server token every node of the cluster shares (``cluster_token.py``).
        self.token = token
        self.token_generated = token_generated

    @classmethod
    async def open(
        cls,
        config: ClusterConfig,
        data_dir: Path,
        sock: socket.socket,
        *,
        token: str | None,
        dev: bool,
    ) -> ClusterRun:
        """Connect, agree on the server token, and make the node.

        Raises:
            ClusterStartError: the database cannot be reached, or this
                node's token is not the cluster's.
        """
        import psycopg

        from actorscope.engine.postgres_driver import PostgresStore

        from .cluster import ClusterNode
        from .cluster_token import agree_token

        try:
            pg = await PostgresStore.open(
                config.dsn, schema=config.schema, idle_in_transaction_ms=config.lease_ms
            )
        except psycopg.OperationalError as exc:
            sock.close()
            # psycopg's reason names host, port, database and user, never the password.
            reason = " ".join(str(exc).split())
            raise ClusterStartError(f"cannot reach the cluster's database: {reason}") from exc
        except BaseException:
            sock.close()
            raise
        try:
            token, generated = await agree_token(
                pg,
                node_id=config.node_id,
                token=token,
                source=config.token_source,
                dev=dev,
                data_dir=data_dir,
            )
        except BaseException:
            sock.close()
            await pg.close()
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
        return cls(node, sock, address, token, generated)

    def wrap(self, app: Any) -> Any:
        from .cluster_routing import ClusterRouter

        return ClusterRouter(app, self.node)

    async def abort(self) -> None:
        """Startup failed: give back what was taken."""
        self.sock.close()
        await self.node.stop_ticking()
        await self.node.release_all()
