"""``actorscope inspect``: the operator's terminal view of one actor.

``actorscope inspect --url URL --actor ID [--token T] COMMAND`` (or
``--name NAME --key KEY``; ``ACTORSCOPE_URL`` / ``ACTORSCOPE_TOKEN`` from the
environment). One-shot commands go through the HTTP API (PROTOCOL.md §8 and
the operator routes: replay by path, dry run, audit); ``watch`` holds a WebSocket inspector
connection (``actorscope.client``) and redraws as pushes arrive.

Exit codes: 0 ok; 1 the server refused or failed (its ``group.code`` is
printed), or the operator declined a replay; 2 usage (bad arguments, no
actor, a replay needing confirmation with no terminal to ask on).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from actorscope.client import InspectorClient, InspectorClientError
from actorscope.client.history_view import diff_histories, history_rows
from actorscope.client.http import HttpInspector, InspectorHttpError, ServerHttp
from actorscope.client.render import (
    Style,
    format_when,
    render_diff,
    render_history,
    render_table,
    schema_tables,
    style_for,
    to_text,
)
from actorscope.client.schedule_view import (
    FIRE_HEADERS,
    SCHEDULE_HEADERS,
    fire_rows,
    schedule_rows,
)
from actorscope.client.watch import watch
from actorscope.protocol.versions import NEWEST_VERSION, VERSIONS

from . import inspect_wait
from .inspect_common import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, UsageError
from .inspect_common import print_json as _print_json
from .inspect_common import wants_json as _json
from .inspect_replay import replay as _replay
from .inspect_replay import replays as _replays

__all__ = ["register", "run"]

DEFAULT_URL = "http://127.0.0.1:6420"


def register(subparsers: Any) -> None:
    """Add ``inspect`` to the ``actorscope`` command (server/cli.py)."""
    parser = subparsers.add_parser(
        "inspect",
        help="look at an actor and operate its workflow",
        description="Look at one actor (state, queue, database, workflow history) and "
        "operate its workflow (dry-run, replay by step path, audit, attempt diffs). "
        "The actor is --actor ID or --name NAME --key KEY; --url and --token default "
        "to $ACTORSCOPE_URL and $ACTORSCOPE_TOKEN.",
        epilog="exit codes: 0 ok; 1 refused or failed (by the server, or you declined); "
        "2 usage (bad arguments, no confirmation possible without a terminal)",
    )
    _connection_options(parser, argparse.SUPPRESS)
    # Options also accepted after COMMAND; the top-level ones are the defaults.
    common = argparse.ArgumentParser(add_help=False)
    _connection_options(common, argparse.SUPPRESS)
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="machine-readable JSON output",
    )
    commands = parser.add_subparsers(dest="inspect_command", metavar="COMMAND", required=True)

    commands.add_parser("summary", parents=[common], help="state, connections, queue, workflow")
    state = commands.add_parser("state", parents=[common], help="show or replace the state")
    state.add_argument("--set", metavar="JSON", help="replace the state with this JSON value")
    call = commands.add_parser("call", parents=[common], help="call an action")
    call.add_argument("action")
    call.add_argument(
        "call_args",
        nargs="*",
        metavar="ARG",
        help="the arguments, one JSON value each (call add_item '\"pear\"' 3); "
        "a word that is not JSON is a string (call add_item pear 3)",
    )
    call.add_argument(
        "--args",
        dest="args_json",
        metavar="JSON",
        help="all the arguments as one JSON array (instead of ARG...)",
    )
    queue = commands.add_parser("queue", parents=[common], help="pending queue messages")
    queue.add_argument("--limit", type=int, default=50)
    db = commands.add_parser("db", parents=[common], help="the actor's SQLite database")
    db_commands = db.add_subparsers(dest="db_command", metavar="tables|rows", required=True)
    db_commands.add_parser("tables", parents=[common], help="list the tables")
    rows = db_commands.add_parser("rows", parents=[common], help="rows of a table")
    rows.add_argument("table")
    rows.add_argument("--limit", type=int, default=100)
    rows.add_argument("--offset", type=int, default=0)
    history = commands.add_parser("history", parents=[common], help="the workflow as a tree")
    which = history.add_mutually_exclusive_group()
    which.add_argument("--attempt", type=int, metavar="N", help="show archived attempt N")
    which.add_argument(
        "--diff",
        type=int,
        metavar="N",
        help="what differs between attempt N and the current history",
    )
    watch = commands.add_parser("watch", parents=[common], help="live tree and state")
    watch.add_argument("--count", type=int, metavar="N", help="exit after N updates")
    watch.add_argument("--timeout", type=float, metavar="S", help="exit after S seconds")
    watch.add_argument(
        "--protocol-version", type=int, default=NEWEST_VERSION, choices=VERSIONS
    )
    replay = commands.add_parser(
        "replay", parents=[common], help="rewind the workflow (shows what is discarded first)"
    )
    replay.add_argument("entry_id", nargs="?", metavar="ENTRY_ID")
    replay.add_argument(
        "--step", metavar="PATH", help="target by location path (items/~1/reserve-1)"
    )
    replay.add_argument(
        "--from-start",
        action="store_true",
        help="replay the whole workflow (what an empty replay request body means)",
    )
    replay.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    replay.add_argument("--reason", metavar="TEXT", help="recorded in the replay audit")
    replay.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    replay.add_argument(
        "--restore-state",
        action="store_true",
        help="also rewind the actor state to the boundary (actors with state checkpoints); "
        "the preview shows the state diff",
    )
    replays = commands.add_parser(
        "replays", parents=[common], help="the replay audit, newest first (paged)"
    )
    replays.add_argument("--limit", type=int, metavar="N", help="records per page")
    replays.add_argument("--before", type=int, metavar="SEQ", help="only records older than SEQ")
    replays.add_argument("--all", action="store_true", help="every record (reads all pages)")
    schedules = commands.add_parser(
        "schedules", parents=[common], help="pending schedules, or one schedule's fires"
    )
    schedules.add_argument(
        "--history", metavar="ID", help="show the fires of schedule ID instead, oldest first"
    )
    schedules.add_argument("--limit", type=int, default=100, help="fires to show (1-1000)")
    inspect_wait.add_parsers(commands, common)
    parser.set_defaults(handler=run)


def _connection_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--url", default=default, help=f"server URL ($ACTORSCOPE_URL, {DEFAULT_URL})"
    )
    parser.add_argument("--actor", default=default, metavar="ID", help="actor id")
    parser.add_argument("--name", default=default, help="actor name (with --key)")
    parser.add_argument("--key", default=default, help="actor key (with --name)")
    parser.add_argument("--token", default=default, help="inspector token ($ACTORSCOPE_TOKEN)")


def run(args: argparse.Namespace) -> int:
    """Run one ``inspect`` command; returns the exit code."""
    out = sys.stdout
    try:
        actor = _actor(args)
        command = _COMMANDS[args.inspect_command]
        return command(args, actor, style_for(out))
    except UsageError as exc:
        print(f"actorscope inspect: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InspectorHttpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except InspectorClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except BrokenPipeError:
        # The reader went away (`| head`): not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _actor(args: argparse.Namespace) -> HttpInspector:
    url = getattr(args, "url", None) or os.environ.get("ACTORSCOPE_URL") or DEFAULT_URL
    token = getattr(args, "token", None) or os.environ.get("ACTORSCOPE_TOKEN") or None
    try:
        server = ServerHttp(url, token)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    actor_id = getattr(args, "actor", None)
    name, key = getattr(args, "name", None), getattr(args, "key", None)
    if actor_id and (name or key):
        raise UsageError("give either --actor or --name/--key, not both")
    if not actor_id:
        if not name or key is None:
            raise UsageError("say which actor: --actor ID, or --name NAME --key KEY")
        actor_id = str(server.find_actor(name, key)["actor_id"])
    return server.actor(actor_id)


# -- commands ---------------------------------------------------------------------


def _summary(args: argparse.Namespace, actor: HttpInspector, style: Style) -> int:
    summary = actor.summary()
    if _json(args):
        _print_json(summary)
        return EXIT_OK
    print(style.paint(f"actor {actor.actor_id}", "bold"))
    if summary.get("isStateEnabled"):
        print(f"state:        {to_text(summary.get('state'))}")
    print(f"connections:  {len(summary.get('connections') or [])}")
    print(f"actions:      {', '.join(summary.get('rpcs') or []) or '-'}")
    print(f"queue size:   {summary.get('queueSize', 0)}")
    print(f"database:     {'yes' if summary.get('isDatabaseEnabled') else 'no'}")
    history = summary.get("workflowHistory")
    if summary.get("isWorkflowEnabled") and history is not None:
        rows = history_rows(history)
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        text = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
        print(f"workflow:     {len(rows)} entries ({text or 'none yet'})")
    else:
        print("workflow:     no")
    return EXIT_OK


def _state(args: argparse.Namespace, actor: HttpInspector, style: Style) -> int:
    if args.set is not None:
        value = _parse_json(args.set, "--set")
        actor.set_state(value)
        if _json(args):
            _print_json({"ok": True, "state": value})
        else:
            print("state replaced")
        return EXIT_OK
    result = actor.state()
    if _json(args):
        _print_json(result)
    elif not result.get("isStateEnabled", True):
        print("this actor has no state")
    else:
        _print_json(result.get("state"))
    return EXIT_OK


def _call(args: argparse.Namespace, actor: HttpInspector, style: Style) -> int:
    if args.args_json is not None:
        if args.call_args:
            raise UsageError("give the arguments as ARG... or --args JSON, not both")
        call_args = _parse_json(args.args_json, "--args")
        if not isinstance(call_args, list):
            raise UsageError("--args must be a JSON array (one ARG needs no --args)")
    else:
        call_args = [_json_or_word(arg) for arg in args.call_args]
    result = actor.action(args.action, call_args)
    _print_json(result if _json(args) else result.get("output"))
    return EXIT_OK


def _queue(args: argparse.Namespace, actor: HttpInspector, style: Style) -> int:
    result = actor.queue(args.limit)
    if _json(args):
        _print_json(result)
        return EXIT_OK
    print(f"{result.get('size', 0)} message(s) (max {result.get('maxSize')})")
    messages = result.get("messages") or []
    if messages:
        rows = [[str(m["id"]), m["name"], format_when(m.get("createdAtMs"))] for m in messages]
        print(render_table(["ID", "NAME", "CREATED"], rows, style))
    if result.get("truncated"):
        print(style.paint("(truncated)", "dim"))
    return EXIT_OK


def _db(args: argparse.Namespace, actor: HttpInspector, style: Style) -> int:
    if args.db_command == "tables":
        schema = actor.database_schema().get("schema")
        if _json(args):
            _print_json(schema)
            return EXIT_OK
        tables = schema_tables(schema)
        if tables:
            print(render_table(["TABLE", "COLUMNS", "ROWS"], tables, style))
        else:
            print("(no tables)")
        return EXIT_OK
    result = actor.database_rows(args.table, args.limit, args.offset)
    rows = result.get("rows") or []
    if _json(args):
        _print_json(result)
    elif not rows:
        print("(no rows)")
    else:
        headers = list(rows[0]) if isinstance(rows[0], dict) else []
        cells = [[to_text(r.get(h)) for h in headers] for r in rows]
        print(render_table(headers, cells, style))
    return EXIT_OK


def _history(args: argparse.Namespace, actor: HttpInspector, style: Style) -> int:
    if args.diff is not None:
        attempt = actor.workflow_history(attempt=args.diff)
        current = actor.workflow_history()
        replayed_at = (attempt.get("attempt") or {}).get("createdAt")
        lines = diff_histories(
            attempt.get("history") or {}, current.get("history") or {}, replayed_at
        )
        if _json(args):
            _print_json({"attempt": args.diff, "diff": [d.to_json() for d in lines]})
        else:
            print(render_diff(lines, args.diff, style))
        return EXIT_OK
    result = actor.workflow_history(attempt=args.attempt)
    if not result.get("isWorkflowEnabled", True):
        print("this actor has no workflow", file=sys.stderr)
        return EXIT_REFUSED
    rows = history_rows(result.get("history") or {})
    if _json(args):
        _print_json({**result, "rows": [r.to_json() for r in rows]})
    else:
        if args.attempt is not None:
            print(style.paint(f"archived attempt {args.attempt}", "bold"))
        print(render_history(rows, style))
    return EXIT_OK


def _schedules(args: argparse.Namespace, actor: HttpInspector, style: Style) -> int:
    if args.history is not None:
        result = actor.schedule_history(args.history, args.limit)
        history = result.get("history") or []
        if _json(args):
            _print_json(result)
        elif not history:
            print(f"schedule {args.history} has not fired yet")
        else:
            print(render_table(FIRE_HEADERS, fire_rows(history), style))
        return EXIT_OK
    result = actor.schedules()
    schedules = result.get("schedules") or []
    if _json(args):
        _print_json(result)
    elif not schedules:
        print("(no schedules)")
    else:
        print(render_table(SCHEDULE_HEADERS, schedule_rows(schedules), style))
    return EXIT_OK


def _watch(args: argparse.Namespace, actor: HttpInspector, style: Style) -> int:
    server = actor.server
    client = InspectorClient(
        server.base_url, actor.actor_id, server.token, protocol_version=args.protocol_version
    )
    as_json = _json(args)
    # On a terminal, clear and redraw; piped, append one frame per update.
    redraw = sys.stdout.isatty() and not as_json
    asyncio.run(
        watch(
            client,
            out=sys.stdout,
            style=style,
            count=args.count,
            timeout=args.timeout,
            as_json=as_json,
            redraw=redraw,
        )
    )
    return EXIT_OK


def _json_or_word(text: str) -> Any:
    """One action argument: its JSON value, or the text itself when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}") from None


def _wait(args: argparse.Namespace, actor: HttpInspector, style: Style) -> int:
    return inspect_wait.wait(args, actor)


def _send(args: argparse.Namespace, actor: HttpInspector, style: Style) -> int:
    result = inspect_wait.send(args, actor)
    if _json(args):
        _print_json(result)
    else:
        print(f"sent; {result.get('queueSize')} message(s) waiting")
    return EXIT_OK


_COMMANDS = {
    "summary": _summary,
    "state": _state,
    "call": _call,
    "queue": _queue,
    "db": _db,
    "history": _history,
    "watch": _watch,
    "replay": _replay,
    "replays": _replays,
    "wait": _wait,
    "send": _send,
    "schedules": _schedules,
}
