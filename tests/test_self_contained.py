"""The repository stands on its own and its help text reads as plain prose.

A clone must not lean on anything beside it: no file refers to the sibling
folder this project was started from, and the contracts the code cites live
in ``docs/``. ``actorscope --help`` and every sub-command's ``--help`` show no
issue numbers (meaningless outside the team) and no raw reStructuredText
literals.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from actorscope.server.cli import build_parser, main, plain_text

ROOT = Path(__file__).resolve().parents[1]

# The team's folder beside the repo, which a clone does not have: no file may
# point into it. Spelled from its bytes so that this file does not match itself.
_SIBLING = bytes([46, 46, 47]) + b"sha" + b"red"

# Directories that are not part of the repository's content.
_SKIP_DIRS = {
    ".git", ".venv", ".lint", "__pycache__", ".pytest_cache", ".mypy_cache",
    ".ruff_cache", ".hypothesis", ".actorscope", ".browser-failures", "build",
    "dist", "node_modules",
}

_ISSUE_NUMBER = re.compile(r"(?i)\bissues?\s*#?\s*\d+|#\d+\b")


def _repo_files() -> list[Path]:
    """Every file of the checkout: tracked and untracked-but-not-ignored."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        out = b""
    if out:
        return [ROOT / os.fsdecode(name) for name in out.split(b"\0") if name]
    # Not a git checkout (an unpacked archive): walk it.
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info")]
        found.extend(Path(dirpath) / name for name in filenames)
    return found


def test_no_file_refers_to_the_sibling_folder() -> None:
    files = [path for path in _repo_files() if path.is_file()]
    assert len(files) > 50, "the file listing found almost nothing"
    offenders = sorted(
        str(path.relative_to(ROOT)) for path in files if _SIBLING in path.read_bytes()
    )
    assert offenders == []


def test_the_cited_contracts_are_in_docs() -> None:
    for name in ("PROTOCOL.md", "ENGINE.md"):
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        assert text.startswith("# "), name
    protocol = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    # The code cites these sections by number.
    for section in range(1, 12):
        assert re.search(rf"^## {section}\. ", protocol, re.MULTILINE), f"§{section}"
    for sub in ("9.1", "9.2", "9.3", "9.4", "9.5", "9.6", "9.7", "9.8",
                "10.1", "10.2", "10.3", "10.4", "10.5"):
        assert re.search(rf"^### {re.escape(sub)} ", protocol, re.MULTILINE), f"§{sub}"


def test_readme_links_both_documents() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/PROTOCOL.md)" in readme
    assert "(docs/ENGINE.md)" in readme


def _command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[
    tuple[str, ...]
]:
    """The root command and every sub-command, depth first."""
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _command_paths(sub, (*prefix, name))


COMMANDS = list(_command_paths(build_parser()))


def _help(path: tuple[str, ...]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    return out.getvalue()


def test_every_sub_command_is_listed() -> None:
    names = {path[0] for path in COMMANDS if path}
    assert {"serve", "frame", "inspect"} <= names
    assert len(COMMANDS) > 10


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "actorscope")
def test_help_has_no_issue_numbers_nor_rst_literals(path: tuple[str, ...]) -> None:
    text = _help(path)
    assert "usage: actorscope" in text
    assert _ISSUE_NUMBER.findall(text) == []
    assert "``" not in text


def test_the_installed_command_help_is_plain() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "actorscope", "serve", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "usage: actorscope serve" in out
    assert "``" not in out
    assert _ISSUE_NUMBER.findall(out) == []


def test_plain_text_keeps_the_words() -> None:
    rendered = plain_text("``--dev`` with ``--name NAME\n--key KEY``")
    assert rendered == "--dev with --name NAME\n--key KEY"
    assert plain_text("no markup") == "no markup"
