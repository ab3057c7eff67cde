"""starlette's router, remembering which route a path matched.

starlette finds a request's route by trying every route's pattern in order
until one matches. The server has over fifty routes, and a replay's
``POST /gateway/{id}/inspector/workflow/replay`` is the twenty-third: that
scan was the largest single cost between a request's head and its handler
(``bench/peer``, the replay row). ``CachedRouter`` remembers, for each
(scope type, method, path), the index of the first route that fully
matched; the next request with the same key is matched against that route
alone. Everything else (partial matches and their 405, not found, slash
redirects, lifespan) is starlette's own code.

The answer is the same as the scan's because the routes never change and a
``Route``, ``WebSocketRoute`` or ``Mount`` decides from the scope's type,
method, path and root path only; a router holding any other kind of route
(a ``Host`` looks at headers) caches nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

__all__ = ["CACHE_SIZE", "CachedRouter"]

#: Keys kept at most; past it the cache starts over (actor ids are in paths).
CACHE_SIZE = 4096

_PATH_ONLY = (Route, WebSocketRoute, Mount)


class CachedRouter(Router):
    """A ``Router`` that matches a path it has seen against its route alone."""

    def __init__(self, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes, **kwargs)
        self._first: dict[tuple[str, str | None, str, str], int] = {}
        self._cacheable = all(type(route) in _PATH_ONLY for route in self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan" or not self._cacheable:
            await super().app(scope, receive, send)
            return
        key = (kind, scope.get("method"), scope["path"], scope.get("root_path", ""))
        index = self._first.get(key)
        if index is None:
            index = self._learn(key, scope)
        if index is not None:
            route = self.routes[index]
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                if "router" not in scope:
                    scope["router"] = self
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
        await super().app(scope, receive, send)

    def _learn(self, key: tuple[str, str | None, str, str], scope: Scope) -> int | None:
        for index, route in enumerate(self.routes):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                if len(self._first) >= CACHE_SIZE:
                    self._first.clear()
                self._first[key] = index
                return index
        return None
