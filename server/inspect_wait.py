"""``actorscope inspect wait`` and ``send``: script a workflow from the shell.

``wait PATH`` polls the workflow history until an entry at PATH exists (and,
with ``--status``, has that status), so a script can wait for "the order is
waiting for its approval" instead of sleeping and hoping. ``send NAME
VALUE`` posts a queue message, what ``ctx.queue.next(NAME)`` takes.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from actorscope.client.history_view import history_rows
from actorscope.client.http import HttpInspector

__all__ = ["EXIT_TIMED_OUT", "add_parsers", "send", "wait"]

#: ``wait`` gave up: the entry did not show up (in that status) in time.
EXIT_TIMED_OUT = 1

# Between two looks at the history; short enough to feel immediate.
_POLL_SECONDS = 0.1


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """The ``wait`` and ``send`` sub-commands of ``inspect``."""
    wait_parser = commands.add_parser(
        "wait", parents=[common], help="wait until the workflow has an entry at PATH"
    )
    wait_parser.add_argument("path", metavar="PATH", help="a location path (items/~1/reserve)")
    wait_parser.add_argument(
        "--status",
        metavar="STATUS",
        help="and until it has this status (COMPLETED, PENDING, SLEEPING, FAILED, ...)",
    )
    wait_parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="give up after S seconds (30)"
    )
    send_parser = commands.add_parser(
        "send", parents=[common], help="send the workflow a queue message"
    )
    send_parser.add_argument("queue_name", metavar="NAME", help="the queue (ctx.queue.next(NAME))")
    send_parser.add_argument(
        "value", nargs="?", default="null", metavar="JSON", help="the message (default null)"
    )


def wait(args: argparse.Namespace, actor: HttpInspector) -> int:
    """Until PATH is in the history (with ``--status``, in that status); 1 on timeout."""
    wanted = args.status.upper() if args.status else None
    deadline = time.monotonic() + args.timeout
    seen: str | None = None
    while True:
        history = (actor.workflow_history() or {}).get("history") or {}
        for row in history_rows(history):
            if row.path == args.path:
                seen = row.status
                if wanted is None or row.status == wanted:
                    print(f"{row.path}: {row.status}")
                    return 0
        if time.monotonic() >= deadline:
            now = f"it is {seen}" if seen else "there is no such entry"
            target = f"{args.path} to be {wanted}" if wanted else args.path
            print(f"actorscope inspect: timed out waiting for {target} ({now})")
            return EXIT_TIMED_OUT
        time.sleep(_POLL_SECONDS)


def send(args: argparse.Namespace, actor: HttpInspector) -> Any:
    """Post the message; returns the server's answer (``{"ok", "queueSize"}``)."""
    try:
        value = json.loads(args.value)
    except ValueError:
        # As for ``call``: a word that is not JSON is a string.
        value = args.value
    return actor.send(args.queue_name, value)
