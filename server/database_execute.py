"""``POST /inspector/database/execute``: SQL from the RivetKit Inspector's Database tab (§10.5).

The UI's Database tab saves an edited cell as an ``UPDATE … WHERE <primary
key> = ?`` and runs what the user types in its SQL console, both through
this route: ``{"sql", "args"?: [...], "properties"?: {...}}`` → ``{"rows":
[{column: value}, ...]}`` (empty for a statement without results). One
statement per call; ``args`` are positional ``?`` bindings, ``properties``
named ones (``:name``, ``@name`` or ``$name``; the key may carry the prefix
or not), never both. Values bind as SQLite values: null, numbers, text,
booleans (as 0/1).

Same auth as the rest of the inspector HTTP API (PROTOCOL.md §6, §8): the
server-wide token or the actor's own. Refusals are the usual ``{"group",
"code", "message"}`` plus ``"error"`` (the same text), which is the field
the UI shows: 400 ``request.invalid`` for a bad body, 400
``database.not_enabled``, 400 ``database.sql_error`` for SQL SQLite refuses.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import errors
from .directory import ActorSystem
from .http_api import authorized_actor, internal_error, read_json_object
from .jsonvalues import to_jsonable

__all__ = ["database_execute_routes"]

_SCALARS = (str, int, float, bool, type(None))


def _error(exc: errors.InspectorError) -> JSONResponse:
    return JSONResponse({**exc.to_json(), "error": exc.message}, status_code=exc.status)


def _bindings(body: dict[str, Any]) -> list[Any] | dict[str, Any]:
    args, properties = body.get("args"), body.get("properties")
    if args is not None and properties is not None:
        raise errors.invalid_request("use either args or properties, not both")
    if properties is not None:
        if not isinstance(properties, dict) or not all(
            isinstance(v, _SCALARS) for v in properties.values()
        ):
            raise errors.invalid_request("properties must map names to null, numbers or text")
        # Python's sqlite3 names parameters without their :/@/$ prefix.
        return {str(k).lstrip(":@$"): v for k, v in properties.items()}
    if args is None:
        return []
    if not isinstance(args, list) or not all(isinstance(v, _SCALARS) for v in args):
        raise errors.invalid_request("args must be a list of null, numbers or text")
    return args


def database_execute_routes(system: ActorSystem) -> list[BaseRoute]:
    async def execute(request: Request) -> Response:
        try:
            actor, _ = authorized_actor(system, str(request.path_params["actorId"]), request)
            body = await read_json_object(request)
            sql = body.get("sql")
            if not isinstance(sql, str) or not sql.strip():
                raise errors.invalid_request("sql is required")
            bindings = _bindings(body)
            if actor.database is None:
                raise errors.database_not_enabled()
            try:
                cursor = actor.database.conn.execute(sql, bindings)
                names = [d[0] for d in cursor.description or ()]
                rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError) as exc:
                # Warning: more than one statement; ValueError/OverflowError: a
                # binding SQLite cannot hold.
                raise errors.InspectorError(400, "database", "sql_error", str(exc)) from exc
            return JSONResponse({"rows": to_jsonable(rows)})
        except errors.InspectorError as exc:
            return _error(exc)
        except Exception:
            return internal_error(request)

    path = "/gateway/{actorId}/inspector/database/execute"
    return [Route(path, execute, methods=["POST"])]
