"""A WebSocket peer that never reads is released: its socket and fd go away.

The peer is a real subprocess holding a raw socket with a small receive
buffer: it completes the handshake, then never reads again and never leaves.
The server's pushes fill the kernel buffers and then the connection's send
queue; the connection is given up as a slow consumer, its close frame cannot
be written, and after the close timeout the transport must be aborted — the
server's socket to that peer (its file descriptor) must disappear and the
server's fd count return to its baseline, while the peer is still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from pathlib import Path

import httpx
import pytest

from actorscope.protocol.framing import encode_to_server
from actorscope.protocol.messages import StateRequest, ToServer
from actorscope.server import ws_inspector
from actorscope.server.definitions import ActorContext, ActorDefinition, Registry
from actorscope.server.limits import Limits
from actorscope.server.runner import RunningServer

TIMEOUT = 60.0

# A client that connects, upgrades, prints its local port, then never reads.
_PEER = r"""
import socket, sys, time
host, port, path, token = sys.argv[1:5]
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
sock.connect((host, int(port)))
auth = f"Authorization: Bearer {token}\r\n" if token else ""
sock.sendall(
    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    f"Sec-WebSocket-Version: 13\r\n{auth}\r\n".encode()
)
head = b""
while b"\r\n\r\n" not in head:
    head += sock.recv(1)
assert head.startswith(b"HTTP/1.1 101"), head
print(sock.getsockname()[1], flush=True)
time.sleep(3600)
"""

# A client that asks many times and reads no answer: ``http`` pipelines GETs
# of PATH; ``ws`` upgrades, then sends the masked binary frame FRAME_HEX many times.
_ASKER = r"""
import os, socket, sys, time
host, port, path, token, mode, frame_hex = sys.argv[1:7]
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
sock.connect((host, int(port)))
auth = f"Authorization: Bearer {token}\r\n"
if mode == "http":
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n".encode()
    sock.sendall(request * 200)
else:
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\n{auth}\r\n".encode()
    )
    payload = bytes.fromhex(frame_hex)
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    frame = bytes([0x82, 0x80 | len(payload)]) + mask + masked
    sock.sendall(frame * 2000)
print(sock.getsockname()[1], flush=True)
time.sleep(3600)
"""


def _accepted_sockets(server_port: int) -> dict[str, int]:
    """``socket:[inode]`` -> peer port of this process's sockets accepted on ``server_port``."""
    held = set(_open_fds().values())
    sockets = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            name = f"socket:[{fields[9]}]"
            # remote port 0 is the listening socket itself
            if local_port == server_port and remote_port != 0 and name in held:
                sockets[name] = remote_port
    return sockets


def _open_fds() -> dict[str, str]:
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own fd is gone already
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
    return out


def _holds_socket_to(peer_port: int, server_port: int) -> bool:
    return peer_port in _accepted_sockets(server_port).values()


async def _until(predicate: object, what: str) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def _start_peer(
    srv: RunningServer, path: str, token: str, out: Path
) -> tuple[asyncio.subprocess.Process, int]:
    # Its output goes to a file, not a pipe: a pipe would be one more fd here.
    with out.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _PEER, srv.host, str(srv.port), path, token, stdout=sink
        )
    await _until(lambda: out.read_text().endswith("\n"), "the peer to connect")
    return proc, int(out.read_text())


@pytest.fixture
def short_close(monkeypatch: pytest.MonkeyPatch) -> Limits:
    # Short close timeouts keep the test quick; the behaviour is the same at 10 s.
    monkeypatch.setattr(ws_inspector, "CLOSE_TIMEOUT", 1.0)
    return Limits(close_timeout=1.0)


def _blast(ctx: ActorContext) -> int:
    # ~256 KiB of incompressible text to every client connection.
    ctx.broadcast("blob", secrets.token_hex(128 << 10))
    return 1


def _registry() -> Registry:
    return Registry([ActorDefinition("blaster", {"i": 0}, {"blast": _blast})])


async def _push_inspector(http: httpx.AsyncClient, actor_id: str, i: int) -> None:
    # A state change is a push to every inspector.
    state = {"i": i, "blob": secrets.token_hex(128 << 10)}
    r = await http.patch(f"/gateway/{actor_id}/inspector/state", json={"state": state})
    assert r.status_code == 200, r.text


async def _push_client(http: httpx.AsyncClient, actor_id: str, i: int) -> None:
    # A broadcast is an event frame to every client connection.
    r = await http.post(f"/gateway/{actor_id}/inspector/action/blast", json={"args": []})
    assert r.status_code == 200, r.text


