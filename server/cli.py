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

__all__ = ["build_parser", "main", "plain_text"]

_COMMANDS: tuple[str, ...] = ("serve_cli", "frame_cli", "inspect_cli", "nodes_cli")


# ``x`` (a reStructuredText literal in a module docstring) reads as x in a
# terminal, and so does a role such as :class:`Name`.
_RST_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)
_RST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def plain_text(text: str) -> str:
    """Render the reStructuredText literals and roles of a docstring as plain text."""
    return _RST_LITERAL.sub(r"\1", _RST_ROLE.sub(r"\1", text))


class _Parser(argparse.ArgumentParser):
    """A parser whose help shows docstring markup as plain text.

    Sub-commands use their module docstring as ``description``; sub-parsers
    are created with the parent's class, so every ``--help`` goes through here.
    """

    def format_help(self) -> str:
        return plain_text(super().format_help())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="actorscope",
        description="Durable actors and workflows with a live RivetKit-compatible inspector.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f".{name}", __package__).register(subparsers)
    return parser


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
