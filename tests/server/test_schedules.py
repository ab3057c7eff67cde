"""Actor schedules through ``ctx.schedule`` and the inspector façade, on a real server.

Every test runs twice: on a lone server (the SQLite file) and on a server
that is a cluster node on the session's throwaway PostgreSQL, whose
schedules live in the database; a "restart" there is another node taking
the actor over.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from actorscope.server.actor import ActorInstance
from actorscope.server.cluster_boot import ClusterConfig
from actorscope.server.definitions import ActorContext, ActorDefinition, Registry
from actorscope.server.errors import InspectorError
from actorscope.server.inspector_api import InspectorEvent, SchedulesChanged
from actorscope.server.runner import RunningServer
from actorscope.server.schedule_timing import next_cron

ServerFactory = Callable[..., Awaitable[RunningServer]]

DEADLINE = 30.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store_dsn(request: pytest.FixtureRequest) -> str | None:
    """``None``: the SQLite file; else a fresh PostgreSQL database (dropped after the servers)."""
    if request.param == "sqlite":
        return None
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


@pytest.fixture
def server_factory(store_dsn: str | None, server_factory: ServerFactory) -> ServerFactory:
    """The conftest's factory, on the SQLite file or as a node on PostgreSQL."""
    if store_dsn is None:
        return server_factory
    parent, dsn = server_factory, store_dsn

    async def on_postgres(**overrides: Any) -> RunningServer:
        return await parent(cluster=ClusterConfig(dsn=dsn), **overrides)

    return on_postgres


def _record(ctx: ActorContext, label: str) -> int:
    ctx.state["fired"].append(label)
    return len(ctx.state["fired"])


def _boom(ctx: ActorContext) -> None:
    raise RuntimeError("boom")


def _plan_after(ctx: ActorContext, seconds: float, label: str) -> str:
    return ctx.schedule.after(seconds, "record", label)


def _plan_at(ctx: ActorContext, epoch: float, label: str) -> str:
    return ctx.schedule.at(epoch, "record", label)


def _plan_every(ctx: ActorContext, seconds: float, name: str, keep: int | None = None) -> str:
    return ctx.schedule.every(seconds, "record", name, name=name, max_history=keep)


def _plan_cron(ctx: ActorContext, expression: str, tz: str, name: str) -> str:
    return ctx.schedule.cron(expression, "record", "cron", tz=tz, name=name)


def _plan_boom(ctx: ActorContext) -> str:
    return ctx.schedule.after(0, "boom")


def _cancel(ctx: ActorContext, schedule_id: str) -> bool:
    return ctx.schedule.cancel(schedule_id)


async def _slow(ctx: ActorContext) -> None:
    ctx.state["fired"].append("slow")
    await ctx.save_state()
    await asyncio.sleep(3600)


def _plan_slow(ctx: ActorContext) -> str:
    return ctx.schedule.after(0, "slow")


def _fired(ctx: ActorContext) -> list[str]:
    return list(ctx.state["fired"])


def _bad(ctx: ActorContext, what: str) -> str:
    if what == "action":
        return ctx.schedule.after(1, "nope")
    if what == "cron":
        return ctx.schedule.cron("not a cron", "record", "x")
    if what == "tz":
        return ctx.schedule.cron("* * * * *", "record", "x", tz="Mars/Olympus")
    if what == "naive":
        return ctx.schedule.at(datetime(2030, 1, 1), "record", "x")
    if what == "args":
        return ctx.schedule.after(1, "record", object())
    return ctx.schedule.every(0, "record", "x")


ACTIONS: dict[str, Callable[..., Any]] = {
    "record": _record,
    "boom": _boom,
    "plan_after": _plan_after,
    "plan_at": _plan_at,
    "plan_every": _plan_every,
    "plan_cron": _plan_cron,
    "plan_boom": _plan_boom,
    "cancel": _cancel,
    "fired": _fired,
    "slow": _slow,
    "plan_slow": _plan_slow,
    "bad": _bad,
}


def registry() -> Registry:
    return Registry([ActorDefinition("clock", {"fired": []}, ACTIONS)])


