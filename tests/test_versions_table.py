"""The version table is the only place that knows which versions exist.

``protocol/versions.py`` holds the list of versions and, derived from the
schemas, which message exists since which version (ARCHITECTURE.md "Adding a
protocol version"). Everything outside ``protocol/`` — server, client, CLI,
bench, tests — must read it instead of writing its own list, or adding a
version means hunting for copies. This test reads every module outside
``protocol/`` with ``ast`` and fails on:

* a literal run of consecutive version numbers (a tuple, list or set such as
  ``1, 2, 3, 4`` anywhere but in a set, or ``2, 3`` or a ``range`` with constant bounds
  inside a versions-related statement, one whose text mentions "version"), e.g. a
  ``choices=`` list, a ``parametrize("version", ...)`` list or a ``for version
  in ...`` loop;
* a dict literal mapping version numbers to the ``vN`` modules;
* an integer default for a parameter or a ``--...version`` option (a
  ``protocol_version=4`` default goes stale when v5 appears).

Data written from the spec tables (the tag of ``Error`` at each version, a
message's first version) is expectation, not knowledge the code uses, and is
allowed.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from actorscope.protocol.versions import NEWEST_VERSION

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {"protocol", ".venv", ".lint", "build", "dist", "node_modules", ".git"}
_MODULE_NAME = re.compile(r"v\d+$")


def _sources() -> list[Path]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in SKIP_DIRS or any(p.startswith(".") for p in parts):
            continue
        out.append(path)
    return out


def _ints(node: ast.AST) -> list[int] | None:
    if not isinstance(node, ast.Tuple | ast.List | ast.Set) or len(node.elts) < 2:
        return None
    values = []
    for e in node.elts:
        if not (isinstance(e, ast.Constant) and type(e.value) is int):
            return None
        values.append(e.value)
    return values


def _is_version_run(values: list[int]) -> bool:
    consecutive = all(b == a + 1 for a, b in itertools.pairwise(values))
    return consecutive and values[0] >= 1 and values[-1] <= NEWEST_VERSION + 1


def _is_constant_range(node: ast.AST) -> bool:
    # range(1, 5) and the like: constant bounds that look like versions.
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return False
    if node.func.id != "range" or len(node.args) != 2:
        return False
    bounds = [a.value for a in node.args if isinstance(a, ast.Constant) and type(a.value) is int]
    return len(bounds) == 2 and bounds[0] >= 1 and bounds[1] <= NEWEST_VERSION + 2


def _headers(stmt: ast.stmt) -> list[ast.AST]:
    """The parts of a statement that are not nested statements."""
    match stmt:
        case ast.For() | ast.AsyncFor():
            return [stmt.target, stmt.iter]
        case ast.FunctionDef() | ast.AsyncFunctionDef() | ast.ClassDef():
            return list(stmt.decorator_list)
        case ast.If() | ast.While():
            return [stmt.test]
        case ast.With() | ast.AsyncWith():
            return [i.context_expr for i in stmt.items]
        case ast.Try() | ast.Match():
            return []
    return [stmt]


def violations(source: str) -> Iterator[tuple[int, str]]:
    """(line, what) for every hard-coded version list in ``source``."""
    tree = ast.parse(source)
    for stmt in ast.walk(tree):
        if not isinstance(stmt, ast.stmt):
            continue
        headers = _headers(stmt)
        text = " ".join(ast.get_source_segment(source, h) or "" for h in headers)
        about_versions = "version" in text.lower()
        for header in headers:
            for node in ast.walk(header):
                values = _ints(node)
                # A tuple or list 1, 2, 3, 4(, …) is a version list wherever it
                # stands (a set of column numbers is not).
                long_run = (
                    values is not None
                    and not isinstance(node, ast.Set)
                    and values[0] == 1
                    and len(values) >= 4
                )
                if values is not None and (about_versions or long_run) and _is_version_run(values):
                    yield node.lineno, f"version list {values}"
                if about_versions and _is_constant_range(node):
                    yield node.lineno, "range of versions with constant bounds"
                if isinstance(node, ast.Dict) and _maps_versions_to_modules(node):
                    yield node.lineno, "dict of version -> vN module"
                if isinstance(node, ast.Call):
                    yield from _option_default(node)
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _parameter_defaults(stmt)


def _maps_versions_to_modules(node: ast.Dict) -> bool:
    keys = [k.value for k in node.keys if isinstance(k, ast.Constant) and type(k.value) is int]
    names = [v for v in node.values if isinstance(v, ast.Name) and _MODULE_NAME.match(v.id)]
    return len(keys) >= 2 and len(keys) == len(names) == len(node.keys)


def _option_default(call: ast.Call) -> Iterator[tuple[int, str]]:
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "add_argument"):
        return
    flags = [a.value for a in call.args if isinstance(a, ast.Constant) and type(a.value) is str]
    if not any("version" in f for f in flags):
        return
    for kw in call.keywords:
        value = kw.value
        if kw.arg == "default" and isinstance(value, ast.Constant) and type(value.value) is int:
            yield call.lineno, f"{flags[0]} default={value.value}"
        if kw.arg == "choices" and _ints(kw.value) is not None:
            yield call.lineno, f"{flags[0]} choices={_ints(kw.value)}"


def _parameter_defaults(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[tuple[int, str]]:
    args = fn.args
    positional = [*args.posonlyargs, *args.args]
    with_defaults = positional[len(positional) - len(args.defaults) :]
    pairs = list(zip(with_defaults, args.defaults, strict=True))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
    for arg, default in pairs:
        constant = isinstance(default, ast.Constant) and type(default.value) is int
        if "version" in arg.arg and constant:
            yield default.lineno, f"parameter {arg.arg}={default.value}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_hard_coded_version_lists_outside_protocol(path: Path) -> None:
    found = list(violations(path.read_text("utf-8")))
    assert not found, "read protocol.versions instead: " + ", ".join(
        f"line {line}: {what}" for line, what in found
    )


@pytest.mark.parametrize(
    "snippet",
    [
        "for version in (1, 2, 3, 4):\n    pass\n",
        "@pytest.mark.parametrize('version', [1, 2, 3, 4, 5, 6])\ndef t(version): pass\n",
        "p.add_argument('--protocol-version', type=int, default=4, choices=(1, 2, 3, 4))\n",
        "def connect(url, protocol_version=4): pass\n",
        "def connect(url, *, max_protocol_version=6): pass\n",
        "MODULES = {2: v2, 3: v3, 4: v4}\n",
        "versions = [2, 3]\n",
        "CASES = [('StateRequest', (1, 2, 3, 4))]\n",
        "for version in range(1, 5):\n    pass\n",
    ],
)
def test_the_check_catches_each_pattern(snippet: str) -> None:
    assert list(violations(snippet))


@pytest.mark.parametrize(
    "snippet",
    [
        "for version in VERSIONS:\n    pass\n",
        "ERROR_TAG = {1: 8, 2: 11, 3: 11, 4: 12}\n",  # spec data, not a version list
        "SPAN = {'Init': (1, 6)}\n",
        "sizes = [1, 2, 3]\n",  # nothing to do with versions
        "right = {1, 2, 3, 4}\n",  # column numbers
        "def f(version=NEWEST_VERSION): pass\n",
        "for i in range(1, 5):\n    pass\n",
        "frames = [bytes(range(256))]  # unknown version 9\n",
    ],
)
def test_the_check_allows_what_is_not_a_version_list(snippet: str) -> None:
    assert not list(violations(snippet))
