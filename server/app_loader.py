"""Find the actors to serve from a ``MODULE:ATTR`` spec (the uvicorn convention).

``ATTR`` names a :class:`Registry`, an iterable of actor declarations
(:class:`Actor` or :class:`ActorDefinition`), a single declaration, or a
zero-argument callable returning one of those. ``MODULE`` is imported with
the current directory first on ``sys.path``, so ``actorscope serve
app:registry`` finds ``./app.py`` as ``uvicorn app:app`` would.

Two kinds of failure, kept apart because the user needs different things:
:class:`AppNotFound` (no such module or attribute, a value of the wrong
kind: a one-line message naming it) and :class:`AppRaised` (the user's code
raised while importing or building: the traceback, which is the only useful
thing to show).
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Iterable
from typing import Any

from .definitions import Actor, ActorDefinition, Registry, parse_create

__all__ = [
    "AppLoadError",
    "AppNotFound",
    "AppRaised",
    "as_registry",
    "load_app",
    "parse_create",
]


class AppLoadError(Exception):
    """The app spec could not be turned into a registry."""


class AppNotFound(AppLoadError):
    """No such module or attribute, or a value that holds no actors."""


class AppRaised(AppLoadError):
    """The user's module (or its factory) raised; ``traceback`` is its text."""

    def __init__(self, message: str, traceback_text: str) -> None:
        super().__init__(message)
        self.traceback = traceback_text


def load_app(spec: str, *, cwd: str | None = None) -> Registry:
    """The registry ``spec`` (``MODULE:ATTR``) names.

    Raises:
        AppNotFound: a malformed spec, a missing module or attribute, or a
            value that is not a registry (or iterable, or factory, of actors).
        AppRaised: importing the module or calling the factory raised.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise AppNotFound(f"expected MODULE:ATTR (for example app:registry), not {spec!r}")
    directory = os.path.abspath(cwd or os.getcwd())
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module = _import(module_name, directory)
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            found = _candidates(module)
            hint = f" (it has {', '.join(found)})" if found else ""
            raise AppNotFound(f"module {module_name!r} has no attribute {attr!r}{hint}") from None
    if callable(value) and not isinstance(value, Registry | Actor | ActorDefinition):
        try:
            value = value()
        except Exception as exc:
            raise AppRaised(
                f"calling {spec} raised {type(exc).__name__}: {exc}", traceback.format_exc()
            ) from exc
    try:
        return as_registry(value)
    except TypeError as exc:
        raise AppNotFound(f"{spec}: {exc}") from None


def _import(module_name: str, directory: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only a missing *target* module is "not found"; a module that exists
        # but imports something missing raised, and its traceback says where.
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise AppNotFound(
                f"cannot import module {module_name!r}: no module named {missing!r} "
                f"in {directory} or on sys.path"
            ) from None
        raise AppRaised(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}",
            traceback.format_exc(),
        ) from exc
    except Exception as exc:
        raise AppRaised(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}",
            traceback.format_exc(),
        ) from exc


def _candidates(module: Any) -> list[str]:
    """Attributes of ``module`` that could be served, for the error message."""
    names = []
    for name, value in sorted(vars(module).items()):
        if name.startswith("_"):
            continue
        if isinstance(value, Registry | Actor | ActorDefinition):
            names.append(name)
    return names


def as_registry(value: Any) -> Registry:
    """``value`` as a registry: a registry, one declaration, or an iterable of them.

    Raises:
        TypeError: anything else (the message says what was found).
    """
    if isinstance(value, Registry):
        return value
    if isinstance(value, Actor | ActorDefinition):
        return Registry([value])
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | dict):
        items = list(value)
        wrong = [item for item in items if not isinstance(item, Actor | ActorDefinition)]
        if wrong:
            raise TypeError(
                f"holds a {type(wrong[0]).__name__}, not an actor "
                "(expected actorscope.Actor declarations)"
            )
        return Registry(items)
    raise TypeError(
        f"is a {type(value).__name__}, not a registry, an iterable of actors, "
        "or a function returning one"
    )