ENDPOINTS = {
    "inspector": ("/gateway/{id}/inspector/connect", _push_inspector),
    "client": ("/gateway/{id}/connect", _push_client),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_non_reading_peer_is_aborted(
    server_factory: object, short_close: Limits, tmp_path: Path, endpoint: str
) -> None:
    assert callable(server_factory)
    srv: RunningServer = await server_factory(limits=short_close, registry=_registry())
    actor_id = srv.directory.actors()[0].actor_id
    token = srv.server_token
    assert token is not None
    headers = {"Authorization": f"Bearer {token}"}
    # One warm-up request, so lazily opened files are open before the baseline.
    async with httpx.AsyncClient(base_url=srv.url, headers=headers, timeout=TIMEOUT) as http:
        assert (await http.get(f"/gateway/{actor_id}/inspector/state")).status_code == 200
    await _until(lambda: not _accepted_sockets(srv.port), "the warm-up connection to close")
    baseline = len(_open_fds())

    path, push = ENDPOINTS[endpoint]
    peer, peer_port = await _start_peer(srv, path.format(id=actor_id), token, tmp_path / "peer.out")
    try:
        await _until(lambda: _holds_socket_to(peer_port, srv.port), "the server to hold the peer")
        # Frames the peer never reads, far past the kernel buffers and the
        # connection's send queue (16 MiB for an inspector, 4 MiB for a client).
        async with httpx.AsyncClient(base_url=srv.url, headers=headers, timeout=TIMEOUT) as http:
            for i in range(120):
                await push(http, actor_id, i)
                if not _holds_socket_to(peer_port, srv.port):
                    break
        await _until(
            lambda: not _holds_socket_to(peer_port, srv.port),
            "the server to drop the socket of a peer that never reads",
        )
        assert peer.returncode is None  # the peer never left: the server let go
        await _until(lambda: not _accepted_sockets(srv.port), "every connection to close")
        await _until(lambda: len(_open_fds()) <= baseline, f"the fd count to return to {baseline}")
    finally:
        peer.kill()
        await peer.wait()


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def test_non_reading_inspector_is_aborted_in_serve(
    serve_process: object, tmp_path: Path
) -> None:
    # The real `actorscope serve` (its own event loop, default close timeouts).
    assert callable(serve_process)
    running = await serve_process("--demo", "--data", str(tmp_path / "data"))
    pid = running.proc.pid
    counter = running.actors["counter/demo"]
    headers = {"Authorization": f"Bearer {running.token}"}
    url = f"/gateway/{counter}/inspector/state"
    async with httpx.AsyncClient(base_url=running.url, headers=headers, timeout=TIMEOUT) as http:
        assert (await http.get(url)).status_code == 200
    host, port = running.url.removeprefix("http://").rsplit(":", 1)
    await asyncio.sleep(0.5)  # let the warm-up connection close on the server side
    baseline = _fd_count(pid)

    out = tmp_path / "peer.out"
    with out.open("wb") as sink:
        peer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _PEER,
            host,
            port,
            f"/gateway/{counter}/inspector/connect",
            running.token,
            stdout=sink,
        )
    try:
        await _until(lambda: out.read_text().endswith("\n"), "the peer to connect")
        await _until(lambda: _fd_count(pid) > baseline, "the server to hold the peer")
        async with httpx.AsyncClient(
            base_url=running.url, headers=headers, timeout=TIMEOUT
        ) as http:
            for i in range(120):
                state = {"i": i, "blob": secrets.token_hex(128 << 10)}
                assert (await http.patch(url, json={"state": state})).status_code == 200
                if "slow consumer" in running.log_text():
                    break
        assert "slow consumer" in running.log_text()
        await _until(
            lambda: _fd_count(pid) <= baseline, f"the serve fd count to return to {baseline}"
        )
        assert peer.returncode is None
    finally:
        peer.kill()
        await peer.wait()


@pytest.mark.parametrize("mode", ["http", "ws"])
async def test_a_peer_that_asks_but_never_reads_is_aborted(
    server_factory: object, tmp_path: Path, mode: str
) -> None:
    # No close is involved: the server just cannot write its answers.
    assert callable(server_factory)
    limits = Limits(write_stall_timeout=1.0)
    srv: RunningServer = await server_factory(limits=limits, registry=_registry())
    actor_id = srv.directory.actors()[0].actor_id
    token = srv.server_token
    assert token is not None
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=srv.url, headers=headers, timeout=TIMEOUT) as http:
        # ~256 KiB answers, so that a few fill every buffer on the way.
        await _push_inspector(http, actor_id, 0)
    await _until(lambda: not _accepted_sockets(srv.port), "the warm-up connection to close")
    baseline = len(_open_fds())

    if mode == "http":
        path, frame = f"/gateway/{actor_id}/inspector/state", b""
    else:
        path = f"/gateway/{actor_id}/inspector/connect"
        frame = encode_to_server(ToServer(StateRequest(id=1)), 4)
    out = tmp_path / "asker.out"
    with out.open("wb") as sink:
        peer = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _ASKER, srv.host, str(srv.port), path, token, mode,
            frame.hex(), stdout=sink,
        )  # fmt: skip
    try:
        await _until(lambda: out.read_text().endswith("\n"), "the peer to connect")
        peer_port = int(out.read_text())
        await _until(
            lambda: not _holds_socket_to(peer_port, srv.port),
            "the server to drop the socket of a peer that never reads its answers",
        )
        assert peer.returncode is None
        await _until(lambda: len(_open_fds()) <= baseline, f"the fd count to return to {baseline}")
    finally:
        peer.kill()
        await peer.wait()
