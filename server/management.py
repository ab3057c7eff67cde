"""Management endpoints: create or get actors, list them, read an actor's token.

* ``PUT /actors`` ``{"name", "key"}`` → ``{"actor": {"actor_id", "name", "key", "create_ts"}}``
* ``GET /actors?name=N`` → ``{"actors": [...]}`` (every actor without ``name``)
* ``GET /actors/{actorId}/inspector-token`` → ``{"token": ...}``

All take the server-wide token only (``Authorization: Bearer``): an actor's own
token opens its inspector, not the directory. ``--dev`` without a server-wide
token skips auth.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import errors
from .directory import ActorSystem
from .http_api import bearer_token, error_response, internal_error, read_json_object

__all__ = ["management_routes"]

Handler = Callable[[ActorSystem, Request], Awaitable[Any]]


async def _put_actor(system: ActorSystem, request: Request) -> Any:
    body = await read_json_object(request)
    name, key = body.get("name"), body.get("key", "")
    if not isinstance(name, str) or not name:
        raise errors.invalid_request("'name' must be a non-empty string")
    if not isinstance(key, str):
        raise errors.invalid_request("'key' must be a string")
    actor = await system.get_or_create(name, key)
    return {"actor": actor.record.public()}


async def _list_actors(system: ActorSystem, request: Request) -> Any:
    name = request.query_params.get("name") or None
    return {"actors": [a.record.public() for a in system.actors(name)]}


async def _get_token(system: ActorSystem, request: Request) -> Any:
    actor_id = request.path_params["actorId"]
    actor = system.get(actor_id)
    if actor is None:
        raise errors.actor_not_found(actor_id)
    return {"token": actor.record.token}


def _endpoint(system: ActorSystem, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            if system.authorize_management(bearer_token(request)) is None:
                raise errors.unauthorized()
            return JSONResponse(await handler(system, request))
        except errors.InspectorError as exc:
            return error_response(exc)
        except Exception:
            return internal_error(request)

    return endpoint


def management_routes(system: ActorSystem) -> list[BaseRoute]:
    return [
        Route("/actors", _endpoint(system, _put_actor), methods=["PUT"]),
        Route("/actors", _endpoint(system, _list_actors), methods=["GET"]),
        Route("/actors/{actorId}/inspector-token", _endpoint(system, _get_token), methods=["GET"]),
    ]
