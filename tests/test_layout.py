"""The package imports as actorscope.*, and the CLI entry points answer."""

import subprocess
import sys


def test_subpackages_import_under_actorscope() -> None:
    import actorscope.engine
    import actorscope.protocol
    import actorscope.server

    for module in (actorscope.protocol, actorscope.engine, actorscope.server):
        assert module.__name__.startswith("actorscope.")


def test_python_dash_m_prints_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "actorscope", "--help"], capture_output=True, text=True, check=True
    )
    assert "actorscope" in out.stdout
