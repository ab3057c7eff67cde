"""``actorscope serve --reload``: restart the server process when code changes.

The watching is ``watchfiles`` (a maintained, Rust-backed watcher that
uvicorn uses too); it runs the server as a child process, the same command
without ``--reload``, and on a change to a ``.py`` file sends the child
SIGINT (SIGKILL after a few seconds), then starts it again. Restarting a
process is the normal resume path here: actors reopen from the store, and a
workflow continues from its recorded history, so nothing is lost across a
reload that would not survive any restart.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

__all__ = ["child_argv", "run_with_reload"]

log = logging.getLogger("actorscope.server")

# Seconds the child gets to stop after SIGINT before it is killed; the
# server's own graceful shutdown takes about two.
_STOP_TIMEOUT = 5


def child_argv(argv: list[str]) -> list[str]:
    """``argv`` (the ``serve`` arguments) without ``--reload`` and ``--reload-dir``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--reload":
            continue
        elif arg == "--reload-dir":
            skip = True
        elif arg.startswith("--reload-dir="):
            continue
        else:
            out.append(arg)
    return out


def run_with_reload(args: argparse.Namespace) -> int:
    """Serve in a child process, restarted on every change; returns on Ctrl-C."""
    from watchfiles import Change, PythonFilter, run_process

    raw: list[str] = getattr(args, "raw_argv", None) or sys.argv[1:]
    command = [sys.executable, "-m", "actorscope", *child_argv(raw)]
    paths = [Path(p).resolve() for p in args.reload_dir] or [Path.cwd()]
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    log.info("reload: watching %s for changes to .py files", ", ".join(map(str, paths)))

    def changed(changes: set[tuple[Change, str]]) -> None:
        files = sorted({Path(path).name for _, path in changes})
        log.info("reload: %s changed, restarting the server", ", ".join(files))

    run_process(
        *paths,
        target=shlex.join(command),
        target_type="command",
        watch_filter=PythonFilter(),
        callback=changed,
        sigint_timeout=_STOP_TIMEOUT,
    )
    return 0
