"""An actor's own SQLite database: the connection actions use, and the inspector's view of it.

The schema answer follows the shape RivetKit's inspector database view reads
(PROTOCOL.md §3 ``DatabaseSchemaResponse``)::

    {"tables": [{"table": {"schema": "main", "name": ..., "type": "table"},
                 "columns": [{"cid", "name", "type", "notnull", "dflt_value", "pk"}],
                 "foreignKeys": [{"table", "from", "to"}],
                 "records": <row count>}]}
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .definitions import DatabaseSetup
from .errors import invalid_request, table_not_found
from .filemodes import private_sqlite_file

__all__ = ["ActorDatabase"]


#: SQLite integers are signed 64-bit: the largest LIMIT or OFFSET it accepts.
_SQLITE_MAX_INT = 2**63 - 1


def _quote(identifier: str) -> str:
    # SQLite identifier quoting: double the embedded quotes.
    return '"' + identifier.replace('"', '""') + '"'


class ActorDatabase:
    """One actor's SQLite file, opened for the life of the actor."""

    def __init__(self, path: Path, setup: DatabaseSetup) -> None:
        private_sqlite_file(path)  # 0600 before SQLite creates its WAL beside it
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        (ready,) = self.conn.execute("PRAGMA user_version").fetchone()
        if not ready:
            # Setup and the "done" mark (user_version) commit together, so a
            # crash mid-setup leaves an empty file that is set up next time.
            self.conn.execute("BEGIN")
            try:
                setup(self.conn)
                self.conn.execute("PRAGMA user_version = 1")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    def _tables(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
            " AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        return [(str(name), str(kind)) for name, kind in rows]

    def schema(self) -> dict[str, Any]:
        tables = []
        for name, kind in self._tables():
            quoted = _quote(name)
            columns = [
                {
                    "cid": cid,
                    "name": col,
                    "type": col_type,
                    "notnull": bool(notnull),
                    "dflt_value": default,
                    "pk": pk,
                }
                for cid, col, col_type, notnull, default, pk in self.conn.execute(
                    f"PRAGMA table_info({quoted})"
                )
            ]
            foreign_keys = [
                {"table": row[2], "from": row[3], "to": row[4]}
                for row in self.conn.execute(f"PRAGMA foreign_key_list({quoted})")
            ]
            (records,) = self.conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()
            tables.append(
                {
                    "table": {"schema": "main", "name": name, "type": kind},
                    "columns": columns,
                    "foreignKeys": foreign_keys,
                    "records": records,
                }
            )
        return {"tables": tables}

    def rows(self, table: str, limit: int, offset: int) -> list[dict[str, Any]]:
        """Rows of ``table`` in rowid order.

        Raises:
            InspectorError: ``table_not_found``; ``request.invalid`` for a
                ``limit`` or ``offset`` SQLite cannot take (0 .. 2**63-1).
        """
        for name, value in (("limit", limit), ("offset", offset)):
            if not 0 <= value <= _SQLITE_MAX_INT:
                raise invalid_request(f"{name} must be between 0 and {_SQLITE_MAX_INT}")
        if table not in {name for name, _ in self._tables()}:
            raise table_not_found(table)
        cursor = self.conn.execute(
            f"SELECT * FROM {_quote(table)} LIMIT ? OFFSET ?", (limit, offset)
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
