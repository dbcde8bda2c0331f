"""When a cron fires: the window a schedule is in and when it is next due, in its time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops_bot.cron import CronError, check_fires, latest_fire, next_fire, parse_cron


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("cron", "zone", "now", "latest", "following"), [
    # Mondays 03:00 UTC; a fire time is its own window's start
    ("0 3 * * 1", "UTC", "2026-03-04T12:00", "2026-03-02T03:00", "2026-03-09T03:00"),
    ("0 3 * * 1", "UTC", "2026-03-09T03:00", "2026-03-09T03:00", "2026-03-16T03:00"),
    # wall-clock time in the zone: 03:00 in Amsterdam is 02:00 UTC in winter, 01:00 in summer
    ("0 3 * * 1", "Europe/Amsterdam", "2026-03-25T00:00", "2026-03-23T02:00", "2026-03-30T01:00"),
    # day of month OR day of week when both are restricted (Vixie cron, Vertex AI)
    ("0 0 1 * 5", "UTC", "2026-03-04T00:00", "2026-03-01T00:00", "2026-03-06T00:00"),
    # a rare one: 29 February
    ("0 0 29 2 *", "UTC", "2026-03-01T00:00", "2024-02-29T00:00", "2028-02-29T00:00"),
    ("*/15 * * * *", "America/New_York", "2026-01-01T10:07", "2026-01-01T10:00",
     "2026-01-01T10:15"),
])
def test_latest_and_next_fire(cron, zone, now, latest, following):
    assert latest_fire(cron, zone, utc(now)) == utc(latest)
    assert next_fire(cron, zone, utc(now)) == utc(following)


def test_a_cron_that_never_fires_is_rejected():
    with pytest.raises(CronError, match="never fire"):
        check_fires(parse_cron("0 0 30 2 *"))
    check_fires(parse_cron("0 0 30 2 1"))  # OR-ed with Mondays: it fires
    check_fires(parse_cron("0 0 31 1,2 *"))  # 31 January
