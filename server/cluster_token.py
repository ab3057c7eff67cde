"""One server token for the whole cluster: its hash in the database, checked by every node.

Clients authenticate with the server-wide token at whichever node they
reach, and requests are forwarded unchanged to the owner, which checks the
token again; nodes with different tokens would make a client's requests
succeed or fail depending on the node they land on. So the first node to
start records the token's salted scrypt hash in the cluster's schema::

    cluster_token(singleton, hash, recorded_by, recorded_at)

and every node checks its own token against it when it starts:

* **a token given** (``--inspector-token-file``, ``$ACTORSCOPE_INSPECTOR_TOKEN``,
  ``--inspector-token``, or the one stored in the data directory): recorded
  when the cluster has none yet, else it must match; a node whose token
  does not match refuses to start (``ClusterStartError``).
* **no token at all**: if the cluster has one, the node refuses to start
  (it cannot learn a token from its hash); if not, the node generates one,
  records it and stores it in its data directory (``server-token``, 0600)
  as a lone server would, and the banner prints it once.
* **``--dev`` with no token**: refused when the cluster has a token (the
  node would serve its actors with auth off); otherwise nothing is recorded.

Two nodes starting at once with different tokens: the first insert wins,
the other finds a different hash and refuses. The token itself is never
written to the database, the logs or an error message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from psycopg import sql

from actorscope.engine.postgres_driver import PostgresStore

from .cluster_boot import ClusterStartError
from .filemodes import private_dir
from .server_token import TOKEN_ENV, TOKEN_FILE

__all__ = ["agree_token", "hash_token", "token_matches"]

# scrypt's cost: ~16 MiB and tens of milliseconds, once per node start.
_N, _R, _P = 2**14, 8, 1

_NONE_HERE = "this cluster has a server token and this node has none"
_GIVE_IT = f"give this node the cluster's token with --inspector-token-file PATH or ${TOKEN_ENV}"


def hash_token(token: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (hex) of ``token``."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(token.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def token_matches(token: str, stored: str) -> bool:
    """Whether ``token`` is the one ``stored`` (a :func:`hash_token` value) was made from."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        mine = hashlib.scrypt(
            token.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:
        return False
    return hmac.compare_digest(mine.hex(), digest)


async def agree_token(
    pg: PostgresStore,
    *,
    node_id: str,
    token: str | None,
    source: str,
    dev: bool,
    data_dir: Path,
) -> tuple[str | None, bool]:
    """Check (or record) this node's token against the cluster's.

    Args:
        token: this node's server token, ``None`` when it has none.
        source: where it came from (``server_token.resolve_token``), for the message.

    Returns:
        ``(token, generated)``: the token to serve with, and whether it was
        generated here (and recorded, and stored in ``data_dir``).

    Raises:
        ClusterStartError: the cluster has another token, or one this node lacks.
    """
    schema = sql.Identifier(pg.schema)
    create = sql.SQL(
        "CREATE TABLE IF NOT EXISTS {schema}.cluster_token ("
        " singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),"
        " hash TEXT NOT NULL, recorded_by TEXT NOT NULL,"
        " recorded_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    ).format(schema=schema)
    select = sql.SQL("SELECT hash FROM {schema}.cluster_token").format(schema=schema)
    insert = sql.SQL(
        "INSERT INTO {schema}.cluster_token (hash, recorded_by) VALUES (%s, %s)"
        " ON CONFLICT (singleton) DO NOTHING"
    ).format(schema=schema)
    async with pg.pool.connection() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (pg.schema + ".cluster_token",)
        )
        await conn.execute(create)
        row = await (await conn.execute(select)).fetchone()
    recorded: str | None = None if row is None else str(row[0])
    generated = False
    if token is None and recorded is not None:
        if dev:
            raise ClusterStartError(
                "this cluster has a server token, and a --dev node without it would serve "
                f"its actors with auth off; {_GIVE_IT}"
            )
        raise ClusterStartError(f"{_NONE_HERE}; {_GIVE_IT}")
    if token is None:
        if dev:
            return None, False
        token, generated = secrets.token_hex(24), True
    if generated:
        # Stored before it is recorded: a recorded token is never one nobody has.
        _store(data_dir, token)
    if recorded is None:
        hashed = await asyncio.to_thread(hash_token, token)
        async with pg.pool.connection() as conn:
            await conn.execute(insert, (hashed, node_id))
            row = await (await conn.execute(select)).fetchone()
        assert row is not None
        recorded = str(row[0])
    if await asyncio.to_thread(token_matches, token, recorded):
        return token, generated
    if generated:
        # Another node recorded its token a moment before us: ours is no one's.
        (data_dir / TOKEN_FILE).unlink(missing_ok=True)
        raise ClusterStartError(f"{_NONE_HERE}; {_GIVE_IT}")
    where = {
        "stored": f"the one stored in {data_dir / TOKEN_FILE}",
        "file": "the one in --inspector-token-file",
        "env": f"the one in ${TOKEN_ENV}",
    }.get(source, "the one given")
    raise ClusterStartError(
        f"this node's server token ({where}) is not the cluster's, and every node of a "
        f"cluster must have the same one; {_GIVE_IT}"
    )


def _store(data_dir: Path, token: str) -> None:
    private_dir(data_dir)
    # Created 0600 from the start, as server_token.py does: never world-readable.
    fd = os.open(data_dir / TOKEN_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
