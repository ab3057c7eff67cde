"""The public API: what ``actorscope`` and ``actorscope.engine`` export, and nothing more."""

from __future__ import annotations

import subprocess
import sys
import types

import actorscope
import actorscope.engine

ACTORSCOPE_API = [
    "Actor",
    "ActorContext",
    "HistoryDivergedError",
    "Loop",
    "Registry",
    "RunningServer",
    "StepExhausted",
    "WorkflowContext",
    "__version__",
    "serve",
    "start_server",
]

# The workflow author's names; the machinery lives in the submodules.
ENGINE_API = [
    "DuplicateNameError",
    "EngineError",
    "HistoryDivergedError",
    "Loop",
    "LoopBreak",
    "LoopContinue",
    "MemoryDriver",
    "RunResult",
    "SQLiteDriver",
    "StepExhausted",
    "WorkflowContext",
    "run_workflow",
]


def test_actorscope_exports_the_user_api() -> None:
    assert actorscope.__all__ == ACTORSCOPE_API
    for name in ACTORSCOPE_API:
        assert getattr(actorscope, name) is not None
    assert actorscope.Loop is actorscope.engine.Loop


def test_engine_public_names_are_the_user_api() -> None:
    assert actorscope.engine.__all__ == ENGINE_API
    # Nothing else public is reachable on the package (submodules aside).
    public = {
        name
        for name, value in vars(actorscope.engine).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(ENGINE_API)


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        actorscope.ActorDefinitionz  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "ActorDefinitionz" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_protocol_and_client_users_do_not_load_the_server() -> None:
    code = (
        "import sys, actorscope.protocol, actorscope.client; "
        "print(sorted(m for m in sys.modules if m.startswith(('actorscope.server', 'uvicorn'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_demo_is_written_on_the_public_api_only() -> None:
    import ast
    from pathlib import Path

    source = (Path(__file__).resolve().parents[1] / "server" / "demo.py").read_text()
    ours = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import reaches into the machinery"
            ours.add(node.module or "")
        elif isinstance(node, ast.Import):
            ours.update(alias.name for alias in node.names)
    assert {m for m in ours if m.startswith("actorscope")} == {"actorscope"}
