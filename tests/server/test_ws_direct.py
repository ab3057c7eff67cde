"""The direct message path (``server/ws_direct.py``) on a real server and socket.

Requests are answered inside the protocol's read when nothing waits ahead of
them; these tests pin what a peer relies on: every answer, in the order
asked, including requests that arrived before the endpoint attached,
asynchronous requests between synchronous ones, and a peer that asks far
more than it reads (throttled by TCP, nothing lost).
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import cbor2
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from actorscope.protocol.framing import decode_to_client, encode_to_server
from actorscope.protocol.messages import (
    Init,
    PatchStateRequest,
    StateRequest,
    StateResponse,
    StateUpdated,
    ToServer,
)
from actorscope.server.definitions import ActorContext, ActorDefinition, Registry
from actorscope.server.runner import RunningServer
from actorscope.server.ws_direct import DirectWebSocketProtocol

TIMEOUT = 60.0


class RawPeer:
    """A WebSocket client on a plain non-blocking socket, parsed with websockets' sans-I/O client.

    The bytes it sends are exactly what the test asks for, in one ``send``
    when the test wants them together (a handshake and frames in one packet).
    """

    def __init__(self, server: RunningServer, path: str, *, buffers: int | None = None) -> None:
        token = server.server_token
        self.client = ClientProtocol(
            parse_uri(f"{server.ws_url}{path}"),
            subprotocols=[Subprotocol("rivet"), Subprotocol(f"rivet_inspector_token.{token}")],
        )
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if buffers is not None:
            # Small kernel buffers on the peer's side: the server's answers
            # and the peer's requests back up after a few hundred KiB.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffers)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffers)
        self.sock.connect((server.host, server.port))
        self.sock.setblocking(False)
        self.frames: list[bytes] = []
        self.handshake: Response | None = None

    def handshake_bytes(self) -> bytes:
        self.client.send_request(self.client.connect())
        return b"".join(self.client.data_to_send())

    @staticmethod
    def frame(payload: bytes) -> bytes:
        """One masked binary frame, as a client must send it."""
        return Frame(Opcode.BINARY, payload).serialize(mask=True, extensions=[])

    async def send_all(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def wait_open(self) -> None:
        """Read until the server's handshake response has come (a 101)."""
        deadline = time.monotonic() + TIMEOUT
        while self.handshake is None:
            assert time.monotonic() < deadline, "no handshake response came"
            await self._read_once()

    async def read_frames(self, count: int) -> list[bytes]:
        """Read until ``count`` messages (beyond those already read) have arrived."""
        want = len(self.frames) + count
        deadline = time.monotonic() + TIMEOUT
        while len(self.frames) < want:
            assert time.monotonic() < deadline, f"{len(self.frames)} of {want} messages came"
            await self._read_once()
        return self.frames[want - count : want]

    async def _read_once(self) -> None:
        loop = asyncio.get_running_loop()
        data = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 16), TIMEOUT)
        assert data, "the server closed the connection"
        self.client.receive_data(data)
        for event in self.client.events_received():
            if isinstance(event, Response):
                assert event.status_code == 101, event
                self.handshake = event
            elif isinstance(event, Frame) and event.opcode is Opcode.BINARY:
                self.frames.append(bytes(event.data))

    async def attach(self) -> None:
        """Send the handshake and read the endpoint's ``Init``."""
        await self.send_all(self.handshake_bytes())
        (init,) = _bodies(await self.read_frames(1))
        assert isinstance(init, Init)

    def __enter__(self) -> RawPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def _bodies(frames: list[bytes]) -> list[Any]:
    return [decode_to_client(frame)[1].body for frame in frames]


def _state_request(rid: int) -> bytes:
    return encode_to_server(ToServer(StateRequest(id=rid)), 4)


