"""The ``actorscope`` command: one sub-command per job, each in its own module.

Each module named in ``_COMMANDS`` exposes ``register(subparsers)``, which adds
its sub-parser and sets ``handler`` (a callable taking the parsed args and
returning the exit code) with ``set_defaults``.
"""

from __future__ import annotations

import argparse
import importlib
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.handler(args))
