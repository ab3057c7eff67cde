"""The inspector's HTTP API (PROTOCOL.md §8), as starlette routes.

Every route exists under ``/gateway/{actorId}`` and, for a server holding a
single actor, at the root. Auth is the §6 token as ``Authorization: Bearer``;
every refusal is an ``InspectorError`` rendered as ``{"group", "code",
"message"}`` with its status, never a bare 500. The handlers only call the
``ActorInspector`` façade, like the WebSocket inspector does; replays go
through the actor's ``ReplayOperator`` (``replay_ops.py``), which also serves
the operator additions: ``{"step", "dryRun", "reason"}`` in the replay body,
``GET /inspector/workflow/replays`` (the audit) and
``GET /inspector/workflow-history?attempt=N`` (an archived attempt).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import errors, jsonbounds
from .actor import ActorInstance
from .directory import ActorSystem
from .inspector_api import CredentialClass
from .jsonvalues import history_to_json, to_jsonable
from .replay_ops import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ReplayOperator, ReplayRequestBody
from .schedule_json import fire_to_json, schedule_to_json
from .ui_replay import replay_history

__all__ = [
    "authorized_actor",
    "bearer_token",
    "error_response",
    "inspector_http_routes",
    "internal_error",
    "query_int",
    "read_json_object",
]

log = logging.getLogger("actorscope.server")

Handler = Callable[[Request, ActorInstance, CredentialClass], Awaitable[Any]]

_MAX_LIMIT = 10_000


def error_response(exc: errors.InspectorError) -> JSONResponse:
    return JSONResponse(exc.to_json(), status_code=exc.status)


def internal_error(request: Request) -> JSONResponse:
    """A bug of ours: logged with its traceback, answered as JSON all the same."""
    log.exception("%s %s failed", request.method, request.url.path)
    body = {"group": "internal", "code": "error", "message": "internal error (see server log)"}
    return JSONResponse(body, status_code=500)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def _read_body(request: Request) -> bytes:
    # What ``request.body()`` returns, read from ``receive`` without its
    # async generator (a replay's body read cost more than its JSON parse).
    # Handlers read their body once, here, and nothing reads it after them.
    chunks: list[bytes] = []
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_json(request: Request, *, required: bool) -> Any:
    """The request body as JSON; an empty body is ``{}`` unless ``required``."""
    body = await _read_body(request)
    if not body.strip():
        if required:
            raise errors.invalid_request("a JSON body is required")
        return {}
    # Within jsonbounds' depth, string and integer bounds: 400, never a 500.
    return jsonbounds.loads(body)


async def read_json_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    value = await read_json(request, required=required)
    if not isinstance(value, dict):
        raise errors.invalid_request("the JSON body must be an object")
    return value


def query_int(request: Request, name: str, default: int, *, maximum: int = _MAX_LIMIT) -> int:
    """A non-negative integer query parameter (``default`` when absent)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.invalid_request(f"{name} must be an integer, got {raw!r}") from None
    if value < 0 or value > maximum:
        raise errors.invalid_request(f"{name} must be between 0 and {maximum}")
    return value


def authorized_actor(
    system: ActorSystem, actor_id: str, request: Request
) -> tuple[ActorInstance, CredentialClass]:
    """The actor a request's bearer token may reach, and the token's class.

    Raises:
        InspectorError: 401 ``inspector.unauthorized`` for a missing or wrong
            token, 404 ``actor.not_found`` for an unknown actor.
    """
    # Auth before lookup: an unauthenticated caller learns nothing about
    # which actors exist (§6).
    credential = system.authorize(actor_id, bearer_token(request))
    if credential is None:
        raise errors.unauthorized()
    actor = system.get(actor_id)
    if actor is None:
        raise errors.actor_not_found(actor_id)
    return actor, credential


