"""The layer arrows of ARCHITECTURE.md, read from the source with ``ast``.

protocol/ imports nothing of ours and no I/O (asyncio, sockets, websockets, ...);
engine/ imports nothing from protocol/, server/ or client/; client/ may import
protocol/ only. Imports inside functions and ``if TYPE_CHECKING:`` count too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("protocol", "engine", "server", "client")
IO_MODULES = frozenset(
    {"asyncio", "socket", "selectors", "ssl", "websockets", "uvicorn", "starlette", "httpx"}
)
# What each layer may import from actorscope (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "protocol": frozenset(),
    "engine": frozenset(),
    "client": frozenset({"protocol"}),
    # "" is the public API module (actorscope/__init__.py), which only
    # re-exports; the demo is written against it, as a user's app is.
    "server": frozenset({"protocol", "engine", "client", ""}),
}


def imports_of(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in ``source`` of ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield node.lineno, name


def violations(layer: str, source: str, module: str, is_package: bool = False) -> list[str]:
    found = []
    for line, name in imports_of(source, module, is_package):
        top = name.split(".")[0]
        if top in LAYERS:
            found.append(f"{module}:{line} imports generic top-level {name!r}")
        if layer == "protocol" and top in IO_MODULES:
            found.append(f"{module}:{line} imports I/O module {name!r}")
        if top == "actorscope":
            parts = name.split(".")
            target = parts[1] if len(parts) > 1 else ""
            if target != layer and target not in ALLOWED[layer]:
                found.append(f"{module}:{line} ({layer}) imports {name!r}")
    return found


def layer_files(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_point_the_right_way(layer: str) -> None:
    assert (ROOT / layer).is_dir()
    problems = []
    for path in layer_files(layer):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = ["actorscope", *rel.parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        source = path.read_text("utf-8")
        problems += violations(layer, source, ".".join(parts), is_package)
    assert problems == []


def test_the_checker_sees_imports() -> None:
    source = (ROOT / "protocol" / "framing.py").read_text("utf-8")
    names = {n for _, n in imports_of(source, "actorscope.protocol.framing", False)}
    assert "actorscope.protocol.codec" in names
    assert "actorscope.protocol.versions" in names


@pytest.mark.parametrize(
    ("layer", "source", "problem"),
    [
        ("protocol", "import asyncio", "I/O module 'asyncio'"),
        ("protocol", "def f():\n    from websockets import connect", "I/O module 'websockets'"),
        ("protocol", "from socket import socket", "I/O module 'socket'"),
        ("protocol", "from ..engine import Loop", "imports 'actorscope.engine'"),
        ("protocol", "from actorscope.server import app", "imports 'actorscope.server'"),
        ("engine", "from actorscope.protocol import messages", "imports 'actorscope.protocol"),
        (
            "engine",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..server import x",
            "imports 'actorscope.server'",
        ),
        ("client", "from actorscope.engine import Loop", "imports 'actorscope.engine'"),
        ("server", "import protocol.framing", "generic top-level 'protocol.framing'"),
    ],
)
def test_the_checker_catches_violations(layer: str, source: str, problem: str) -> None:
    found = violations(layer, source, f"actorscope.{layer}.mod")
    assert any(problem in p for p in found), found


def test_allowed_imports_pass() -> None:
    client = "from actorscope.protocol import framing"
    assert violations("client", client, "actorscope.client.m") == []
    protocol = "from .bare import U32\nimport struct"
    assert violations("protocol", protocol, "actorscope.protocol.m") == []
    assert violations("engine", "from . import codec", "actorscope.engine", is_package=True) == []
