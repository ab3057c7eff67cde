"""``HttpInspector``: a small blocking client for the inspector's HTTP API.

PROTOCOL.md §8 plus the operator routes (replay by path, dry run,
audit list, archived attempts). Standard library only (``urllib``): the CLI
makes a handful of one-shot calls, so a connection pool would buy nothing and
``httpx`` can stay a test-only dependency.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from .errors import InspectorClientError

__all__ = ["HttpInspector", "InspectorHttpError", "ServerHttp"]


class InspectorHttpError(InspectorClientError):
    """The server answered with an error status and ``{group, code, message}``.

    ``status`` is 0 when the server could not be reached at all.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.status = status
        self.code = code
        self.message = message


class ServerHttp:
    """JSON over HTTP to one server; ``token`` goes in ``Authorization: Bearer``."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {parts.scheme!r} in {base_url!r}")
        self.base_url = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.token = token
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON answer.

        Raises:
            InspectorHttpError: an error status (with the server's code), or
                the server could not be reached (status 0).
        """
        url = self.base_url + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise _http_error(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InspectorHttpError(0, "", f"cannot reach {self.base_url}: {reason}") from None
        return json.loads(raw) if raw else None

    def find_actor(self, name: str, key: str) -> dict[str, Any]:
        """The actor registered as ``name`` with ``key`` (``GET /actors?name=``).

        Raises:
            InspectorHttpError: 404 ``actor.not_found`` when there is none.
        """
        found = self.request("GET", "/actors", query={"name": name})
        for actor in found.get("actors", []):
            if _key_text(actor.get("key")) == key:
                return dict(actor)
        raise InspectorHttpError(404, "actor.not_found", f"no {name!r} actor with key {key!r}")

    def actor(self, actor_id: str) -> HttpInspector:
        return HttpInspector(self, actor_id)


def _key_text(key: Any) -> str:
    # RivetKit keys may be a string or a list of strings; compare as text.
    if isinstance(key, list):
        return ",".join(str(k) for k in key)
    return "" if key is None else str(key)


def _http_error(status: int, raw: bytes) -> InspectorHttpError:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and "code" in body:
        group = body.get("group")
        code = f"{group}.{body['code']}" if group else str(body["code"])
        return InspectorHttpError(status, code, str(body.get("message", "")))
    text = raw.decode("utf-8", "replace").strip()[:200]
    return InspectorHttpError(status, "", f"HTTP {status}" + (f": {text}" if text else ""))


class HttpInspector:
    """The inspector routes of one actor, under ``/gateway/{actorId}``."""

    def __init__(self, server: ServerHttp, actor_id: str) -> None:
        self.server = server
        self.actor_id = actor_id
        self._prefix = f"/gateway/{quote(actor_id, safe='')}/inspector"

    def _call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        return self.server.request(method, self._prefix + path, body, query or None)

    def summary(self) -> Any:
        return self._call("GET", "/summary")

    def state(self) -> Any:
        return self._call("GET", "/state")

    def set_state(self, value: Any) -> Any:
        return self._call("PATCH", "/state", {"state": value})

    def connections(self) -> Any:
        return self._call("GET", "/connections")

    def rpcs(self) -> Any:
        return self._call("GET", "/rpcs")

    def action(self, name: str, args: list[Any]) -> Any:
        return self._call("POST", f"/action/{quote(name, safe='')}", {"args": args})

    def queue(self, limit: int = 50) -> Any:
        return self._call("GET", "/queue", limit=limit)

    def traces(self, start_ms: int, end_ms: int, limit: int = 1000) -> Any:
        return self._call("GET", "/traces", startMs=start_ms, endMs=end_ms, limit=limit)

    def workflow_history(self, attempt: int | None = None) -> Any:
        return self._call("GET", "/workflow-history", attempt=attempt)

    def replay(
        self,
        entry_id: str | None = None,
        *,
        step: str | None = None,
        dry_run: bool = False,
        reason: str | None = None,
        restore_state: bool = False,
    ) -> Any:
        """``POST /inspector/workflow/replay``; ``step`` targets a location path.

        Neither ``entry_id`` nor ``step``: the whole workflow runs again.
        ``restore_state`` also rewinds the actor state to its checkpoint at
        the boundary (actors defined with ``state_checkpoints``); with
        ``dry_run`` the answer's ``state`` shows the diff it would apply.
        """
        body: dict[str, Any] = {}
        if entry_id is not None:
            body["entryId"] = entry_id
        if step is not None:
            body["step"] = step
        if dry_run:
            body["dryRun"] = True
        if reason is not None:
            body["reason"] = reason
        if restore_state:
            body["restoreState"] = True
        return self._call("POST", "/workflow/replay", body)

    def replays(self, limit: int | None = None, before: int | None = None) -> Any:
        """One page of the replay audit, newest first: ``{"replays", "nextBefore"}``.

        ``limit``: records per page (the server's default when ``None``);
        ``before``: only records with a smaller ``seq`` (pass the previous
        page's ``nextBefore``; it is ``None`` on the last page).
        """
        return self._call("GET", "/workflow/replays", limit=limit, before=before)

    def iter_replays(self, page_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Every audit record, newest first, one page request at a time."""
        before: int | None = None
        while True:
            page = self.replays(page_size, before)
            yield from page.get("replays") or []
            before = page.get("nextBefore")
            if before is None:
                return

    def database_schema(self) -> Any:
        return self._call("GET", "/database/schema")

    def database_rows(self, table: str, limit: int = 100, offset: int = 0) -> Any:
        return self._call("GET", "/database/rows", table=table, limit=limit, offset=offset)

    def schedules(self) -> Any:
        """``{schedules: [...]}``, soonest first (docs/PROTOCOL.md §9.8)."""
        return self._call("GET", "/schedules")

    def schedule_history(self, schedule_id: str, limit: int = 100) -> Any:
        """``{scheduleId, history: [...]}``, the newest ``limit`` fires oldest first."""
        return self._call("GET", f"/schedules/{quote(schedule_id, safe='')}/history", limit=limit)

    def delete_schedule(self, schedule_id: str, kind: str) -> Any:
        """``{scheduleId, deleted}``; ``kind`` is ``at``, ``every`` or ``cron``."""
        return self._call("DELETE", f"/schedules/{quote(schedule_id, safe='')}", kind=kind)
