"""One parser for durations and times, shared by policies, alerting, monitoring, inventory and reports.

Durations: ISO 8601 (`PT5M`, `P1D`; through isodate), the short forms people write (`250ms`, `30s`,
`5m`, `1h30m`, `2d`, `1w`) and .NET TimeSpans from ARM (`1.02:03:04.5`), each accepted where its
dialect allows it. Times: ISO 8601 with `Z` or an offset, always returned as aware UTC datetimes.
Cron schedules (through croniter): five fields for monitor rules and Azure ML schedules, six with
seconds first for Azure Functions' NCRONTAB, always in UTC.
Every refusal is a ValueError whose message says what to write instead.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Literal

__all__ = ["DurationForm", "cron_problem", "duration_pattern", "format_duration", "next_cron", "parse_duration",
           "parse_time", "seconds_or_none", "time_or_none"]

# Where a duration comes from decides what it may look like:
# - "policy": policy and monitor rules: a number of seconds, `250ms`, `1.5h`, `5 m`, `1h30m`, ISO 8601.
# - "prometheus": alerting config, as Alertmanager reads it: whole units only (`1h30m`, `500ms`), no
#   bare number (is `group_wait: 30` seconds or minutes?), no sign; ISO 8601 as well.
# - "wire": what ARM sends: ISO 8601, .NET TimeSpan (`00:00:05`), a number of seconds.
DurationForm = Literal["policy", "prometheus", "wire"]

_UNIT_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_UNIT_ORDER = ("w", "d", "h", "m", "s", "ms")
_SHORT = {
    "policy": re.compile(r"(\d+(?:\.\d+)?)\s*(ms|[wdhms])", re.IGNORECASE),
    "prometheus": re.compile(r"(\d+)(ms|[wdhms])"),
}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_TIMESPAN = re.compile(r"([-+])?(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)")  # .NET [-][d.]hh:mm:ss[.fffffff]
_EXAMPLES = {"policy": "30s, 5m, 1h30m, 250ms or PT5M", "prometheus": "30s, 5m, 4h, 1h30m or 2d",
             "wire": "PT5M or 00:05:00"}


def parse_duration(value: object, form: DurationForm = "policy") -> timedelta:
    """The duration `value` means in `form` (see DurationForm); ValueError naming the accepted forms."""
    problem = f"{value!r} is not a duration; write e.g. {_EXAMPLES[form]}"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(problem)
    text = value.strip() if isinstance(value, str) else ""
    if form == "prometheus" and (not isinstance(value, str) or _NUMBER.fullmatch(text)):
        raise ValueError(problem + " (a bare number could be seconds or minutes)")
    try:
        if not isinstance(value, str):
            if value != value:  # NaN
                raise ValueError(problem)
            found = timedelta(seconds=value)
        elif text.upper().lstrip("+-").startswith("P"):
            found = _iso_duration(text, problem)
        elif form == "wire":
            found = _timespan(text, problem)
        elif _NUMBER.fullmatch(text):
            found = timedelta(seconds=float(text))
        else:
            found = _short(text, _SHORT[form], problem)
    except OverflowError:  # longer than timedelta holds (about 2.7 million years), or infinite
        raise ValueError(problem + " (too long)") from None
    if form != "wire" and found < timedelta(0):  # a wait, a window or an age is never negative
        raise ValueError(problem + " (negative)")
    return found


def seconds_or_none(value: object, form: DurationForm = "policy") -> float | None:
    """Seconds in `value` as parse_duration reads it, or None when it is not a duration."""
    try:
        return parse_duration(value, form).total_seconds()
    except ValueError:
        return None


def duration_pattern(form: Literal["policy", "prometheus"]) -> str:
    """A JSON Schema `pattern` for the text parse_duration reads in `form`, so a schema refuses what it would.

    Values out of range (`99999999999w`) pass the pattern and are refused by parse_duration.
    """
    policy = form == "policy"
    number = r"\d+(\.\d+)?" if policy else r"\d+"
    spaced = r"\s*" if policy else ""
    short = "".join(f"({number}{spaced}{_any_case(unit) if policy else unit})?" for unit in _UNIT_ORDER)
    part = r"\d+([.,]\d+)?"  # isodate reads a decimal comma too
    iso = f"[pP](?=[tT]?\\d)({part}[wW])?({part}[dD])?([tT]({part}[hH])?({part}[mM])?({part}[sS])?)?"
    return rf"^\s*(?=\S)({short}|{iso}{'|' + number if policy else ''})\s*$"


def _any_case(text: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in text)


def format_duration(value: float | timedelta) -> str:
    """The short form of a duration in seconds: `30s`, `5m`, `1h30m`, `250ms`; `24h` for a day, `2d` from two days."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    left = round(seconds * 1000)
    if left >= 2 * 86_400_000 and left % 86_400_000 == 0:
        return f"{left // 86_400_000}d"
    out = ""
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out or "0s"


