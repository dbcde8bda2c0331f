"""Five-field cron expressions: validation with errors that say which field is wrong."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CronError", "CronSpec", "parse_cron"]

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
