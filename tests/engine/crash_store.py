"""Where the crash tests keep their histories: a SQLite file or a PostgreSQL schema.

A store spec is a SQLite file path, or ``postgresql://…#schema`` (a schema
of that database, so that one test database holds several stores). Shared
by ``crash_worker.py`` (run as a script: this file sits beside it on
``sys.path``) and ``test_crash.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["open_driver", "postgres_spec"]


def postgres_spec(dsn: str, schema: str) -> str:
    return f"{dsn}#{schema}"


async def open_driver(spec: str, namespace: str) -> tuple[Any, Callable[[], Awaitable[None]]]:
    """The driver of ``namespace`` in the store ``spec``, and how to close it."""
    if spec.startswith("postgresql://"):
        from actorscope.engine.postgres_driver import PostgresStore

        dsn, _, schema = spec.partition("#")
        store = await PostgresStore.open(dsn, schema=schema or "actorscope", max_size=2)
        return store.driver(namespace), store.close

    from actorscope.engine import SQLiteDriver

    driver = SQLiteDriver(spec, namespace)

    async def close() -> None:
        driver.close()

    return driver, close
