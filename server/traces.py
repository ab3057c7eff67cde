"""Per-actor traces: a span per action call and per workflow step, as OTLP JSON.

Spans are kept in a bounded in-memory ring (the newest ``capacity``) and
handed to a persistence callback, so they survive a restart. Queries return
the OTLP/JSON shape (``resourceSpans`` → ``scopeSpans`` → ``spans``) that the
inspector's trace view reads (PROTOCOL.md §3 ``TraceQueryResponse``, §8
``/inspector/traces``).
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import attrs

__all__ = ["DEFAULT_TRACE_CAPACITY", "Span", "TraceBuffer", "spans_to_otlp"]

DEFAULT_TRACE_CAPACITY = 1000

# OTLP status codes (opentelemetry/proto/trace/v1/trace.proto, Status.StatusCode).
_STATUS_CODES = {"unset": 0, "ok": 1, "error": 2}


@attrs.frozen
class Span:
    """One finished span. Times are nanoseconds since the Unix epoch."""

    name: str
    start_ns: int
    end_ns: int
    status: str = "ok"
    message: str | None = None
    attributes: dict[str, Any] = attrs.field(factory=dict)
    trace_id: str = attrs.field(factory=lambda: secrets.token_hex(16))
    span_id: str = attrs.field(factory=lambda: secrets.token_hex(8))

    def to_record(self) -> dict[str, Any]:
        """A msgpack-able dict (what the store keeps)."""
        return attrs.asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Span:
        return cls(**record)


class TraceBuffer:
    """The newest ``capacity`` spans of one actor, oldest first."""

    def __init__(
        self,
        capacity: int = DEFAULT_TRACE_CAPACITY,
        *,
        on_record: Callable[[Span], None] | None = None,
    ) -> None:
        self._spans: deque[Span] = deque(maxlen=capacity)
        self._on_record = on_record

    def load(self, spans: Iterable[Span]) -> None:
        """Restore persisted spans (without calling the persistence hook)."""
        self._spans.extend(spans)

    def record(self, span: Span) -> None:
        self._spans.append(span)
        if self._on_record is not None:
            self._on_record(span)

    def __len__(self) -> int:
        return len(self._spans)

    def query(self, start_ms: int, end_ms: int, limit: int) -> tuple[list[Span], bool]:
        """Spans overlapping ``[start_ms, end_ms]``, oldest first, at most ``limit``.

        Returns the spans and whether ``limit`` cut the result (``clamped``).
        When clamped, the newest spans are kept: an operator looking at a
        window wants what happened last.
        """
        start_ns, end_ns = start_ms * 1_000_000, end_ms * 1_000_000
        hits = [s for s in self._spans if s.start_ns <= end_ns and s.end_ns >= start_ns]
        if len(hits) > limit:
            return (hits[len(hits) - limit :] if limit > 0 else []), True
        return hits, False


def _attribute_value(value: Any) -> dict[str, Any]:
    # OTLP/JSON AnyValue: int64 travels as a decimal string.
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _attribute_value(v)} for k, v in values.items()]


def spans_to_otlp(spans: Iterable[Span], resource: dict[str, Any]) -> dict[str, Any]:
    """The OTLP/JSON ``ExportTraceServiceRequest`` shape for ``spans``."""
    rendered = []
    for span in spans:
        status: dict[str, Any] = {"code": _STATUS_CODES.get(span.status, 0)}
        if span.message:
            status["message"] = span.message
        rendered.append(
            {
                "traceId": span.trace_id,
                "spanId": span.span_id,
                "name": span.name,
                "kind": 1,  # SPAN_KIND_INTERNAL
                "startTimeUnixNano": str(span.start_ns),
                "endTimeUnixNano": str(span.end_ns),
                "status": status,
                "attributes": _attributes(span.attributes),
            }
        )
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes(resource)},
                "scopeSpans": [{"scope": {"name": "actorscope"}, "spans": rendered}],
            }
        ]
    }