def _resolve_actor_id(system: ActorSystem, request: Request) -> str:
    actor_id = request.path_params.get("actorId")
    if actor_id is not None:
        return str(actor_id)
    # The root routes serve a single-actor server (§8); with more than one
    # actor there is nothing to pick, which reads as "not found" below.
    actors = system.actors()
    return actors[0].actor_id if len(actors) == 1 else ""


def _endpoint(system: ActorSystem, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            actor_id = _resolve_actor_id(system, request)
            actor, credential = authorized_actor(system, actor_id, request)
            return JSONResponse(await handler(request, actor, credential))
        except errors.InspectorError as exc:
            return error_response(exc)
        except Exception:
            return internal_error(request)

    return endpoint


# handlers -----------------------------------------------------------------------


async def _summary(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    history = await actor.workflow_history()
    queue = await actor.queue_status(0)
    return {
        "state": to_jsonable(actor.state()),
        "connections": _connections(actor),
        "rpcs": actor.rpcs(),
        "queueSize": queue.size,
        "isStateEnabled": actor.is_state_enabled,
        "isDatabaseEnabled": actor.is_database_enabled,
        "isWorkflowEnabled": actor.is_workflow_enabled,
        "workflowHistory": None if history is None else history_to_json(history),
    }


async def _get_state(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    return {"state": to_jsonable(actor.state()), "isStateEnabled": actor.is_state_enabled}


async def _patch_state(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    body = await read_json_object(request)
    if "state" not in body:
        raise errors.invalid_request("the body must have a 'state' field")
    await actor.patch_state(body["state"])
    return {"ok": True}


def _connections(actor: ActorInstance) -> list[dict[str, Any]]:
    return [{"id": c.id, "details": to_jsonable(c.details)} for c in actor.connections()]


async def _get_connections(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    return {"connections": _connections(actor)}


async def _get_rpcs(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    return {"rpcs": actor.rpcs()}


async def _post_action(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    body = await read_json_object(request, required=False)
    args = body.get("args", [])
    if not isinstance(args, list):
        raise errors.invalid_request("'args' must be a list")
    output = await actor.call_action(request.path_params["name"], args)
    return {"output": to_jsonable(output)}


async def _get_queue(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    status = await actor.queue_status(query_int(request, "limit", 50))
    return {
        "size": status.size,
        "maxSize": status.max_size,
        "truncated": status.truncated,
        "messages": [
            {"id": m.id, "name": m.name, "createdAtMs": m.created_at_ms} for m in status.messages
        ],
    }


async def _get_traces(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    now_ms = int(time.time() * 1000)
    start = query_int(request, "startMs", 0, maximum=2**63 - 1)
    end = query_int(request, "endMs", now_ms, maximum=2**63 - 1)
    result = await actor.traces(start, end, query_int(request, "limit", 1000))
    return {"otlp": result.otlp, "clamped": result.clamped}


def _operator(actor: ActorInstance) -> ReplayOperator:
    if actor.workflow is None:
        raise errors.workflow_not_enabled()
    return actor.workflow.operator


async def _get_history(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    if "attempt" in request.query_params:
        # Operator tooling: an archived attempt (what a replay discarded).
        number = query_int(request, "attempt", 0, maximum=2**31 - 1)
        return await _operator(actor).attempt_json(number)
    history = await actor.workflow_history()
    return {
        "history": None if history is None else history_to_json(history),
        "isWorkflowEnabled": actor.is_workflow_enabled,
    }


async def _post_replay(request: Request, actor: ActorInstance, cred: CredentialClass) -> Any:
    """§8 replay, plus the operator's ``step``, ``dryRun`` and ``reason``."""
    body = ReplayRequestBody.from_json(await read_json_object(request, required=False))
    render_history = replay_history(request)  # §8 JSON, or bytes for the RivetKit Inspector
    operator = _operator(actor)
    if body.dry_run:
        return await operator.preview(body, credential=cred, transport="http")
    # The same line the WebSocket path logs (ActorInstance.replay).
    log.info(
        "actor %s: replay from %s requested over %s (%s credential)",
        actor.actor_id,
        body.step or body.entry_id or "the start",
        "http",
        cred,
    )
    outcome = await operator.replay(
        body.entry_id,
        step=body.step,
        reason=body.reason,
        restore_state=body.restore_state,
        credential=cred,
        transport="http",
    )
    return {
        "history": render_history(outcome.snapshot),
        "isWorkflowEnabled": True,
        "boundary": outcome.boundary,
        "discarded": outcome.discarded,
        "attempt": outcome.attempt,
        "stateRestored": outcome.state_restored,
    }


async def _get_replays(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    """The audit, paged: ``?limit=N`` newest N (default 50, at most 200), ``?before=SEQ``."""
    limit = query_int(request, "limit", DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
    if limit < 1:
        raise errors.invalid_request(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    before = None
    if request.query_params.get("before"):
        before = query_int(request, "before", 0, maximum=2**63 - 1)
    return await _operator(actor).replays(limit, before)


async def _get_schema(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    return {"schema": to_jsonable(await actor.database_schema())}


async def _get_rows(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    table = request.query_params.get("table")
    if not table:
        raise errors.invalid_request("the 'table' query parameter is required")
    limit = query_int(request, "limit", 100)
    offset = query_int(request, "offset", 0, maximum=2**63 - 1)
    return {"rows": to_jsonable(await actor.database_rows(table, limit, offset))}


async def _get_schedules(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    return {"schedules": [schedule_to_json(s) for s in await actor.schedules()]}


async def _get_schedule_history(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    schedule_id = request.path_params["scheduleId"]
    fires = await actor.schedule_history(schedule_id, query_int(request, "limit", 100))
    return {"scheduleId": schedule_id, "history": [fire_to_json(f) for f in fires]}


async def _delete_schedule(request: Request, actor: ActorInstance, _: CredentialClass) -> Any:
    schedule_id = request.path_params["scheduleId"]
    kind = request.query_params.get("kind", "")
    deleted = await actor.delete_schedule(schedule_id, kind)
    if not deleted and not actor.scheduler.exists(schedule_id):
        # §9.8: an unknown id is a 404; a known id of another kind is ``deleted: false``.
        raise errors.schedule_not_found(schedule_id)
    return {"scheduleId": schedule_id, "deleted": deleted}


_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/inspector/summary", _summary),
    ("GET", "/inspector/state", _get_state),
    ("PATCH", "/inspector/state", _patch_state),
    ("GET", "/inspector/connections", _get_connections),
    ("GET", "/inspector/rpcs", _get_rpcs),
    ("POST", "/inspector/action/{name}", _post_action),
    ("GET", "/inspector/queue", _get_queue),
    ("GET", "/inspector/traces", _get_traces),
    ("GET", "/inspector/workflow-history", _get_history),
    ("POST", "/inspector/workflow/replay", _post_replay),
    ("GET", "/inspector/workflow/replays", _get_replays),
    ("GET", "/inspector/database/schema", _get_schema),
    ("GET", "/inspector/database/rows", _get_rows),
    # docs/PROTOCOL.md §9.8; ``:path`` because a schedule's name may hold a slash.
    ("GET", "/inspector/schedules", _get_schedules),
    ("GET", "/inspector/schedules/{scheduleId:path}/history", _get_schedule_history),
    ("DELETE", "/inspector/schedules/{scheduleId:path}", _delete_schedule),
)


def inspector_http_routes(system: ActorSystem) -> list[BaseRoute]:
    """The §8 routes, under ``/gateway/{actorId}`` and at the root."""
    routes: list[BaseRoute] = []
    for method, path, handler in _ROUTES:
        endpoint = _endpoint(system, handler)
        routes.append(Route("/gateway/{actorId}" + path, endpoint, methods=[method]))
        routes.append(Route(path, endpoint, methods=[method]))
    return routes
