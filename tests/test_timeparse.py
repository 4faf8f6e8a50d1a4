"""The one duration and time parser: every dialect's accepted forms, refusals and edge values, by table."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from amlguard.timeparse import (
    duration_pattern,
    format_duration,
    parse_duration,
    parse_time,
    seconds_or_none,
    time_or_none,
)

S = timedelta(seconds=1)


ACCEPTED = [
    # ISO 8601, in every dialect (isodate)
    ("policy", "PT5M", 300 * S), ("policy", "P1D", 86400 * S), ("policy", "PT0.5S", 0.5 * S),
    ("policy", "P1DT2H", 93600 * S), ("policy", "pt10s", 10 * S), ("policy", "P1W", 604800 * S),
    ("prometheus", "PT5M", 300 * S), ("wire", "PT1H30M", 5400 * S), ("wire", "-PT5M", -300 * S),
    # policy and monitor rules: seconds, decimal and spaced short forms, compound forms
    ("policy", 10, 10 * S), ("policy", 2.5, 2.5 * S), ("policy", "10", 10 * S), ("policy", "30s", 30 * S),
    ("policy", "5m", 300 * S), ("policy", "5M", 300 * S), ("policy", "1.5h", 5400 * S), ("policy", "5 m", 300 * S),
    ("policy", "250ms", 0.25 * S), ("policy", "2d", 172800 * S), ("policy", "1h30m", 5400 * S),
    ("policy", " 1w ", 604800 * S),
    # alerting (Alertmanager's grammar)
    ("prometheus", "30s", 30 * S), ("prometheus", "1h30m", 5400 * S), ("prometheus", "2d", 172800 * S),
    ("prometheus", "1w", 604800 * S), ("prometheus", "500ms", 0.5 * S), ("prometheus", "1d2h3m4s5ms", 93784.005 * S),
    # ARM wire forms: .NET TimeSpans and numbers
    ("wire", "00:00:05", 5 * S), ("wire", "1.02:03:04", 93784 * S), ("wire", "1.02:03:04.5", 93784.5 * S),
    ("wire", "-00:01:00", -60 * S), ("wire", 7, 7 * S),
]


@pytest.mark.parametrize(("form", "value", "expected"), ACCEPTED)
def test_durations(form: Any, value: Any, expected: timedelta) -> None:
    assert parse_duration(value, form) == expected
    assert seconds_or_none(value, form) == expected.total_seconds()


REFUSED = [
    ("policy", "PT", "not a duration"), ("policy", "P", "not a duration"), ("policy", "soon", "not a duration"),
    ("policy", "", "not a duration"), ("policy", None, "not a duration"), ("policy", True, "not a duration"),
    ("policy", "00:00:05", "not a duration"),  # a time of day to a policy author
    ("policy", "5m1h", "not a duration"), ("policy", "1m1m", "not a duration"), ("policy", "1h 30x", "not a duration"),
    ("policy", "P1M", "months and years have no fixed length"), ("policy", "P1Y", "months and years"),
    ("policy", float("nan"), "not a duration"), ("policy", float("inf"), "too long"),
    ("policy", "99999999999w", "too long"),
    ("prometheus", "30", "seconds or minutes"), ("prometheus", 30, "seconds or minutes"),
    ("prometheus", "", "not a duration"), ("prometheus", "5 m", "not a duration"),
    ("prometheus", "1.5h", "not a duration"), ("prometheus", "m", "not a duration"),
    ("prometheus", "4hours", "not a duration"), ("prometheus", "-1s", "not a duration"),
    ("prometheus", "-PT1S", "not a duration"), ("policy", "-PT5M", "negative"), ("policy", -30, "negative"),
    ("wire", "5m", "not a duration"), ("wire", "1:2", "not a duration"), ("wire", "PT", "not a duration"),
]


@pytest.mark.parametrize(("form", "value", "why"), REFUSED)
def test_duration_refusals_say_what_to_write(form: Any, value: Any, why: str) -> None:
    with pytest.raises(ValueError, match=why) as caught:
        parse_duration(value, form)
    assert "write e.g." in str(caught.value) or "P30D" in str(caught.value)
    assert seconds_or_none(value, form) is None


@pytest.mark.parametrize("form", ["policy", "prometheus"])
def test_schema_pattern_reads_the_text_the_parser_reads(form: Any) -> None:
    """The policy and alerting schemas refuse exactly the duration text parse_duration refuses."""
    texts = [value for _, value, _ in ACCEPTED + REFUSED if isinstance(value, str) and value[:1] != "-"]
    texts += ["1h30m", "1H30M", "5 ms", "P1W2D", "PT0,5S", "1h 30m", "30x", "5mm", " "]
    texts.remove("99999999999w")  # the grammar allows it; only its size is refused
    pattern = re.compile(duration_pattern(form))
    for text in texts:
        assert (pattern.search(text) is not None) == (seconds_or_none(text, form) is not None), text


def test_formatted_durations_read_back_as_themselves() -> None:
    seconds = [0.25, 30, 60, 90, 300, 900, 3600, 5400, 86400, 172800, 176400]
    formatted = [format_duration(s) for s in seconds]
    assert formatted == ["250ms", "30s", "1m", "1m30s", "5m", "15m", "1h", "1h30m", "24h", "2d", "49h"]
    assert [seconds_or_none(text, "prometheus") for text in formatted] == seconds
    assert format_duration(timedelta(minutes=5)) == "5m"


MINUS_14 = timezone(timedelta(hours=-14))


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-26T10:00:00Z", datetime(2026, 11, 26, 10, tzinfo=UTC)),
    ("2026-11-26T10:00:00z", datetime(2026, 11, 26, 10, tzinfo=UTC)),
    ("2026-11-26T12:00:00+02:00", datetime(2026, 11, 26, 10, tzinfo=UTC)),
    ("2026-11-26T10:00:00", datetime(2026, 11, 26, 10, tzinfo=UTC)),  # no offset: UTC
    ("2026-11-26 10:00", datetime(2026, 11, 26, 10, tzinfo=UTC)),
    ("2026-11-26", datetime(2026, 11, 26, tzinfo=UTC)),
    ("2026-11-26T10:00:00.1234567Z", datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)),  # Event Grid's 7 digits
    (" 2026-11-26T10:00:00Z ", datetime(2026, 11, 26, 10, tzinfo=UTC)),
    ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ("9999-12-31T09:59:59-14:00", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    (datetime(2026, 11, 26, 10), datetime(2026, 11, 26, 10, tzinfo=UTC)),
    (datetime(2026, 11, 25, 20, tzinfo=MINUS_14), datetime(2026, 11, 26, 10, tzinfo=UTC)),
    (date(2026, 11, 26), datetime(2026, 11, 26, tzinfo=UTC)),
])
def test_times_are_aware_utc(value: Any, expected: datetime) -> None:
    parsed = parse_time(value)
    assert parsed == expected and parsed.tzinfo is UTC
    assert time_or_none(value) == expected


@pytest.mark.parametrize(("value", "why"), [
    # a silence "forever" in the last time zone is in the year 10000 in UTC: a clear refusal, never a crash
    ("9999-12-31T23:59:59-14:00", "outside the times amlguard can store"),
    ("0001-01-01T00:00:00+01:00", "outside the times amlguard can store"),
    ("tomorrow", "not an ISO 8601 time"), ("2026-13-01T00:00:00Z", "not an ISO 8601 time"),
    ("", "not an ISO 8601 time"), (None, "not an ISO 8601 time"), (1764151200, "not an ISO 8601 time"),
])
def test_time_refusals(value: Any, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_time(value)
    assert time_or_none(value) is None


@pytest.mark.parametrize(("expires", "message"), [
    ("9999-12-31T23:59:59-14:00", "outside the times amlguard can store"),
    ("99999999w", "after the year 9999"),
    ("soon", "neither a duration"),
])
def test_silence_end_beyond_what_utc_holds_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             expires: str, message: str) -> None:
    from amlguard.alerts.cli import run

    argv = ["add", 'rule="AMLG-NET-001"', "--expires", expires, "--by", "ana", "--comment", "c",
            "--state", str(tmp_path)]
    assert run(argv) == 2
    assert message in capsys.readouterr().err


def test_cron_times_are_utc_and_ncrontab_has_seconds_first() -> None:
    from amlguard.timeparse import cron_problem, next_cron

    at = datetime(2026, 3, 1, 3, 14, 59, tzinfo=UTC)
    assert next_cron("15 3 * * *", at) == datetime(2026, 3, 1, 3, 15, tzinfo=UTC)
    assert next_cron("15 3 * * *", datetime(2026, 3, 1, 3, 15, tzinfo=UTC)) == datetime(2026, 3, 2, 3, 15, tzinfo=UTC)
    assert next_cron("*/30 * * * * *", at, seconds_first=True) == datetime(2026, 3, 1, 3, 15, tzinfo=UTC)
    with pytest.raises(ValueError):
        next_cron("0 0 31 2 *", at)  # 31 February never comes
    assert cron_problem("15 3 * * *") is None
    assert cron_problem("15 25 * * *") == ("'15 25 * * *' is not a valid cron expression; e.g. '15 3 * * *' "
                                           "(03:15 UTC daily) or '0 */6 * * *'")
    assert "has 6" in (cron_problem("0 15 3 * * *") or "")
