"""The ``actorscope`` command: one sub-command per job, each in its own module.

Each module named in ``_COMMANDS`` exposes ``register(subparsers)``, which adds
its sub-parser and sets ``handler`` (a callable taking the parsed args and
returning the exit code) with ``set_defaults``.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

_COMMANDS: tuple[str, ...] = ("serve_cli", "frame_cli", "inspect_cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actorscope",
        description="Durable actors and workflows with a live RivetKit-compatible inspector.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f".{name}", __package__).register(subparsers)
    _plain_help(parser)
    return parser


# Module docstrings double as ``--help`` text; their reStructuredText markup
# (``code``, :class:`Name`) reads as noise in a terminal.
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain(text: str | None) -> str | None:
    """``text`` with reStructuredText roles and literals reduced to plain words."""
    if text is None:
        return None
    text = _ROLE.sub(r"\1", text)
    return _LITERAL.sub(r"\1", text)


def _plain_help(parser: argparse.ArgumentParser) -> None:
    parser.description = plain(parser.description)
    parser.epilog = plain(parser.epilog)
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = plain(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = plain(choice.help)
            for sub in set(action.choices.values()):
                _plain_help(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(raw)
    # ``serve --reload`` re-runs the same command line in its child.
    args.raw_argv = raw
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.handler(args))
