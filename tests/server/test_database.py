"""An actor's own SQLite database: one-time setup, schema and rows for the inspector."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from actorscope.server.database import ActorDatabase
from actorscope.server.errors import InspectorError


def setup(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute(
        'CREATE TABLE "pet ""table""" (id INTEGER PRIMARY KEY, name TEXT NOT NULL,'
        " owner INTEGER REFERENCES owners(id), photo BLOB)"
    )
    db.execute("INSERT INTO owners (name) VALUES ('ada')")
    db.executemany(
        'INSERT INTO "pet ""table""" (name, owner, photo) VALUES (?, 1, ?)',
        [("rex", b"\x00"), ("tom", None), ("kit", None)],
    )


def test_setup_runs_once(tmp_path: Path) -> None:
    calls: list[int] = []

    def counted(db: sqlite3.Connection) -> None:
        calls.append(1)
        setup(db)

    ActorDatabase(tmp_path / "a.sqlite", counted).close()
    db = ActorDatabase(tmp_path / "a.sqlite", counted)
    assert len(calls) == 1
    assert db.schema()["tables"][0]["records"] == 1
    db.close()


def test_failed_setup_is_retried(tmp_path: Path) -> None:
    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE t (x)")
        raise RuntimeError("half way")

    with pytest.raises(RuntimeError):
        ActorDatabase(tmp_path / "b.sqlite", broken)
    db = ActorDatabase(tmp_path / "b.sqlite", setup)  # nothing of the failed setup remains
    assert [t["table"]["name"] for t in db.schema()["tables"]] == ["owners", 'pet "table"']
    db.close()


def test_schema_and_rows(tmp_path: Path) -> None:
    db = ActorDatabase(tmp_path / "c.sqlite", setup)
    owners, pets = db.schema()["tables"]
    assert owners["table"] == {"schema": "main", "name": "owners", "type": "table"}
    assert pets["records"] == 3
    assert [(c["name"], c["type"], c["notnull"], c["pk"]) for c in pets["columns"]] == [
        ("id", "INTEGER", False, 1),
        ("name", "TEXT", True, 0),
        ("owner", "INTEGER", False, 0),
        ("photo", "BLOB", False, 0),
    ]
    assert pets["foreignKeys"] == [{"table": "owners", "from": "owner", "to": "id"}]
    rows = db.rows('pet "table"', 2, 1)
    assert rows == [
        {"id": 2, "name": "tom", "owner": 1, "photo": None},
        {"id": 3, "name": "kit", "owner": 1, "photo": None},
    ]
    with pytest.raises(InspectorError) as info:
        db.rows("owners; DROP TABLE owners", 10, 0)
    assert (info.value.status, info.value.full_code) == (404, "database.table_not_found")
    assert db.rows("owners", 10, 0) == [{"id": 1, "name": "ada"}]
    db.close()
