"""Discovery for the RivetKit Inspector UI: who we are and which protocol to speak (§10.3, §10.5).

* ``GET /metadata`` and ``GET /api/rivet/metadata`` (public) →
  ``{"runtime": "actorscope", "version": <advertised>, "runner": {...}}``;
* ``GET /datacenters`` (server-wide token) → the one datacenter, ``local``;
* ``GET /gateway/{id}/metadata`` (public, the same answer for every id) →
  ``{"version": <advertised>, "type": "local"}``;
* ``GET /gateway/{id}/health`` → ``ok`` with the token the UI sends there
  (``x-rivet-token``, or ``Authorization: Bearer``): the server-wide token or
  the actor's own; 404 for an actor that does not exist;
* ``GET /gateway/{id}/inspector/ui/`` → 404 with a reason: RivetKit's own
  per-actor UI bundle is not ours to serve.

The UI picks the inspector protocol from the advertised RivetKit version
(§9.2's table), so the version we advertise is the RivetKit release whose
protocol matches the newest one this server speaks: with v6 that is 2.3.19,
which makes today's UI negotiate ``?protocol_version=6`` (and the 2.2.1 build,
which knows nothing above v4, speak v4); a server capped with
``--max-protocol-version N`` advertises the release that makes the UI speak N.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from actorscope.protocol.framing import NEWEST_VERSION
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from . import errors
from .directory import ActorSystem
from .http_api import bearer_token, error_response, internal_error

__all__ = ["ADVERTISED_VERSIONS", "RUNTIME", "advertised_version", "discovery_routes"]

RUNTIME = "actorscope"

#: protocol version → the RivetKit version that makes the Inspector UI speak
#: it (§9.2: ≥ 2.3.4 → v6 negotiated; ≥ 2.3.3 → v5; ≥ 2.1.6 → v4;
#: ≥ 2.0.42 → v3; other 2.x → v2; below 2 → v1).
ADVERTISED_VERSIONS: dict[int, str] = {
    6: "2.3.19",
    5: "2.3.3",
    4: "2.2.1",
    3: "2.0.42",
    2: "2.0.40",
    1: "1.0.0",
}

#: The UI asks for this header's token on per-actor calls (§10.5).
_RIVET_TOKEN_HEADER = "x-rivet-token"


def advertised_version(max_protocol_version: int) -> str:
    """The RivetKit version to advertise for a server speaking up to ``max_protocol_version``."""
    newest = min(max_protocol_version, NEWEST_VERSION)
    return ADVERTISED_VERSIONS[max(v for v in ADVERTISED_VERSIONS if v <= newest)]


def _actor_token(request: Request) -> str | None:
    token = bearer_token(request)
    if token is None:
        header = request.headers.get(_RIVET_TOKEN_HEADER, "").strip()
        token = header or None
    return token


def discovery_routes(system: ActorSystem, *, max_protocol_version: int) -> list[BaseRoute]:
    """The discovery routes of a server speaking up to ``max_protocol_version``."""
    version = advertised_version(max_protocol_version)

    async def metadata(request: Request) -> Response:
        return JSONResponse(
            {
                "runtime": RUNTIME,
                "version": version,
                "runner": {"kind": {"normal": {}}},
            }
        )

    async def datacenters(request: Request) -> Response:
        if system.authorize_management(bearer_token(request)) is None:
            return error_response(errors.unauthorized())
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "datacenters": [{"label": 1, "name": "local", "url": base}],
                "pagination": {"cursor": None},
            }
        )

    def per_actor(
        answer: Callable[[], Response],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                actor_id = str(request.path_params["actorId"])
                # Auth before lookup, as everywhere (§6): an unauthenticated
                # caller learns nothing about which actors exist.
                if system.authorize(actor_id, _actor_token(request)) is None:
                    raise errors.unauthorized()
                if system.get(actor_id) is None:
                    raise errors.actor_not_found(actor_id)
                return answer()
            except errors.InspectorError as exc:
                return error_response(exc)
            except Exception:
                return internal_error(request)

        return endpoint

    async def no_ui_bundle(request: Request) -> Response:
        exc = errors.InspectorError(
            404,
            "inspector",
            "ui_not_served",
            "actorscope does not serve RivetKit's per-actor inspector UI; "
            "choose 'Use legacy inspector' in the RivetKit Inspector",
        )
        return error_response(exc)

    async def actor_metadata(request: Request) -> Response:
        # Public, as the UI polls it without a token (§10.5), and the same for
        # every id: it describes the server, so it says nothing about which
        # actors exist.
        return JSONResponse({"version": version, "type": "local"})

    health = per_actor(lambda: PlainTextResponse("ok"))
    return [
        Route("/metadata", metadata, methods=["GET"]),
        Route("/api/rivet/metadata", metadata, methods=["GET"]),
        Route("/datacenters", datacenters, methods=["GET"]),
        Route("/gateway/{actorId}/metadata", actor_metadata, methods=["GET"]),
        Route("/gateway/{actorId}/health", health, methods=["GET"]),
        Route("/gateway/{actorId}/inspector/ui/{rest:path}", no_ui_bundle, methods=["GET"]),
    ]