def _iso_duration(text: str, problem: str) -> timedelta:
    import isodate

    upper = text.upper()
    if not any(c.isdigit() for c in upper):  # isodate reads a bare `PT` as zero
        raise ValueError(problem)
    try:
        found = isodate.parse_duration(upper)
    except (isodate.ISO8601Error, ValueError):
        raise ValueError(problem) from None
    if not isinstance(found, timedelta):  # isodate.Duration: months or years
        raise ValueError(f"{text!r}: months and years have no fixed length; write days or weeks (P30D, P4W)")
    return found


def _timespan(text: str, problem: str) -> timedelta:
    match = _TIMESPAN.fullmatch(text)
    if match is None:
        raise ValueError(problem)
    sign, days, hours, minutes, seconds = match.groups()
    found = timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds))
    return -found if sign == "-" else found


def _short(text: str, part: re.Pattern[str], problem: str) -> timedelta:
    """`1h30m`-style text: units from largest to smallest, each at most once."""
    total, end, last = 0.0, 0, -1
    for match in part.finditer(text):
        rank = _UNIT_ORDER.index(match.group(2).lower())
        if match.start() != end or rank <= last:
            raise ValueError(problem)
        total += float(match.group(1)) * _UNIT_SECONDS[_UNIT_ORDER[rank]]
        end, last = match.end(), rank
    if end == 0 or end != len(text):
        raise ValueError(problem)
    return timedelta(seconds=total)


def parse_time(value: object) -> datetime:
    """An aware UTC datetime from ISO 8601 text (`Z` or an offset; none means UTC), a datetime or a date.

    ValueError when `value` is not a time, or when it falls outside what a datetime holds once
    converted to UTC (`9999-12-31T23:59:59-14:00` is in the year 10000 there).
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith("z"):
            text = text[:-1] + "Z"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time; write e.g. 2026-03-01T18:00:00Z") from None
    else:
        raise ValueError(f"{value!r} is not an ISO 8601 time; write e.g. 2026-03-01T18:00:00Z")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is outside the times amlguard can store "
                         "(0001-01-01 to 9999-12-31 UTC); pick an earlier time") from None


def time_or_none(value: object) -> datetime | None:
    """parse_time's answer, or None for an empty or unreadable value."""
    try:
        return parse_time(value)
    except ValueError:
        return None


def next_cron(expression: str, after: datetime, *, seconds_first: bool = False) -> datetime:
    """The first time strictly after `after` that a cron expression fires, in UTC; `seconds_first`
    reads Azure Functions' six-field NCRONTAB. ValueError when the expression is not valid."""
    from croniter import CroniterError, croniter

    try:
        nxt: datetime = croniter(expression, after.astimezone(UTC), second_at_beginning=seconds_first).get_next(
            datetime)
    except (CroniterError, KeyError) as exc:  # CroniterError is a ValueError; a bad name is a KeyError
        raise ValueError(str(exc)) from exc
    return nxt


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a five-field cron expression (a monitor rule's or an Azure ML
    schedule's), or None when it is one."""
    fields = expression.split()
    if len(fields) != 5:
        return (f"expected a cron expression of five fields (minute hour day month day-of-week, UTC), e.g. "
                f"'15 3 * * *'; {expression!r} has {len(fields)}")
    try:
        next_cron(" ".join(fields), datetime(2026, 1, 1, tzinfo=UTC))
    except ValueError:
        return f"{expression!r} is not a valid cron expression; e.g. '15 3 * * *' (03:15 UTC daily) or '0 */6 * * *'"
    return None
