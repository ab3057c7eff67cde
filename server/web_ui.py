"""The built-in web inspector: its static files at ``/ui/`` and the one route it adds.

The page (``server/ui/``: HTML, CSS and JavaScript modules written for
actorscope, no build step, nothing fetched from elsewhere) is served as
plain files: they hold no data, so they need no token, and a browser could
not send one when it loads a page anyway. Everything the page shows comes
from the HTTP API with ``Authorization: Bearer`` (the token kept in the
tab's ``sessionStorage``, never a cookie, never in a URL), so ``/ui/``
reaches nothing without a token.

``GET /ui/api/actors`` is the page's sign-in and actor list: with the
server token (or in dev mode) every actor type and instance, with an actor
token just that actor; each instance with its workflow status
(``workflow_status.py``). A wrong token is 401 ``inspector.unauthorized``.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from . import errors
from .actor import ActorInstance
from .directory import ActorSystem, tokens_equal
from .http_api import bearer_token, error_response, internal_error
from .inspector_api import CredentialClass
from .workflow_status import workflow_status

__all__ = ["UI_DIR", "ui_files", "web_ui_routes"]

#: Where the page's files live (installed with the package: pyproject package-data).
UI_DIR = Path(__file__).resolve().parent / "ui"

_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}

# The page loads only its own files and talks only to this server.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def ui_files(root: Path = UI_DIR) -> dict[str, Path]:
    """The servable files by URL path under ``/ui/`` (``js/app.js`` → the file)."""
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in _TYPES
    }


def _file_response(path: Path) -> Response:
    media = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
    return FileResponse(path, media_type=media, headers=_HEADERS)


def _not_found(request: Request) -> Response:
    body = {"group": "ui", "code": "not_found", "message": f"no such file {request.url.path!r}"}
    return JSONResponse(body, status_code=404)


async def _instance(actor: ActorInstance) -> dict[str, Any]:
    record = actor.record
    out: dict[str, Any] = {
        "actorId": record.actor_id,
        "name": record.name,
        "key": record.key,
        "createdAt": record.create_ts,
        "workflow": None,
    }
    if actor.workflow is not None:
        out["workflow"] = workflow_status(actor.workflow, await actor.workflow.history())
    return out


def _credential(system: ActorSystem, token: str | None) -> tuple[CredentialClass, str | None]:
    """The token's class and, for an actor token, its actor; 401 when it opens nothing."""
    management = system.authorize_management(token)
    if management is not None:
        return management, None
    if token is not None:
        for actor in system.actors():
            if tokens_equal(token, actor.record.token):
                return "actor", actor.actor_id
    raise errors.unauthorized()


async def _actors(system: ActorSystem, request: Request) -> dict[str, Any]:
    credential, own = _credential(system, bearer_token(request))
    if own is not None:
        actor = system.get(own)
        assert actor is not None
        return {"credential": credential, "types": [], "actors": [await _instance(actor)]}
    return {
        "credential": credential,
        "types": system.registry.names(),
        "actors": [await _instance(a) for a in system.actors()],
    }


def web_ui_routes(system: ActorSystem, root: Path = UI_DIR) -> list[BaseRoute]:
    """``/ui`` (redirect), ``/ui/`` (the page), its files, and ``GET /ui/api/actors``."""
    files = ui_files(root)

    async def index(request: Request) -> Response:
        return _file_response(files["index.html"])

    async def asset(request: Request) -> Response:
        path = files.get(request.path_params["path"])
        return _not_found(request) if path is None else _file_response(path)

    async def redirect(request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=308)

    async def actors(request: Request) -> Response:
        try:
            return JSONResponse(await _actors(system, request))
        except errors.InspectorError as exc:
            return error_response(exc)
        except Exception:
            return internal_error(request)

    return [
        Route("/ui", redirect, methods=["GET", "HEAD"]),
        Route("/ui/", index, methods=["GET", "HEAD"]),
        Route("/ui/api/actors", actors, methods=["GET"]),
        Route("/ui/{path:path}", asset, methods=["GET", "HEAD"]),
    ]
