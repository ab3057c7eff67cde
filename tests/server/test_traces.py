"""Span buffer and the OTLP/JSON shape of ``/inspector/traces``."""

from __future__ import annotations

from actorscope.server.traces import Span, TraceBuffer, spans_to_otlp

MS = 1_000_000


def span(name: str, start_ms: int, end_ms: int, **kw: object) -> Span:
    return Span(name, start_ms * MS, end_ms * MS, **kw)  # type: ignore[arg-type]


def test_query_window_and_clamp() -> None:
    buffer = TraceBuffer()
    for i in range(5):
        buffer.record(span(f"s{i}", 100 * i, 100 * i + 50))
    hits, clamped = buffer.query(100, 300, 10)
    assert [s.name for s in hits] == ["s1", "s2", "s3"] and clamped is False
    # Overlap counts: a span running across the window start is in it.
    hits, _ = buffer.query(120, 130, 10)
    assert [s.name for s in hits] == ["s1"]
    hits, clamped = buffer.query(0, 1000, 2)
    assert [s.name for s in hits] == ["s3", "s4"] and clamped is True
    assert buffer.query(0, 1000, 0) == ([], True)


def test_capacity_keeps_the_newest_and_persists_each() -> None:
    persisted: list[str] = []
    buffer = TraceBuffer(3, on_record=lambda s: persisted.append(s.name))
    buffer.load([span("old", 0, 1)])
    for i in range(4):
        buffer.record(span(f"s{i}", i, i + 1))
    assert len(buffer) == 3
    assert [s.name for s in buffer.query(0, 100, 10)[0]] == ["s1", "s2", "s3"]
    assert persisted == ["s0", "s1", "s2", "s3"]  # load() does not re-persist


def test_record_round_trip() -> None:
    original = span("x", 1, 2, status="error", message="boom", attributes={"n": 1})
    assert Span.from_record(original.to_record()) == original


def test_otlp_shape() -> None:
    spans = [
        span("ok", 1, 2, attributes={"i": 3, "f": 0.5, "b": True, "s": "v"}),
        span("bad", 2, 3, status="error", message="boom"),
    ]
    otlp = spans_to_otlp(spans, {"actor.id": "a1"})
    (resource_spans,) = otlp["resourceSpans"]
    assert resource_spans["resource"]["attributes"] == [
        {"key": "actor.id", "value": {"stringValue": "a1"}}
    ]
    (scope,) = resource_spans["scopeSpans"]
    assert scope["scope"] == {"name": "actorscope"}
    ok, bad = scope["spans"]
    assert ok["startTimeUnixNano"] == str(1 * MS) and ok["endTimeUnixNano"] == str(2 * MS)
    assert ok["status"] == {"code": 1} and ok["kind"] == 1
    assert bad["status"] == {"code": 2, "message": "boom"}
    assert ok["attributes"] == [
        {"key": "i", "value": {"intValue": "3"}},
        {"key": "f", "value": {"doubleValue": 0.5}},
        {"key": "b", "value": {"boolValue": True}},
        {"key": "s", "value": {"stringValue": "v"}},
    ]
    assert len(ok["traceId"]) == 32 and len(ok["spanId"]) == 16
    assert ok["spanId"] != bad["spanId"]
