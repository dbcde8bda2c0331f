"""Five-field cron expressions: validation with errors that say which field is wrong, and the
times a cron fires in its time zone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["CronError", "CronSpec", "check_fires", "latest_fire", "next_fire", "parse_cron"]

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# (name, lowest, highest, names for values starting at `lowest`)
_FIELDS = [
    ("minute", 0, 59, []),
    ("hour", 0, 23, []),
    ("day of month", 1, 31, []),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),  # 0 and 7 are both Sunday
]


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class CronSpec:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool


def parse_cron(expression: str) -> CronSpec:
    parts = expression.split()
    if len(parts) != 5:
        raise CronError(f"cron {expression!r} has {len(parts)} fields; it needs 5: minute hour "
                        "day-of-month month day-of-week (e.g. '0 3 * * 1')")
    values = [_field(part, *spec, expression) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(0 if d == 7 else d for d in values[4])
    return CronSpec(values[0], values[1], values[2], values[3], weekdays,
                    parts[2] != "*", parts[4] != "*")


def _field(
    text: str, name: str, low: int, high: int, names: list[str], expr: str
) -> frozenset[int]:
    allowed = (f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
               + ", *, */n, a-b, a-b/n and comma lists")
    found: set[int] = set()
    for item in text.split(","):
        body, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if step < 1:
                raise ValueError
            if body == "*":
                start, end = low, high
            elif "-" in body:
                first, last = body.split("-", 1)
                start, end = _value(first, low, names), _value(last, low, names)
            else:
                start = _value(body, low, names)
                end = high if step_text else start
        except ValueError:
            raise CronError(f"cron {expr!r}: {name} field {text!r} is not valid; allowed: "
                            f"{allowed}") from None
        if not (low <= start <= high and low <= end <= high and start <= end):
            raise CronError(f"cron {expr!r}: {name} field {text!r} is out of range; allowed: "
                            f"{allowed}")
        found.update(range(start, end + 1, step))
    return frozenset(found)


def _value(text: str, low: int, names: list[str]) -> int:
    if names and text.upper() in names:
        return names.index(text.upper()) + low
    return int(text)


# Fire times. A cron is read in wall-clock time of its zone, like cron and Vertex AI do: a day
# matches when its month matches and, as in Vixie cron, its day of month OR its day of week
# matches when both are restricted (either one alone when only one is).
_LOOKBACK_DAYS = 8 * 366  # "0 0 29 2 1" fires rarely; anything beyond this never does


def _day_matches(spec: CronSpec, day: date) -> bool:
    if day.month not in spec.months:
        return False
    by_day, by_weekday = day.day in spec.days, day.isoweekday() % 7 in spec.weekdays
    if spec.days_restricted and spec.weekdays_restricted:
        return by_day or by_weekday
    return (by_day or not spec.days_restricted) and (by_weekday or not spec.weekdays_restricted)


def _times_of(spec: CronSpec, day: date, zone: ZoneInfo, newest_first: bool) -> Iterator[datetime]:
    for hour in sorted(spec.hours, reverse=newest_first):
        for minute in sorted(spec.minutes, reverse=newest_first):
            yield datetime.combine(day, time(hour, minute), zone).astimezone(UTC)


def latest_fire(expression: str, timezone: str, now: datetime) -> datetime:
    """The most recent time (UTC) at or before `now` the cron fired in `timezone`."""
    spec, zone = parse_cron(expression), ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    for back in range(-1, _LOOKBACK_DAYS):  # -1: a DST shift may put local "tomorrow" earlier
        day = today - timedelta(days=back)
        if _day_matches(spec, day):
            found = [t for t in _times_of(spec, day, zone, True) if t <= now]
            if found:
                return max(found)
    raise CronError(f"cron {expression!r} never fires (no matching day in {_LOOKBACK_DAYS} "
                    "days): check its day-of-month and month fields")


def next_fire(expression: str, timezone: str, after: datetime) -> datetime:
    """The first time (UTC) strictly after `after` the cron fires in `timezone`."""
    spec, zone = parse_cron(expression), ZoneInfo(timezone)
    today = after.astimezone(zone).date()
    for ahead in range(-1, _LOOKBACK_DAYS):
        day = today + timedelta(days=ahead)
        if _day_matches(spec, day):
            found = [t for t in _times_of(spec, day, zone, False) if t > after]
            if found:
                return min(found)
    raise CronError(f"cron {expression!r} never fires (no matching day in {_LOOKBACK_DAYS} "
                    "days): check its day-of-month and month fields")


def check_fires(spec: CronSpec) -> None:
    """Raise CronError for a cron no calendar day matches (e.g. '0 0 30 2 *')."""
    if spec.weekdays_restricted and not spec.days_restricted:
        return
    longest = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}
    if not any(day <= longest.get(month, 31) for month in spec.months for day in spec.days):
        if spec.weekdays_restricted:
            return  # OR-ed with the day of week: it fires on those weekdays
        raise CronError("no month of the cron has the day of month it names (e.g. 30 February): "
                        "it would never fire; fix the day-of-month or month field")
