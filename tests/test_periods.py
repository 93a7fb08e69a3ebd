"""The periods /export reads (the same module as /stats, whose own forms
``tests/test_stats_domain.py`` checks): every written form, the edges of months, quarters and
years, and the refusals with their reasons."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.domain.periods import PeriodError, parse_period
from tests.conftest import SHANGHAI

TODAY = date(2026, 11, 30)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("", date(2026, 11, 1), date(2026, 11, 30)),
        ("  ", date(2026, 11, 1), date(2026, 11, 30)),
        ("this month", date(2026, 11, 1), date(2026, 11, 30)),
        ("本月", date(2026, 11, 1), date(2026, 11, 30)),
        ("last month", date(2026, 10, 1), date(2026, 10, 31)),
        ("Last Month", date(2026, 10, 1), date(2026, 10, 31)),
        ("上月", date(2026, 10, 1), date(2026, 10, 31)),
        ("今年", date(2026, 1, 1), date(2026, 12, 31)),
        ("last year", date(2025, 1, 1), date(2025, 12, 31)),
        ("2026Q3", date(2026, 7, 1), date(2026, 9, 30)),
        ("2026q1", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026 Q4", date(2026, 10, 1), date(2026, 12, 31)),
        ("2026-Q2", date(2026, 4, 1), date(2026, 6, 30)),
        ("2026年第三季度", date(2026, 7, 1), date(2026, 9, 30)),
        ("2026年4季度", date(2026, 10, 1), date(2026, 12, 31)),
        ("２０２６Ｑ３", date(2026, 7, 1), date(2026, 9, 30)),  # full-width, as IMEs type it
        ("2026", date(2026, 1, 1), date(2026, 12, 31)),
        ("2024年", date(2024, 1, 1), date(2024, 12, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2026年2月", date(2026, 2, 1), date(2026, 2, 28)),
        ("2026-01-01 2026-03-31", date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-1-5 至 2026-1-9", date(2026, 1, 5), date(2026, 1, 9)),
        ("2026年1月5日到2026年2月1日", date(2026, 1, 5), date(2026, 2, 1)),
        ("2026/12/01 to 2027/01/31", date(2026, 12, 1), date(2027, 1, 31)),
        ("2026.3.1~2026.3.1", date(2026, 3, 1), date(2026, 3, 1)),
    ],
)
def test_a_period_reads_as_people_write_it(text: str, first: date, last: date) -> None:
    period = parse_period(text, TODAY)
    assert (period.first, period.last) == (first, last)


def test_last_month_in_january_is_last_december() -> None:
    period = parse_period("上月", date(2027, 1, 4))
    assert (period.first, period.last, period.kind) == (
        date(2026, 12, 1),
        date(2026, 12, 31),
        "month",
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("next week", "bad"),
        ("2026Q5", "bad"),
        ("20263", "bad"),
        ("2026-02-30 2026-03-01", "no_such_date"),
        ("2026-13", "no_such_date"),
        ("2026-03-31 2026-01-01", "reversed"),
        ("2000-01-01 2026-01-01", "too_long"),
        ("2026-01-01", "bad"),  # one date is not a period
    ],
)
def test_what_is_not_a_period_is_refused_with_a_reason(text: str, code: str) -> None:
    with pytest.raises(PeriodError) as refused:
        parse_period(text, TODAY)
    assert refused.value.reason == code


def test_bounds_are_the_local_days_in_utc() -> None:
    period = parse_period("2026-11", TODAY)
    start, end = period.bounds(SHANGHAI)
    # Midnight in Shanghai is 16:00 UTC the day before; the end is exclusive.
    assert start == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert period.contains(datetime(2026, 11, 30, 15, 59, tzinfo=UTC), SHANGHAI)
    assert not period.contains(end, SHANGHAI)
    assert not period.contains(datetime(2026, 10, 31, 15, 59, tzinfo=UTC), SHANGHAI)
    assert period.days == 30
