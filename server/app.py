"""One ASGI application for everything a server answers, on one port.

* the inspector WebSocket endpoint (PROTOCOL.md §6, ``ws_inspector.py``),
* the inspector HTTP API (§8, ``http_api.py``),
* client connections and the workflow queue (``gateway.py``),
* management (``management.py``, both its spellings), discovery
  (``discovery.py``) and the Database tab's SQL (``database_execute.py``)
  for the RivetKit Inspector UI (§10),
* CORS on every HTTP route (``cors.py``), preflights included,
* the live event stream (``event_stream.py``) and the built-in web
  inspector at ``/ui/`` (``web_ui.py``).

Route order matters only where paths overlap: the gateway's own routes come
first, then the inspector's, so ``/gateway/{id}/connect`` is never mistaken
for anything else.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from actorscope.protocol.framing import NEWEST_VERSION
from actorscope.protocol.values import ValueCodec

from . import errors
from .cors import CorsMiddleware
from .database_execute import database_execute_routes
from .directory import ActorSystem
from .discovery import discovery_routes
from .event_stream import OpenStreams, event_stream_routes
from .gateway import gateway_routes
from .http_api import error_response, inspector_http_routes
from .management import management_routes
from .route_cache import CachedRouter
from .web_ui import web_ui_routes
from .ws_inspector import inspector_websocket_routes

__all__ = ["build_app"]


def build_app(
    system: ActorSystem,
    *,
    value_codec: ValueCodec,
    max_protocol_version: int = NEWEST_VERSION,
) -> Starlette:
    """The server's ASGI app over ``system``'s actors.

    ``app.state.event_streams`` holds the open event streams
    (``event_stream.end_event_streams(app)`` ends them at shutdown).
    """
    streams = OpenStreams()
    routes: list[BaseRoute] = [
        *gateway_routes(system),
        *inspector_websocket_routes(
            system, value_codec=value_codec, max_protocol_version=max_protocol_version
        ),
        *inspector_http_routes(system),
        *event_stream_routes(system, streams),
        *management_routes(system),
        *discovery_routes(system, max_protocol_version=max_protocol_version),
        *database_execute_routes(system),
        *web_ui_routes(system),
    ]
    cors = Middleware(CorsMiddleware, auth_off=lambda: system.dev_mode)
    app = Starlette(
        routes=routes,
        middleware=[cors],
        exception_handlers={404: _no_route, 405: _wrong_method},
    )
    # Same routes, same order: only the lookup of a path seen before is faster.
    app.router = CachedRouter(routes)
    app.state.event_streams = streams
    return app


# Starlette answers a path no route matches in plain text; a client of a JSON
# API should get JSON for every answer, this one included.
async def _no_route(request: Request, exc: Exception) -> Response:
    return error_response(errors.route_not_found(request.method, request.url.path))


async def _wrong_method(request: Request, exc: Exception) -> Response:
    return error_response(errors.method_not_allowed(request.method, request.url.path))