async def test_requests_that_arrive_before_init_is_sent_are_answered_after_it_in_order(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    # The endpoint attaches the direct path once Init is built; requests that
    # reach uvicorn before that wait in its queue. They must still come after
    # Init and before anything asked later. Building Init is held here (the
    # actor's queue status waits on a gate) so the requests surely come first.
    actor = server.directory.get(demo_ids["counter"])
    assert actor is not None
    gate = asyncio.Event()
    queue_status = actor.queue_status

    async def held_queue_status(limit: int) -> Any:
        await gate.wait()
        return await queue_status(limit)

    actor.queue_status = held_queue_status  # type: ignore[method-assign]
    with RawPeer(server, f"/gateway/{demo_ids['counter']}/inspector/connect") as peer:
        await peer.send_all(peer.handshake_bytes())
        await peer.wait_open()
        early = b"".join(RawPeer.frame(_state_request(rid)) for rid in range(50))
        await peer.send_all(early)
        await asyncio.sleep(0.2)  # let uvicorn read and queue them
        gate.set()
        first = _bodies(await peer.read_frames(51))
        assert isinstance(first[0], Init)
        assert [b.rid for b in first[1:]] == list(range(50))
        await peer.send_all(b"".join(RawPeer.frame(_state_request(rid)) for rid in range(50, 60)))
        later = _bodies(await peer.read_frames(10))
        assert [b.rid for b in later] == list(range(50, 60))


async def test_asynchronous_requests_keep_their_place_among_synchronous_ones(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    # A patch is answered by the actor (asynchronously); a StateRequest sent
    # right behind it in the same packet must see the patch.
    with RawPeer(server, f"/gateway/{demo_ids['counter']}/inspector/connect") as peer:
        await peer.attach()
        requests = []
        for n in range(1, 6):
            patch = PatchStateRequest(state=cbor2.dumps({"count": n * 100}))
            requests.append(encode_to_server(ToServer(patch), 4))
            requests.append(_state_request(n))
        await peer.send_all(b"".join(RawPeer.frame(r) for r in requests))
        bodies = _bodies(await peer.read_frames(10))
        answers = [b for b in bodies if isinstance(b, StateResponse)]
        pushes = [b for b in bodies if isinstance(b, StateUpdated)]
        assert [a.rid for a in answers] == list(range(1, 6))
        assert [cbor2.loads(a.state) for a in answers] == [{"count": n * 100} for n in range(1, 6)]
        assert [cbor2.loads(p.state) for p in pushes] == [{"count": n * 100} for n in range(1, 6)]
        # Each push comes before the answer that follows its patch.
        kinds = [type(b).__name__ for b in bodies]
        assert kinds == ["StateUpdated", "StateResponse"] * 5


@pytest.mark.parametrize("parser", ["httptools", "h11"])
async def test_frames_sent_with_the_handshake_are_answered(
    server_factory: Any, parser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client that sends its first requests in the same packet as the
    # upgrade request: uvicorn gave the WebSocket protocol only the request
    # head, and those requests were never answered.
    monkeypatch.setenv("ACTORSCOPE_HTTP_PARSER", parser)
    server: RunningServer = await server_factory()
    actor = next(a.actor_id for a in server.directory.actors() if a.record.name == "counter")
    with RawPeer(server, f"/gateway/{actor}/inspector/connect") as peer:
        frames = b"".join(RawPeer.frame(_state_request(rid)) for rid in (1, 2, 3))
        await peer.send_all(peer.handshake_bytes() + frames)
        bodies = _bodies(await peer.read_frames(4))
        assert isinstance(bodies[0], Init)
        assert [b.rid for b in bodies[1:]] == [1, 2, 3]


async def test_frames_cut_anywhere_across_reads_are_all_answered_in_order(
    server: RunningServer, demo_ids: dict[str, str]
) -> None:
    # Whole frames in one read are taken past websockets' parser
    # (ws_frames.py); a read that ends mid-frame leaves websockets waiting
    # inside it, and the next read must go to websockets, not be taken as a
    # new frame (test_ws_frames.py tests that with bytes that look like one).
    with RawPeer(server, f"/gateway/{demo_ids['counter']}/inspector/connect") as peer:
        await peer.attach()
        frame_size = len(RawPeer.frame(_state_request(1)))
        for cut in range(1, frame_size):  # every offset inside the first frame
            rids = [2 * cut, 2 * cut + 1]
            pair = b"".join(RawPeer.frame(_state_request(rid)) for rid in rids)
            await peer.send_all(pair[:cut])
            await asyncio.sleep(0.02)  # lands as its own read
            await peer.send_all(pair[cut:])
            assert [b.rid for b in _bodies(await peer.read_frames(2))] == rids


def _big_state_registry() -> Registry:
    def bump(ctx: ActorContext) -> int:
        ctx.state["n"] += 1
        return int(ctx.state["n"])

    return Registry([ActorDefinition("big", {"n": 0, "blob": "x" * 4096}, {"bump": bump})])


async def test_a_peer_that_asks_without_reading_is_throttled_and_loses_nothing(
    server_factory: Any,
) -> None:
    srv: RunningServer = await server_factory(registry=_big_state_registry())
    actor_id = srv.directory.actors()[0].actor_id
    loop = asyncio.get_running_loop()
    with RawPeer(srv, f"/gateway/{actor_id}/inspector/connect", buffers=8192) as peer:
        await peer.attach()
        # Each ~4 KiB answer costs the peer ~10 bytes to ask for. Ask without
        # reading until the server stops taking requests: its answers fill
        # the socket buffers, then it stops reading, then TCP pushes back.
        sent = 0
        blocked_since: float | None = None
        pending = b""
        batch = 100  # requests per send
        while True:
            if not pending:
                pending = b"".join(
                    RawPeer.frame(_state_request(rid)) for rid in range(sent, sent + batch)
                )
            try:
                written = peer.sock.send(pending)
            except BlockingIOError:
                now = time.monotonic()
                blocked_since = blocked_since or now
                if now - blocked_since > 2.0:
                    break  # two seconds of refusal: the server has stopped reading
                await asyncio.sleep(0.05)
                continue
            blocked_since = None
            pending = pending[written:]
            if not pending:
                sent += batch
            assert sent < 200_000, "the server kept reading requests it could not answer"
        # What the server holds for this peer stays bounded: its transport
        # buffer is near the high-water mark, not one answer per request read.
        held = [
            c.transport.get_write_buffer_size()
            for c in srv._server.server_state.connections
            if isinstance(c, DirectWebSocketProtocol)
        ]
        assert held and max(held) < 1 << 20, held
        # Now read; the batch cut short is finished meanwhile (the server
        # reads again once its answers are taken), so every request is whole.
        if pending:
            sent += batch
            reader = asyncio.create_task(peer.read_frames(sent))
            await loop.sock_sendall(peer.sock, pending)
            bodies = _bodies(await reader)
        else:
            bodies = _bodies(await peer.read_frames(sent))
        assert [b.rid for b in bodies] == list(range(sent))
        assert all(len(b.state) > 4096 for b in bodies)
