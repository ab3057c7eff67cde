"""Fixtures for the client tests: the server tests' real-server fixtures, reused.

``tests/server/conftest.py`` starts a real actorscope server with the demo
registry (``server``, ``demo_ids``, ``server_factory``, ``serve_process``,
``auth``); it is loaded here by path (no ``__init__.py`` in tests) and its
fixtures re-exported so the client is tested against the same server.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "server" / "conftest.py"
_spec = importlib.util.spec_from_file_location("_actorscope_server_fixtures", _PATH)
assert _spec is not None and _spec.loader is not None
_server_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_server_fixtures)

SERVER_TOKEN = _server_fixtures.SERVER_TOKEN
server_factory = _server_fixtures.server_factory
server = _server_fixtures.server
demo_ids = _server_fixtures.demo_ids
auth = _server_fixtures.auth
serve_process = _server_fixtures.serve_process
