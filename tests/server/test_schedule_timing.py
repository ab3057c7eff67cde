"""Next-run times: cron in a time zone across daylight saving, interval grids, bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from actorscope.server.schedule_timing import epoch_ms, next_cron, next_every


def _ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_cron_follows_the_zone_across_daylight_saving() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer (DST
    # started on 2026-03-29).
    before = next_cron("0 9 * * *", "Europe/Berlin", _ms(2026, 3, 28, 12, 0))
    after = next_cron("0 9 * * *", "Europe/Berlin", before)
    assert before == _ms(2026, 3, 29, 7, 0)
    assert after == _ms(2026, 3, 30, 7, 0)
    assert next_cron("0 9 * * *", "Europe/Berlin", _ms(2026, 3, 27, 12, 0)) == _ms(
        2026, 3, 28, 8, 0
    )


def test_cron_is_strictly_after_and_takes_a_seconds_field() -> None:
    at = _ms(2026, 1, 1, 0, 5)
    assert next_cron("*/5 * * * *", "UTC", at) == _ms(2026, 1, 1, 0, 10)
    assert next_cron("*/2 * * * * *", "UTC", at + 500) == at + 2000


@pytest.mark.parametrize(
    ("expression", "tz", "words"),
    [
        ("not cron", "UTC", "bad cron expression"),
        ("* * * * *", "Nowhere/Town", "unknown time zone"),
        ("0 0 30 2 *", "UTC", "cron expression"),
    ],
)
def test_bad_cron_input(expression: str, tz: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        next_cron(expression, tz, 0)


def test_interval_grid_skips_missed_slots() -> None:
    assert next_every(1000, 500, 1000) == 1500
    # Down for 10 slots: the next run is the next slot after now, not the first missed one.
    assert next_every(1000, 500, 6200) == 6500
    assert next_every(1000, 500, 6500) == 7000


def test_epoch_ms_needs_an_aware_time() -> None:
    assert epoch_ms(1.5) == 1500
    assert epoch_ms(datetime(2026, 1, 1, tzinfo=UTC)) == _ms(2026, 1, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        epoch_ms(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        epoch_ms("soon")  # type: ignore[arg-type]
