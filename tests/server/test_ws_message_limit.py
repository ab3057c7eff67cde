"""The 1 MiB WebSocket limit is on the message, compressed or not (PROTOCOL.md §5).

Browsers send with permessage-deflate; an incompressible message of exactly
1 MiB then travels in a frame a little over 1 MiB. It must be accepted; a
message of 1 MiB + 1 byte must be closed with 1009 whether compressed or not.
"""

from __future__ import annotations

import asyncio
import os

import msgpack
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import PerMessageDeflate

from actorscope.protocol.framing import decode_to_client, encode_to_server
from actorscope.protocol.messages import (
    Init,
    PatchStateRequest,
    StateRequest,
    StateResponse,
    ToServer,
)
from actorscope.server.runner import RunningServer

TIMEOUT = 30.0
LIMIT = 1 << 20


def _patch_frame(size: int) -> tuple[bytes, bytes]:
    """A v4 ``PatchStateRequest`` of exactly ``size`` bytes of random state, and the state."""
    blob = os.urandom(size)
    state = msgpack.packb(blob)
    overhead = len(encode_to_server(ToServer(PatchStateRequest(state=state)), 4, prefix=False))
    blob = blob[: size - (overhead - size)]
    state = msgpack.packb(blob)
    frame = encode_to_server(ToServer(PatchStateRequest(state=state)), 4, prefix=False)
    assert len(frame) == size
    return frame, state


async def _open(server: RunningServer, actor_id: str, compression: str | None) -> ClientConnection:
    # MessagePack values, whatever the server's default codec.
    query = "?protocol_version=4&value_codec=msgpack"
    url = f"{server.ws_url}/gateway/{actor_id}/inspector/connect{query}"
    conn = await connect(
        url,
        additional_headers={"Authorization": f"Bearer {server.server_token}"},
        compression=compression,
        max_size=None,
        open_timeout=TIMEOUT,
    )
    deflating = any(isinstance(e, PerMessageDeflate) for e in conn.protocol.extensions)
    assert deflating == (compression is not None)
    frame = await asyncio.wait_for(conn.recv(), TIMEOUT)
    assert isinstance(frame, bytes)
    assert isinstance(decode_to_client(frame, 4)[1].body, Init)
    return conn


async def _state(conn: ClientConnection) -> bytes | None:
    await conn.send(encode_to_server(ToServer(StateRequest(id=7)), 4, prefix=False))
    while True:
        frame = await asyncio.wait_for(conn.recv(), TIMEOUT)
        assert isinstance(frame, bytes)
        body = decode_to_client(frame, 4)[1].body
        if isinstance(body, StateResponse):
            return body.state


@pytest.mark.parametrize("compression", ["deflate", None], ids=["deflate", "plain"])
async def test_a_message_of_exactly_the_limit_is_accepted(
    server: RunningServer, demo_ids: dict[str, str], compression: str | None
) -> None:
    frame, state = _patch_frame(LIMIT)
    conn = await _open(server, demo_ids["counter"], compression)
    async with conn:
        await conn.send(frame)
        assert await _state(conn) == state


@pytest.mark.parametrize("compression", ["deflate", None], ids=["deflate", "plain"])
async def test_one_byte_over_the_limit_closes_1009(
    server: RunningServer, demo_ids: dict[str, str], compression: str | None
) -> None:
    frame, _ = _patch_frame(LIMIT + 1)
    conn = await _open(server, demo_ids["counter"], compression)
    await conn.send(frame)
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(conn.recv(), TIMEOUT)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


@pytest.mark.parametrize("compression", ["deflate", None], ids=["deflate", "plain"])
async def test_client_connections_have_the_same_limit(
    server: RunningServer, demo_ids: dict[str, str], compression: str | None
) -> None:
    url = f"{server.ws_url}/gateway/{demo_ids['counter']}/connect"
    headers = {"Authorization": f"Bearer {server.server_token}"}
    async with connect(
        url, additional_headers=headers, compression=compression, open_timeout=TIMEOUT
    ) as conn:
        # A JSON text message of exactly the limit is read (and refused as an
        # unknown frame type, which keeps the connection open) ...
        envelope = '{"type": "nothing", "pad": ""}'
        text = envelope.replace('""', '"' + os.urandom(LIMIT).hex()[: LIMIT - len(envelope)] + '"')
        assert len(text.encode()) == LIMIT
        await conn.send(text)
        answer = await asyncio.wait_for(conn.recv(), TIMEOUT)
        assert '"invalid"' in str(answer)
        # ... one byte more closes the connection with 1009.
        await conn.send(text + " ")
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(conn.recv(), TIMEOUT)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
