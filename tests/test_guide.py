"""Every code block of ``docs/guide.md`` runs, in order, in one empty directory.

* A ``python`` block whose first line is ``# NAME.py`` is a file: it is
  written there and imported (``python -c "import NAME"``) to prove it loads.
* Any other ``python`` block is a script, run with the guide's environment.
* A ``sh`` block runs in bash (``set -e``; aliases and ``export``s carry over
  from earlier blocks, as in one terminal session). A line
  ``actorscope serve ...`` starts that server in the background instead
  (the one before it is killed with SIGKILL first, so the guide's restart
  is a crash), on a free port; ``ACTORSCOPE_URL`` points at it and the
  guide's ``127.0.0.1:6420`` is rewritten to its address.
* A ``text`` block right after a ``sh`` or ``python`` block is what that
  block prints, exactly.

Nothing else may appear in a fence, so no example escapes the test.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"
TIMEOUT = 60.0
DEFAULT_ADDRESS = "127.0.0.1:6420"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
_URL = re.compile(r"^actorscope serving on (http://\S+)")


@attrs.frozen
class Block:
    lang: str
    code: str
    line: int


def blocks(text: str) -> list[Block]:
    return [
        Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in _FENCE.finditer(text)
    ]


class Session:
    """The guide's terminal: a scratch directory, its servers and its shell state."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.server: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.servers = 0
        # Lines that set up the shell (export, alias) replay before each block.
        self.prelude: list[str] = ["set -e", "shopt -s expand_aliases"]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ACTORSCOPE_")}
        bin_dir = str(Path(sys.executable).parent)
        self.env["PATH"] = bin_dir + os.pathsep + self.env.get("PATH", "")
        self.env["NO_COLOR"] = "1"

    def rewrite(self, code: str) -> str:
        return code.replace(DEFAULT_ADDRESS, self.url.removeprefix("http://") or DEFAULT_ADDRESS)

    def serve(self, line: str) -> None:
        self.kill()
        args = line.split()[2:]
        log = (self.dir / f".serve-{self.servers}.log").open("wb")
        self.servers += 1
        self.server = subprocess.Popen(
            [sys.executable, "-m", "actorscope", "serve", *args, "--port", "0"],
            cwd=self.dir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        assert self.server.stdout is not None
        url = ""
        for raw in self.server.stdout:
            text = raw.decode().rstrip("\n")
            if m := _URL.match(text):
                url = m.group(1)
            if text.startswith("(Ctrl-C"):
                break
        else:
            raise AssertionError(f"{line!r} exited: {(self.dir / log.name).read_text()}")
        self.url = url
        self.env["ACTORSCOPE_URL"] = url
        self.env["ACTORSCOPE_TOKEN"] = (
            (self.dir / ".actorscope" / "server-token").read_text().strip()
        )

    def kill(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGKILL)
            self.server.wait(TIMEOUT)
        self.server = None

    def shell(self, code: str) -> str:
        out = []
        pending: list[str] = []
        for line in code.splitlines():
            if line.startswith("actorscope serve "):
                out.append(self.bash(pending))
                pending = []
                self.serve(line)
            else:
                pending.append(line)
        out.append(self.bash(pending))
        return "".join(out)

    def bash(self, lines: list[str]) -> str:
        if not any(line.strip() for line in lines):
            return ""
        script = self.dir / ".block.sh"
        # Rewritten now, so an export from an earlier block names this server.
        script.write_text(self.rewrite("\n".join([*self.prelude, *lines, ""])))
        done = subprocess.run(
            ["bash", str(script)],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        self.prelude += [line for line in lines if line.startswith(("export ", "alias "))]
        return done.stdout

    def python(self, code: str) -> str:
        first = code.splitlines()[0]
        if m := re.fullmatch(r"# (\w+)\.py", first):
            (self.dir / f"{m.group(1)}.py").write_text(code)
            self.run_python(["-c", f"import {m.group(1)}"])
            return ""
        return self.run_python(["-c", code])

    def run_python(self, args: list[str]) -> str:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    running = Session(tmp_path)
    yield running
    running.kill()


def test_the_guide_has_only_runnable_blocks() -> None:
    found = blocks(GUIDE.read_text())
    assert len(found) > 20
    assert {b.lang for b in found} <= {"python", "sh", "text"}
    for previous, block in itertools.pairwise(found):
        if block.lang == "text":
            assert previous.lang in ("sh", "python"), f"line {block.line}: output of what?"


def test_every_block_of_the_guide_runs(session: Session) -> None:
    found = blocks(GUIDE.read_text())
    output: str | None = None
    for block in found:
        where = f"docs/guide.md line {block.line}"
        if block.lang == "text":
            assert output is not None, where
            assert output == block.code, f"{where}: printed\n{output}"
            output = None
            continue
        try:
            output = (
                session.python(block.code) if block.lang == "python" else session.shell(block.code)
            )
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None
