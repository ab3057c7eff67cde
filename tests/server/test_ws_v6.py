"""The WebSocket endpoint at v5 and v6 (PROTOCOL.md §9.2, §9.3, §9.8), on a fake actor.

Negotiation as §9.2 parses it, embedded mode starting at v4, the capped
server, ``tabConfig``, ``Init.schedules``, the schedule requests, the
``SchedulesUpdated`` push (never below v6) and histories without version-check
entries for peers at v4 and below. The server and the fake façade come from
``ws_endpoint_fakes``.
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from actorscope.protocol.framing import decode_to_client, encode_to_server
from actorscope.protocol.history import WorkflowVersionCheckEntry, decode_history
from actorscope.protocol.messages import (
    Error,
    Init,
    ScheduleDeleteRequest,
    ScheduleDeleteResponse,
    ScheduleHistoryRequest,
    ScheduleHistoryResponse,
    SchedulesRequest,
    SchedulesResponse,
    SchedulesUpdated,
    StateRequest,
    StateResponse,
    StateUpdated,
    TabConfigEntry,
    ToServer,
    WorkflowHistoryRequest,
    WorkflowHistoryResponse,
    WorkflowHistoryUpdated,
)
from actorscope.protocol.versions import VERSIONS
from actorscope.server.inspector_api import (
    HistoryChanged,
    ScheduleInfo,
    SchedulesChanged,
    StateChanged,
)

from .ws_endpoint_fakes import (
    ClosedWith,
    FakeActor,
    FakeSnapshot,
    Server,
    recv,
    recv_msg,
    serve,
    ws,
)

TICK = ScheduleInfo(
    id="tick",
    name="tick",
    kind="every",
    action="increment",
    args=[1],
    next_run_at_ms=-5,  # sent as 0 (§9.3)
    last_run_at_ms=None,
    expression=None,
    timezone=None,
    interval_ms=5000,
    max_history=None,
)


class VersionCheckSnapshot(FakeSnapshot):
    """A history whose last entry is a ``ctx.version`` check (tag 8)."""

    def to_transport(self) -> dict[str, Any]:
        t = super().to_transport()
        t["nameRegistry"].append("charge-v2")
        t["entries"].append(
            {
                "id": "vc",
                "location": [{"tag": "WorkflowNameIndex", "val": len(t["nameRegistry"]) - 1}],
                "kind": {"tag": "WorkflowVersionCheckEntry", "val": {"resolved": 2, "latest": 2}},
            }
        )
        t["entryMetadata"]["vc"] = t["entryMetadata"]["e0"]
        return t


@pytest.fixture
async def srv(monkeypatch: pytest.MonkeyPatch) -> Any:
    async def history(self: FakeActor) -> Any:
        return VersionCheckSnapshot(self.history)

    monkeypatch.setattr(FakeActor, "workflow_history", history)
    async with serve() as server:
        server.actor.schedule_list.append(TICK)
        yield server


def _entry_ids(history: bytes | None) -> list[str]:
    assert history is not None
    return [e.id for e in decode_history(history).entries]


# -- negotiation --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["6", "06", "%2B6"])
async def test_negotiated_v6_spellings(srv: Server, value: str) -> None:
    async with ws(srv, f"?protocol_version={value}") as conn:
        init = await recv_msg(conn, 6)
        assert isinstance(init, Init)
        assert [s.id for s in init.schedules] == ["tick"]
        assert init.schedules[0].next_run_at == 0
        assert msgpack.unpackb(init.schedules[0].args) == [1]
        assert _entry_ids(init.workflow_history) == ["e0", "e1", "vc"]
        await conn.send(encode_to_server(ToServer(SchedulesRequest(id=4)), 6, prefix=False))
        reply = await recv_msg(conn, 6)
        assert isinstance(reply, SchedulesResponse) and reply.rid == 4


@pytest.mark.parametrize("value", ["+6", "%206", "0", "7", "65536", ""])
async def test_bad_versions_close_1002_before_auth(
    srv: Server, value: str, closed_with: ClosedWith
) -> None:
    async with ws(srv, f"?protocol_version={value}", token="wrong") as conn:
        assert await closed_with(conn) == (1002, "inspector.invalid_protocol_version")
    async with ws(srv, "?protocol_version=6", token="wrong") as conn:
        assert await closed_with(conn) == (1008, "inspector.unauthorized")


async def test_embedded_starts_at_v4_then_answers_the_peers_version(srv: Server) -> None:
    async with ws(srv) as conn:
        init = await recv(conn)
        assert init[:2] == b"\x04\x00"
        _, message = decode_to_client(init)
        # v4 Init: no tabConfig, no schedules, and no version-check entry.
        assert _entry_ids(message.body.workflow_history) == ["e0", "e1"]
        await conn.send(encode_to_server(ToServer(StateRequest(id=1)), 5))
        assert (await recv(conn))[:2] == b"\x05\x00"
        await conn.send(encode_to_server(ToServer(ScheduleHistoryRequest(2, "tick", 5)), 6))
        reply = await recv(conn)
        assert reply[:2] == b"\x06\x00"
        _, message = decode_to_client(reply)
        assert isinstance(message.body, ScheduleHistoryResponse)
        assert message.body.schedule_id == "tick"


# -- the capped server -----------------------------------------------------------------


async def test_capped_server_answers_schedule_requests_unsupported(
    closed_with: ClosedWith,
) -> None:
    async with serve(max_protocol_version=5) as srv:
        async with ws(srv) as conn:
            assert (await recv(conn))[:2] == b"\x04\x00"
            for body in (
                SchedulesRequest(1),
                ScheduleHistoryRequest(2, "tick", 10),
                ScheduleDeleteRequest(3, "tick", "every"),
            ):
                await conn.send(encode_to_server(ToServer(body), 6))
                reply = await recv(conn)
                assert reply[:2] == b"\x05\x00"  # never above the cap
                _, message = decode_to_client(reply)
                assert message.body == Error("inspector.schedules_unsupported")
            await conn.send(encode_to_server(ToServer(StateRequest(id=9)), 6))
            assert (await recv_msg(conn)).rid == 9
        async with ws(srv, "?protocol_version=6") as conn:
            assert await closed_with(conn) == (1002, "inspector.invalid_protocol_version")


# -- schedule requests --------------------------------------------------------------


async def test_schedule_history_limit_is_clamped(srv: Server) -> None:
    async with ws(srv, "?protocol_version=6") as conn:
        await recv(conn)
        for i, limit in enumerate((0, 1, 50, 1000, 5000, 2**64 - 1), start=1):
            body = ScheduleHistoryRequest(id=i, schedule_id="tick", limit=limit)
            await conn.send(encode_to_server(ToServer(body), 6, prefix=False))
            assert (await recv_msg(conn, 6)).rid == i
    assert srv.actor.history_limits == [1, 1, 50, 1000, 1000, 1000]


async def test_schedule_delete_with_a_bad_kind_is_an_error(srv: Server) -> None:
    async with ws(srv, "?protocol_version=6") as conn:
        await recv(conn)
        body = ScheduleDeleteRequest(id=1, schedule_id="tick", kind="weekly")
        await conn.send(encode_to_server(ToServer(body), 6, prefix=False))
        error = await recv_msg(conn, 6)
        assert isinstance(error, Error)
        assert 'invalid inspector schedule kind "weekly"' in error.message
        body = ScheduleDeleteRequest(id=2, schedule_id="tick", kind="every")
        await conn.send(encode_to_server(ToServer(body), 6, prefix=False))
        reply = await recv_msg(conn, 6)
        assert reply == ScheduleDeleteResponse(rid=2, schedule_id="tick", deleted=False)


# -- pushes and histories -------------------------------------------------------------


async def test_schedules_updated_is_pushed_only_at_v6(srv: Server) -> None:
    async with (
        ws(srv, "?protocol_version=6") as v6,
        ws(srv, "?protocol_version=5") as v5,
        ws(srv) as embedded,
    ):
        for conn in (v6, v5, embedded):
            await recv(conn)
        srv.actor.emit(SchedulesChanged([TICK]))
        srv.actor.emit(StateChanged({"count": 3}))
        push = await recv_msg(v6, 6)
        assert isinstance(push, SchedulesUpdated)
        assert [s.id for s in push.schedules] == ["tick"]
        assert isinstance(await recv_msg(v6, 6), StateUpdated)
        # The others get the state push next: no SchedulesUpdated, no Error.
        assert isinstance(await recv_msg(v5, 5), StateUpdated)
        assert isinstance(await recv_msg(embedded), StateUpdated)


@pytest.mark.parametrize("version", VERSIONS[1:])
async def test_histories_keep_version_checks_from_v5_on(srv: Server, version: int) -> None:
    kept = version >= 5
    expected = ["e0", "e1", "vc"] if kept else ["e0", "e1"]
    async with ws(srv, f"?protocol_version={version}") as conn:
        init = await recv_msg(conn, version)
        assert _entry_ids(init.workflow_history) == expected
        body = WorkflowHistoryRequest(id=1)
        await conn.send(encode_to_server(ToServer(body), version, prefix=False))
        reply = await recv_msg(conn, version)
        assert isinstance(reply, WorkflowHistoryResponse)
        history = decode_history(reply.history or b"")
        assert [e.id for e in history.entries] == expected
        assert set(history.entry_metadata) == set(expected)
        kinds = {type(e.kind) for e in history.entries}
        assert (WorkflowVersionCheckEntry in kinds) is kept
        srv.actor.emit(HistoryChanged(VersionCheckSnapshot(["a"])))  # type: ignore[arg-type]
        push = await recv_msg(conn, version)
        assert isinstance(push, WorkflowHistoryUpdated)
        assert _entry_ids(push.history) == (["e0", "vc"] if kept else ["e0"])


# -- tabConfig ----------------------------------------------------------------------


async def test_tab_config_hides_what_the_actor_lacks(srv: Server) -> None:
    # The fake actor has state, a workflow, a queue and one action, no database.
    async with ws(srv, "?protocol_version=6") as conn:
        init = await recv_msg(conn, 6)
        assert init.tab_config == [TabConfigEntry("database", None, None, True)]
    async with ws(srv, "?protocol_version=5") as conn:
        init = await recv_msg(conn, 5)
        # A v5 peer can never fill the schedules tab.
        assert init.tab_config == [
            TabConfigEntry("database", None, None, True),
            TabConfigEntry("schedules", None, None, True),
        ]
        await conn.send(encode_to_server(ToServer(StateRequest(id=1)), 5, prefix=False))
        assert isinstance(await recv_msg(conn, 5), StateResponse)
