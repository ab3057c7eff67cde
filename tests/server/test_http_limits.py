"""Request-head timeout, oversized handshake headers and the body limit, over raw sockets.

Each test speaks HTTP by hand to a real server, because what is tested is
what a client that does not behave (sends nothing, half a header, a huge
body) gets back: a closed connection or an HTTP error, never silence.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from actorscope.server.limits import Limits
from actorscope.server.runner import RunningServer

TIMEOUT = 30.0
HEAD_TIMEOUT = 1.0


async def _open(srv: RunningServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(srv.host, srv.port)


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (fails if it never does)."""
    try:
        return await asyncio.wait_for(reader.read(), TIMEOUT)
    except ConnectionResetError:
        # Closed with bytes of ours still unread on its side: a reset, not a FIN.
        return b""


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
    return int(status_line.split()[1]), headers, body


@pytest.fixture(params=["httptools", "h11"])
async def srv(
    server_factory: Any, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> RunningServer:
    # Every bound holds with either HTTP parser (uvicorn_protocols.http_parser).
    monkeypatch.setenv("ACTORSCOPE_HTTP_PARSER", request.param)
    running: RunningServer = await server_factory(
        limits=Limits(header_timeout=HEAD_TIMEOUT, max_body_bytes=64 << 10)
    )
    return running


def _request(srv: RunningServer, method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {srv.host}:{srv.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _auth(srv: RunningServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {srv.server_token}"}


# request-head timeout ------------------------------------------------------------


async def test_a_connection_that_sends_nothing_is_closed(srv: RunningServer) -> None:
    reader, writer = await _open(srv)
    try:
        assert await _closed_by_server(reader) == b""
    finally:
        writer.close()


async def test_half_a_header_is_closed(srv: RunningServer) -> None:
    reader, writer = await _open(srv)
    try:
        writer.write(b"GET /actors HTTP/1.1\r\nHost: x\r\nAuthor")
        await writer.drain()
        assert await _closed_by_server(reader) == b""
    finally:
        writer.close()


async def test_a_trickled_header_gets_no_more_time(srv: RunningServer) -> None:
    # One byte at a time, each well within the timeout: the bound is on the
    # whole head, so the server still closes.
    reader, writer = await _open(srv)
    try:
        closed = asyncio.create_task(_closed_by_server(reader))
        for byte in b"GET /actors HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000:
            if closed.done():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(HEAD_TIMEOUT / 10)
        assert await closed == b""
    finally:
        writer.close()


async def test_keep_alive_then_half_a_header_is_closed(srv: RunningServer) -> None:
    reader, writer = await _open(srv)
    try:
        writer.write(_request(srv, "GET", "/actors", _auth(srv)))
        await writer.drain()
        status, _, body = await _response(reader)
        assert status == 200 and "actors" in json.loads(body)
        writer.write(b"GET /actors HTTP/1.1\r\nHo")
        await writer.drain()
        assert await _closed_by_server(reader) == b""
    finally:
        writer.close()


async def test_a_complete_request_is_answered_after_a_pause(srv: RunningServer) -> None:
    # The timeout is on sending the head, not on serving: a request sent in
    # time is answered however long the connection existed before... within it.
    reader, writer = await _open(srv)
    try:
        await asyncio.sleep(HEAD_TIMEOUT / 5)
        writer.write(_request(srv, "GET", "/actors", _auth(srv)))
        await writer.drain()
        status, _, _ = await _response(reader)
        assert status == 200
    finally:
        writer.close()


async def test_websocket_upgrade_with_an_oversized_header_line_gets_an_http_error(
    srv: RunningServer,
) -> None:
    actor_id = srv.directory.actors()[0].actor_id
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "X-Big": "b" * 9000,
        **_auth(srv),
    }
    reader, writer = await _open(srv)
    try:
        writer.write(_request(srv, "GET", f"/gateway/{actor_id}/inspector/connect", headers))
        await writer.drain()
        status, _, body = await _response(reader)
        assert status == 431, body
        assert await _closed_by_server(reader) == b""
    finally:
        writer.close()


@pytest.mark.parametrize("split", [False, True], ids=["one-write", "two-writes"])
async def test_an_oversized_plain_http_head_gets_431(srv: RunningServer, split: bool) -> None:
    request = _request(srv, "GET", "/actors", {**_auth(srv), "X-Big": "b" * (20 << 10)})
    reader, writer = await _open(srv)
    try:
        if split:
            writer.write(request[:100])
            await writer.drain()
            await asyncio.sleep(0.05)
            request = request[100:]
        writer.write(request)
        await writer.drain()
        status, _, _ = await _response(reader)
        assert status == 431
        assert await _closed_by_server(reader) == b""
    finally:
        writer.close()


async def test_a_header_line_that_never_ends_gets_431(srv: RunningServer) -> None:
    # Piece by piece, past the bound, never completing: the parser must not
    # gather it for as long as the peer keeps sending.
    reader, writer = await _open(srv)
    try:
        writer.write(f"GET /actors HTTP/1.1\r\nHost: {srv.host}\r\nX-Big: ".encode())
        for _ in range(5):  # 20 KiB: past the bound, then nothing more
            writer.write(b"b" * (4 << 10))
            await writer.drain()
            await asyncio.sleep(0.02)
        status, _, _ = await _response(reader)
        assert status == 431
        assert await _closed_by_server(reader) == b""
    finally:
        writer.close()


async def test_a_large_but_allowed_head_is_served(srv: RunningServer) -> None:
    reader, writer = await _open(srv)
    try:
        writer.write(_request(srv, "GET", "/actors", {**_auth(srv), "X-Big": "b" * (12 << 10)}))
        await writer.drain()
        status, _, _ = await _response(reader)
        assert status == 200
    finally:
        writer.close()


# body limit ----------------------------------------------------------------------


def _state_url(srv: RunningServer) -> str:
    counter = next(a for a in srv.directory.actors() if a.record.name == "counter")
    return f"/gateway/{counter.actor_id}/inspector/state"


async def test_announced_oversized_body_is_refused_before_it_is_sent(srv: RunningServer) -> None:
    # 100 MB announced, not one byte sent: the answer cannot wait for the body.
    reader, writer = await _open(srv)
    try:
        headers = {**_auth(srv), "Content-Type": "application/json", "Content-Length": "100000000"}
        writer.write(_request(srv, "PATCH", _state_url(srv), headers))
        await writer.drain()
        status, _, body = await _response(reader)
        assert status == 413
        assert json.loads(body)["group"] == "request"
        assert json.loads(body)["code"] == "too_large"
    finally:
        writer.close()


async def test_chunked_body_is_counted_and_refused_past_the_limit(srv: RunningServer) -> None:
    # No length announced; the body passes the limit and the client then
    # waits (no final chunk): the server answers 413 without the rest.
    limit = srv.config.limits.max_body_bytes
    reader, writer = await _open(srv)
    try:
        headers = {**_auth(srv), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        writer.write(_request(srv, "PATCH", _state_url(srv), headers))
        chunk = b"x" * 4096
        for _ in range(limit // len(chunk) + 1):
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()
        status, _, body = await _response(reader)
        assert status == 413 and json.loads(body)["code"] == "too_large"
    finally:
        writer.close()


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_of_exactly_the_limit_is_accepted(srv: RunningServer, chunked: bool) -> None:
    limit = srv.config.limits.max_body_bytes
    empty = json.dumps({"state": {"pad": ""}}).encode()
    payload = json.dumps({"state": {"pad": "p" * (limit - len(empty))}}).encode()
    assert len(payload) == limit
    reader, writer = await _open(srv)
    try:
        headers = {**_auth(srv), "Content-Type": "application/json"}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
            body = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"
        else:
            headers["Content-Length"] = str(len(payload))
            body = payload
        writer.write(_request(srv, "PATCH", _state_url(srv), headers) + body)
        await writer.drain()
        status, _, answer = await _response(reader)
        assert status == 200, answer
    finally:
        writer.close()
