"""Refusals the server reports to callers.

Hierarchy::

    InspectorError            a refusal the caller can act on (never a bare 500)

Each transport maps an ``InspectorError`` its own way: the HTTP API answers
``status`` with ``{"group", "code", "message"}``; the WebSocket inspector
answers an ``Error`` frame whose message is ``"{group}.{code}: {message}"``
(PROTOCOL.md §6 and §8).
"""

from __future__ import annotations

__all__ = [
    "InspectorError",
    "OwnershipLost",
    "action_failed",
    "action_not_found",
    "actor_not_found",
    "database_not_enabled",
    "definition_not_found",
    "invalid_request",
    "method_not_allowed",
    "queue_full",
    "replay_in_flight",
    "replay_target_not_step",
    "route_not_found",
    "schedule_not_found",
    "state_not_enabled",
    "step_not_found",
    "table_not_found",
    "unauthorized",
    "workflow_not_enabled",
]


class OwnershipLost(Exception):
    """A write refused because this node no longer owns the actor (``leases.LeaseLost``).

    Here, free of the cluster's imports, so that code common to a lone
    server and a cluster node can tell this expected refusal from a fault.
    """


class InspectorError(Exception):
    """A refusal with an HTTP status and a stable ``group.code``."""

    def __init__(self, status: int, group: str, code: str, message: str) -> None:
        super().__init__(f"{group}.{code}: {message}")
        self.status = status
        self.group = group
        self.code = code
        self.message = message

    @property
    def full_code(self) -> str:
        return f"{self.group}.{self.code}"

    def to_json(self) -> dict[str, str]:
        return {"group": self.group, "code": self.code, "message": self.message}

    def frame_message(self) -> str:
        """The text of the WebSocket ``Error`` frame for this refusal."""
        return f"{self.full_code}: {self.message}"


def unauthorized() -> InspectorError:
    return InspectorError(401, "inspector", "unauthorized", "missing or invalid inspector token")


def actor_not_found(actor_id: str) -> InspectorError:
    return InspectorError(404, "actor", "not_found", f"no actor {actor_id!r}")


def invalid_request(reason: str) -> InspectorError:
    return InspectorError(400, "request", "invalid", reason)


def workflow_not_enabled() -> InspectorError:
    return InspectorError(400, "workflow", "not_enabled", "this actor has no workflow")


def step_not_found(detail: str) -> InspectorError:
    return InspectorError(404, "workflow", "step_not_found", detail)


def replay_target_not_step(detail: str) -> InspectorError:
    return InspectorError(400, "workflow", "replay_target_not_step", detail)


def replay_in_flight(detail: str) -> InspectorError:
    return InspectorError(409, "workflow", "replay_in_flight", detail)


def state_not_enabled() -> InspectorError:
    return InspectorError(400, "actor", "state_not_enabled", "this actor has no state")


def action_not_found(name: str) -> InspectorError:
    return InspectorError(404, "actor", "action_not_found", f"no action {name!r}")


def database_not_enabled() -> InspectorError:
    return InspectorError(400, "database", "not_enabled", "this actor has no database")


def table_not_found(table: str) -> InspectorError:
    return InspectorError(404, "database", "table_not_found", f"no table {table!r}")


def action_failed(name: str, exc: BaseException) -> InspectorError:
    """The action itself raised: the caller gets what it raised, not a bare 500."""
    return InspectorError(500, "actor", "action_failed", f"{name}: {type(exc).__name__}: {exc}")


def definition_not_found(name: str) -> InspectorError:
    return InspectorError(404, "actor", "definition_not_found", f"no actor definition {name!r}")


def queue_full(max_size: int) -> InspectorError:
    return InspectorError(409, "queue", "full", f"the queue holds its maximum of {max_size}")


def route_not_found(method: str, path: str) -> InspectorError:
    return InspectorError(404, "request", "route_not_found", f"no route {method} {path}")


def method_not_allowed(method: str, path: str) -> InspectorError:
    return InspectorError(405, "request", "method_not_allowed", f"{path} does not take {method}")


def schedule_not_found(schedule_id: str) -> InspectorError:
    return InspectorError(404, "schedule", "not_found", f"no schedule {schedule_id!r}")
