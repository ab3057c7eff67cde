"""The engine-API spelling of management, as the RivetKit Inspector UI calls it (PROTOCOL.md §10.4).

RivetKit's UI talks to a server through Rivet's engine API client: snake_case
JSON, a ``namespace`` query parameter on every call (always ``default``
here), paginated lists. ``management.py`` serves both that spelling and our
own older one from one implementation; this module holds the engine
spelling's shapes and parsing:

* an ``Actor`` is ``{actor_id, name, key, namespace_id, datacenter,
  runner_name_selector, crash_policy, create_ts, start_ts, connectable_ts,
  sleep_ts, destroy_ts, pending_allocation_ts, reschedule_ts, error}``; the
  UI counts an actor as running when ``connectable_ts`` is set and
  ``destroy_ts`` is not, which is every actor this server lists;
* lists answer ``{"actors"|"names": ..., "pagination": {"cursor": null|"…"}}``;
  the cursor is opaque to callers (it is the last item of the page);
* the actor KV read answers only key ``[3]`` (the actor's inspector token).

A request is in the engine spelling when it carries ``?namespace=``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
from starlette.requests import Request

from . import errors
from .actor import ActorInstance
from .http_api import query_int

__all__ = [
    "DATACENTER",
    "INSPECTOR_TOKEN_KV_KEY",
    "NAMESPACE",
    "CreateBody",
    "engine_actor",
    "is_engine_style",
    "kv_key",
    "page",
    "select_actors",
]

NAMESPACE = "default"
DATACENTER = "local"
RUNNER_NAME = "default"
#: Actors are reopened (their workflows resumed) whenever the server starts.
CRASH_POLICY = "restart"
#: RivetKit's KV key of an actor's inspector token: the one byte 3.
INSPECTOR_TOKEN_KV_KEY = b"\x03"

_DEFAULT_LIMIT = 100


def is_engine_style(request: Request) -> bool:
    """True for a call in the engine API's spelling (it names a namespace)."""
    if "namespace" not in request.query_params:
        return False
    namespace = request.query_params["namespace"]
    if namespace != NAMESPACE:
        raise errors.InspectorError(
            404, "namespace", "not_found", f"no namespace {namespace!r} (only 'default')"
        )
    return True


def engine_actor(actor: ActorInstance, started_ms: int) -> dict[str, Any]:
    """The engine API's ``Actor`` for one instance (``started_ms``: when this server started)."""
    record = actor.record
    started = max(record.create_ts, started_ms)
    return {
        "actor_id": record.actor_id,
        "name": record.name,
        "key": record.key,
        "namespace_id": NAMESPACE,
        "datacenter": DATACENTER,
        "runner_name_selector": RUNNER_NAME,
        "crash_policy": CRASH_POLICY,
        "create_ts": record.create_ts,
        "start_ts": started,
        "connectable_ts": started,
        "sleep_ts": None,
        "destroy_ts": None,
        "pending_allocation_ts": None,
        "reschedule_ts": None,
        "error": None,
    }


def _split(raw: str | None) -> list[str]:
    if not raw:
        return []
    return [part.strip() for part in raw.split(",") if part.strip()]


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "").lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise errors.invalid_request(f"{name} must be true or false, got {raw!r}")


def select_actors(actors: Iterable[ActorInstance], request: Request) -> list[ActorInstance]:
    """The actors ``GET /actors`` filters select: ``name`` (comma list), ``key``, ``actor_ids``.

    ``key`` matches a key exactly, or any of its comma-separated parts (the
    UI joins several key filters with commas). ``include_destroyed`` is
    accepted and changes nothing: actors here are never destroyed.
    """
    names = set(_split(request.query_params.get("name")))
    ids = set(_split(request.query_params.get("actor_ids")))
    raw_key = request.query_params.get("key")
    keys = None if raw_key is None else {raw_key, *_split(raw_key)}
    _flag(request, "include_destroyed")
    return [
        a
        for a in actors
        if (not names or a.record.name in names)
        and (not ids or a.record.actor_id in ids)
        and (keys is None or a.record.key in keys)
    ]


def page(items: Sequence[str], request: Request) -> tuple[list[str], str | None]:
    """One page of ``items`` (ordered, unique) after ``?cursor=``, at most ``?limit=``.

    Returns the page and the cursor of the next one (``None`` on the last).
    """
    limit = query_int(request, "limit", _DEFAULT_LIMIT)
    cursor = request.query_params.get("cursor") or None
    start = 0
    if cursor is not None:
        try:
            start = items.index(cursor) + 1
        except ValueError:
            raise errors.invalid_request(f"unknown cursor {cursor!r}") from None
    if limit == 0:
        return [], cursor
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return chunk, (chunk[-1] if more and chunk else None)


@attrs.frozen
class CreateBody:
    """``POST``/``PUT /actors`` in either spelling: ``{name, key, ...}``."""

    name: str
    key: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any], *, engine: bool) -> CreateBody:
        name, key = body.get("name"), body.get("key")
        if not isinstance(name, str) or not name:
            raise errors.invalid_request("'name' must be a non-empty string")
        # The engine spelling may leave the key out or send null (a fresh one
        # is made); ours wants a string when it sends one.
        if (key is not None or (not engine and "key" in body)) and not isinstance(key, str):
            raise errors.invalid_request("'key' must be a string")
        if engine:
            for field in ("datacenter", "runner_name_selector", "crash_policy"):
                value = body.get(field)
                if value is not None and not isinstance(value, str):
                    raise errors.invalid_request(f"'{field}' must be a string")
            _check_input(body.get("input"))
        return cls(name=name, key=key)

    def key_or_new(self) -> str:
        """The key, or a fresh one (an engine-style create may leave it out)."""
        return self.key if self.key is not None else uuid.uuid4().hex


def _check_input(raw: Any) -> None:
    # The UI sends input as base64 of its CBOR; actorscope actors start from
    # their definition's initial state and take none, so only "no input"
    # (absent, null, or CBOR null/undefined) is accepted.
    if raw is None:
        return
    if not isinstance(raw, str):
        raise errors.invalid_request("'input' must be base64 text")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid_request("'input' is not valid base64") from None
    if data not in (b"", b"\xf6", b"\xf7"):
        raise errors.invalid_request(
            "actors here take no input: they start from their definition's initial state"
        )


def kv_key(raw: str) -> bytes:
    """The bytes of a KV key in the path (base64, padding optional)."""
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid_request(f"KV key {raw!r} is not base64") from None
