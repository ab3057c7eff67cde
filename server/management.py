"""Management endpoints: create or get actors, list them, read an actor's token.

Two spellings, one implementation (PROTOCOL.md §10.4 for the engine one):

* ours — ``PUT /actors`` ``{"name", "key"}`` → ``{"actor": {"actor_id", "name",
  "key", "create_ts"}}``; ``GET /actors?name=N`` → ``{"actors": [...]}``
  (every actor without ``name``);
* the engine API's, used by the RivetKit Inspector UI and told apart by its
  ``?namespace=default`` — ``GET /actors`` with ``name`` (comma list),
  ``key``, ``actor_ids``, ``include_destroyed``, ``limit``, ``cursor`` →
  ``{"actors": [Actor], "pagination": {"cursor"}}``; ``GET /actors/names`` →
  ``{"names": {name: {"metadata": {}}}, "pagination": {"cursor"}}``;
  ``POST /actors`` (create; 409 ``actor.duplicate_key`` if the key is taken)
  → ``{"actor": Actor}``; ``PUT /actors`` (get or create) →
  ``{"actor": Actor, "created": bool}`` (``engine_api.py`` has the shapes);
* ``GET /actors/{actorId}/inspector-token`` → ``{"token": ...}``, and the
  same token the way the UI reads it: ``GET /actors/{actorId}/kv/keys/Aw%3D%3D``
  (base64 of the KV key ``[3]``) → ``{"value": base64(token), "update_ts"}``;
  every other KV key is 404 ``actor.kv_key_not_found``.

All take the server-wide token only (``Authorization: Bearer``): an actor's own
token opens its inspector, not the directory. ``--dev`` without a server-wide
token skips auth.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import errors
from .actor import ActorInstance
from .directory import ActorSystem
from .engine_api import (
    INSPECTOR_TOKEN_KV_KEY,
    CreateBody,
    engine_actor,
    is_engine_style,
    kv_key,
    page,
    select_actors,
)
from .http_api import bearer_token, error_response, internal_error, read_json_object

__all__ = ["management_routes"]

Handler = Callable[[Request], Awaitable[Any]]


class _Management:
    """The handlers over one ``ActorSystem``."""

    def __init__(self, system: ActorSystem) -> None:
        self.system = system
        # Every actor is (re)started when the server starts (directory.py).
        self.started_ms = int(time.time() * 1000)

    def _actor_json(self, actor: ActorInstance, engine: bool) -> dict[str, Any]:
        return engine_actor(actor, self.started_ms) if engine else actor.record.public()

    def _find(self, name: str, key: str) -> ActorInstance | None:
        return next((a for a in self.system.actors(name) if a.record.key == key), None)

    async def put_actor(self, request: Request) -> Any:
        engine = is_engine_style(request)
        body = CreateBody.from_json(await read_json_object(request), engine=engine)
        key = body.key if body.key is not None else ""
        created = self._find(body.name, key) is None
        actor = await self.system.get_or_create(body.name, key)
        out: dict[str, Any] = {"actor": self._actor_json(actor, engine)}
        if engine:
            out["created"] = created
        return out

    async def post_actor(self, request: Request) -> Any:
        engine = is_engine_style(request)
        body = CreateBody.from_json(await read_json_object(request), engine=True)
        key = body.key_or_new()
        if self._find(body.name, key) is not None:
            raise errors.InspectorError(
                409,
                "actor",
                "duplicate_key",
                f"an actor {body.name!r} with key {key!r} exists (PUT /actors gets it)",
            )
        actor = await self.system.get_or_create(body.name, key)
        return {"actor": self._actor_json(actor, engine)}

    async def list_actors(self, request: Request) -> Any:
        if not is_engine_style(request):
            name = request.query_params.get("name") or None
            return {"actors": [a.record.public() for a in self.system.actors(name)]}
        selected = select_actors(self.system.actors(), request)
        by_id = {a.actor_id: a for a in selected}
        ids, cursor = page(list(by_id), request)
        return {
            "actors": [engine_actor(by_id[i], self.started_ms) for i in ids],
            "pagination": {"cursor": cursor},
        }

    async def list_names(self, request: Request) -> Any:
        is_engine_style(request)  # checks the namespace when one is given
        names, cursor = page(sorted(self.system.registry.names()), request)
        return {
            "names": {name: {"metadata": {}} for name in names},
            "pagination": {"cursor": cursor},
        }

    def _actor(self, request: Request) -> ActorInstance:
        actor_id = request.path_params["actorId"]
        actor = self.system.get(actor_id)
        if actor is None:
            raise errors.actor_not_found(actor_id)
        return actor

    async def get_token(self, request: Request) -> Any:
        return {"token": self._actor(request).record.token}

    async def get_kv(self, request: Request) -> Any:
        is_engine_style(request)
        actor = self._actor(request)
        key = kv_key(request.path_params["key"])
        if key != INSPECTOR_TOKEN_KV_KEY:
            raise errors.InspectorError(
                404,
                "actor",
                "kv_key_not_found",
                "only the inspector token's key [3] can be read here",
            )
        token = actor.record.token.encode("utf-8")
        return {
            "value": base64.b64encode(token).decode("ascii"),
            "update_ts": actor.record.create_ts,
        }


def _endpoint(system: ActorSystem, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            if system.authorize_management(bearer_token(request)) is None:
                raise errors.unauthorized()
            return JSONResponse(await handler(request))
        except errors.InspectorError as exc:
            return error_response(exc)
        except Exception:
            return internal_error(request)

    return endpoint


def management_routes(system: ActorSystem) -> list[BaseRoute]:
    m = _Management(system)
    return [
        Route("/actors", _endpoint(system, m.put_actor), methods=["PUT"]),
        Route("/actors", _endpoint(system, m.post_actor), methods=["POST"]),
        Route("/actors", _endpoint(system, m.list_actors), methods=["GET"]),
        Route("/actors/names", _endpoint(system, m.list_names), methods=["GET"]),
        Route("/actors/{actorId}/inspector-token", _endpoint(system, m.get_token), methods=["GET"]),
        Route("/actors/{actorId}/kv/keys/{key}", _endpoint(system, m.get_kv), methods=["GET"]),
    ]
