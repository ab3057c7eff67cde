"""Shared fixtures for the engine tests: drivers, a manual clock, a call log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actorscope.engine import MemoryDriver, SQLiteDriver
from actorscope.engine.clock import ManualClock
from actorscope.engine.driver import Driver


@pytest.fixture(params=["memory", "sqlite"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    """Each test runs against the in-memory and the SQLite driver."""
    if request.param == "memory":
        yield MemoryDriver()
        return
    sqlite = SQLiteDriver(tmp_path / "engine.db", "wf")
    try:
        yield sqlite
    finally:
        sqlite.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


class Calls:
    """Records which step callbacks ran, in order."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def step(self, name: str, value: Any = None) -> Callable[[], Any]:
        """A zero-argument step callback that logs ``name`` and returns ``value``."""

        def callback() -> Any:
            self.names.append(name)
            return name if value is None else value

        return callback

    def clear(self) -> None:
        self.names.clear()


@pytest.fixture
def calls() -> Calls:
    return Calls()