async def _actor(server_factory: ServerFactory, **overrides: Any) -> ActorInstance:
    running = await server_factory(registry=registry(), **overrides)
    (actor,) = running.directory.actors("clock")
    return actor


async def wait_for(predicate: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = predicate()
        if inspect_await(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def inspect_await(value: Any) -> bool:
    return asyncio.iscoroutine(value)


async def test_after_fires_once_and_records_the_fire(server_factory: ServerFactory) -> None:
    actor = await _actor(server_factory)
    events: list[InspectorEvent] = []
    actor.subscribe(events.append)
    schedule_id = await actor.invoke("plan_after", [0.2, "one"], transport="test")
    (info,) = await actor.schedules()
    assert info.id == schedule_id and info.kind == "at" and info.name is None
    assert info.action == "record" and info.args == ["one"]
    await wait_for(lambda: actor.state()["fired"] == ["one"], "the one-shot to fire")
    history = await wait_for(
        lambda: _finished(actor, schedule_id), "the fire to be recorded as finished"
    )
    (fire,) = history
    assert fire.action == "record" and fire.result == "ok" and fire.error is None
    assert fire.scheduled_at_ms <= fire.fired_at_ms <= fire.finished_at_ms
    assert fire.scheduled_at_ms == info.next_run_at_ms
    # A fired one-shot is no longer pending, and pushes said so.
    assert await actor.schedules() == []
    pushed = [e for e in events if isinstance(e, SchedulesChanged)]
    assert [len(e.schedules) for e in pushed] == [1, 0]


async def _finished(actor: ActorInstance, schedule_id: str) -> Any:
    history = await actor.schedule_history(schedule_id, 10)
    return history if history and history[-1].result != "running" else None


async def test_at_takes_epoch_seconds_and_aware_datetimes(server_factory: ServerFactory) -> None:
    actor = await _actor(server_factory)
    soon = time.time() + 0.2
    sid = await actor.invoke("plan_at", [soon, "at"], transport="test")
    (info,) = await actor.schedules()
    assert info.id == sid and info.next_run_at_ms == round(soon * 1000)
    await wait_for(lambda: actor.state()["fired"] == ["at"], "the at schedule")
    when = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert actor.scheduler.now_ms() < round(when.timestamp() * 1000)


async def test_every_fires_repeatedly_on_its_grid(server_factory: ServerFactory) -> None:
    actor = await _actor(server_factory)
    sid = await actor.invoke("plan_every", [0.2, "tick", 3], transport="test")
    assert sid == "tick"
    (info,) = await actor.schedules()
    assert info.id == info.name == "tick" and info.kind == "every" and info.interval_ms == 200
    first = info.next_run_at_ms
    await wait_for(lambda: len(actor.state()["fired"]) >= 5, "five ticks")
    history = await actor.schedule_history("tick", 1000)
    # max_history=3 bounds the kept fires.
    assert len(history) == 3
    for fire in history:
        assert (fire.scheduled_at_ms - first) % 200 == 0
    (info,) = await actor.schedules()
    assert info.last_run_at_ms is not None and (info.next_run_at_ms - first) % 200 == 0
    # Scheduling the same name again replaces it instead of adding one.
    assert await actor.invoke("plan_every", [60, "tick"], transport="test") == "tick"
    (info,) = await actor.schedules()
    assert info.interval_ms == 60_000
    assert await actor.invoke("cancel", ["tick"], transport="test") is True
    assert await actor.schedules() == []
    assert await actor.invoke("cancel", ["tick"], transport="test") is False


async def test_cron_next_run_in_its_time_zone(server_factory: ServerFactory) -> None:
    actor = await _actor(server_factory)
    before = int(time.time() * 1000)
    sid = await actor.invoke("plan_cron", ["0 9 * * MON", "Asia/Tokyo", "weekly"], transport="t")
    after = int(time.time() * 1000)
    (info,) = await actor.schedules()
    assert sid == info.id == "weekly" and info.expression == "0 9 * * MON"
    assert info.timezone == "Asia/Tokyo" and info.kind == "cron"
    assert info.next_run_at_ms in {
        next_cron("0 9 * * MON", "Asia/Tokyo", before),
        next_cron("0 9 * * MON", "Asia/Tokyo", after),
    }
    local = datetime.fromtimestamp(info.next_run_at_ms / 1000, UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Asia/Tokyo")
    )
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)


async def test_a_failing_action_records_an_error_fire(server_factory: ServerFactory) -> None:
    actor = await _actor(server_factory)
    sid = await actor.invoke("plan_boom", [], transport="test")
    (fire,) = await wait_for(lambda: _finished(actor, sid), "the failing fire")
    assert fire.result == "error" and fire.error is not None
    assert fire.error.group == "actor" and fire.error.code == "action_failed"
    assert "boom" in fire.error.message


async def test_bad_schedules_are_refused_and_nothing_is_stored(
    server_factory: ServerFactory,
) -> None:
    actor = await _actor(server_factory)
    for what, words in [
        ("action", "unknown action 'nope'"),
        ("cron", "bad cron expression"),
        ("tz", "unknown time zone 'Mars/Olympus'"),
        ("naive", "timezone-aware"),
        ("args", "not serializable"),
        ("interval", "at least"),
    ]:
        with pytest.raises(InspectorError) as caught:
            await actor.invoke("bad", [what], transport="test")
        assert caught.value.code == "action_failed" and words in caught.value.message, what
    assert await actor.schedules() == []


async def test_facade_delete_and_history_refusals(server_factory: ServerFactory) -> None:
    actor = await _actor(server_factory)
    await actor.invoke("plan_every", [60, "slow"], transport="test")
    with pytest.raises(InspectorError) as caught:
        await actor.delete_schedule("slow", "weekly")
    assert caught.value.full_code == "request.invalid"
    with pytest.raises(InspectorError) as caught:
        await actor.schedule_history("nope", 10)
    assert caught.value.full_code == "schedule.not_found" and caught.value.status == 404
    assert await actor.delete_schedule("slow", "cron") is False
    assert await actor.schedule_history("slow", 10) == []
    assert await actor.delete_schedule("slow", "every") is True
    assert await actor.delete_schedule("slow", "every") is False
    assert await actor.schedules() == []


async def test_schedules_are_sorted_by_next_run_then_id(server_factory: ServerFactory) -> None:
    actor = await _actor(server_factory)
    for name in ("b", "a", "c"):
        await actor.invoke("plan_every", [3600, name], transport="test")
    await actor.invoke("plan_every", [60, "z"], transport="test")
    infos = await actor.schedules()
    assert infos[0].id == "z"
    rest = infos[1:]
    assert [(i.next_run_at_ms, i.id) for i in rest] == sorted(
        (i.next_run_at_ms, i.id) for i in rest
    )


async def test_schedules_survive_a_clean_restart(
    server_factory: ServerFactory, tmp_path: Any
) -> None:
    data = tmp_path / "restart"
    running = await server_factory(registry=registry(), data_dir=data)
    (actor,) = running.directory.actors("clock")
    await actor.invoke("plan_every", [3600, "hourly"], transport="test")
    await actor.invoke("plan_cron", ["*/5 * * * *", "Europe/Berlin", "five"], transport="test")
    before = await actor.schedules()
    await running.stop()
    again = await server_factory(registry=registry(), data_dir=data)
    (actor,) = again.directory.actors("clock")
    assert await actor.schedules() == before


async def test_a_stop_during_a_fire_closes_it_and_never_reruns_it(
    server_factory: ServerFactory, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("actorscope.server.schedules.CLOSE_GRACE_SECONDS", 0.2)
    data = tmp_path / "stop"
    running = await server_factory(registry=registry(), data_dir=data)
    (actor,) = running.directory.actors("clock")
    sid = await actor.invoke("plan_slow", [], transport="test")
    await wait_for(lambda: "slow" in actor.state()["fired"], "the slow action to start")
    await running.stop()
    again = await server_factory(registry=registry(), data_dir=data)
    (actor,) = again.directory.actors("clock")
    (fire,) = await actor.schedule_history(sid, 10)
    assert fire.result == "error" and fire.error is not None
    assert (fire.error.group, fire.error.code) == ("schedule", "interrupted")
    assert await actor.schedules() == []
    await asyncio.sleep(0.3)
    assert actor.state()["fired"] == ["slow"]
