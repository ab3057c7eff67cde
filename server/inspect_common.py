"""What every ``actorscope inspect`` command shares: exit codes, usage errors, JSON output."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["EXIT_OK", "EXIT_REFUSED", "EXIT_USAGE", "UsageError", "print_json", "wants_json"]

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments discovered after parsing (exit code 2)."""


def wants_json(args: argparse.Namespace) -> bool:
    """``--json`` was given."""
    return bool(getattr(args, "json", False))


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=repr, ensure_ascii=False))
