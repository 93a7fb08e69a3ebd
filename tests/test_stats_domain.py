"""The evaluation figures (``bot.domain.stats``), each on rows whose answer is counted by hand.

The calendar is given here (National Day 2026: 1–7 October off, Saturday 10 October a
make-up working day) so that no answer depends on the holiday package."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import pytest

from bot.domain.committee import Committee
from bot.domain.mechanisms import default_registry
from bot.domain.periods import Period, PeriodError, parse_period, quarter_before
from bot.domain.stats import (
    FIGURE,
    FIGURES,
    NO_VALUE,
    AssignmentRow,
    Calculator,
    Step,
    Tally,
    formatted,
    median,
    paused_working_days,
    percentile,
    rates_for_chart,
    timing,
)
from bot.domain.workdays import CalendarOverrides, WorkingCalendar, YearSchedule
from tests.conftest import SHANGHAI

KINDS = default_registry()
NATIONAL_DAY = frozenset(date(2026, 10, d) for d in range(1, 8))
CALENDAR = WorkingCalendar(
    CalendarOverrides(
        MappingProxyType({2026: YearSchedule(2026, NATIONAL_DAY, frozenset({date(2026, 10, 10)}))})
    ),
    library=False,
)
TODAY = date(2026, 11, 25)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


def row(
    kind_prefix: str = "协调",
    *,
    case_id: int = 1,
    assignment_id: int = 1,
    addressee: str = "YB-IPC",
    raiser: str = "CBS-NR",
    state: str = "submitted",
    outcome: str | None = None,
    started: datetime | None = None,
    dues: dict[str, str] | None = None,
    steps: tuple[Step, ...] = (),
) -> AssignmentRow:
    start = started or at(9, 29)
    return AssignmentRow(
        case_id=case_id,
        assignment_id=assignment_id,
        number=f"{kind_prefix}〔2026〕{case_id}号",
        title="事项",
        raiser_org=raiser,
        addressee=addressee,
        state=state,
        outcome=outcome,
        clock_started_at=start,
        dues=dues or {},
        steps=steps,
    )


def step(action: str, when: datetime, frm: str, to: str, assignment_id: int | None = None) -> Step:
    return Step(action, when, frm, to, assignment_id)


# ----------------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("text", "first", "last", "kind"),
    [
        ("", date(2026, 11, 1), date(2026, 11, 30), "month"),
        ("本月", date(2026, 11, 1), date(2026, 11, 30), "month"),
        ("this month", date(2026, 11, 1), date(2026, 11, 30), "month"),
        ("上月", date(2026, 10, 1), date(2026, 10, 31), "month"),
        ("Last Month", date(2026, 10, 1), date(2026, 10, 31), "month"),
        ("2026Q3", date(2026, 7, 1), date(2026, 9, 30), "quarter"),
        ("2026q4", date(2026, 10, 1), date(2026, 12, 31), "quarter"),
        ("2026年第三季度", date(2026, 7, 1), date(2026, 9, 30), "quarter"),
        ("２０２６年第1季度", date(2026, 1, 1), date(2026, 3, 31), "quarter"),
        ("Q2", date(2026, 4, 1), date(2026, 6, 30), "quarter"),
        ("2025", date(2025, 1, 1), date(2025, 12, 31), "year"),
        ("2025年", date(2025, 1, 1), date(2025, 12, 31), "year"),
        ("2026-01-01 2026-03-31", date(2026, 1, 1), date(2026, 3, 31), "quarter"),
        ("2026-01-05 2026-02-10", date(2026, 1, 5), date(2026, 2, 10), "range"),
        ("1月1日至3月15日", date(2026, 1, 1), date(2026, 3, 15), "range"),
        ("2026年9月1日 到 2026年9月30日", date(2026, 9, 1), date(2026, 9, 30), "month"),
    ],
)
def test_periods_are_read_in_every_form(text: str, first: date, last: date, kind: str) -> None:
    period = parse_period(text, TODAY)
    assert (period.first, period.last, period.kind) == (first, last, kind)


@pytest.mark.parametrize(
    "text",
    [
        "2026Q5",
        "Q0",
        "第五季度",
        "上上月",
        "2026-02-30 2026-03-01",
        "2026-03-31 2026-01-01",
        "1999",
        "2026-01-01",
        "2026-01-01 2026-02-01 2026-03-01",
        "明天",
        "2020-01-01 2026-12-31",
    ],
)
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text, TODAY)


def test_a_period_s_bounds_are_local_days_and_its_token_goes_round() -> None:
    period = parse_period("2026Q3", TODAY)
    start, end = period.bounds(SHANGHAI)
    assert start == datetime(2026, 7, 1, tzinfo=SHANGHAI)
    assert end == datetime(2026, 10, 1, tzinfo=SHANGHAI)
    assert period.token == "20260701-20260930"
    assert Period.from_token(period.token) == period
    for forged in ("20261301-20261231", "20260930-20260701", "2026-07-01", "", "20260701-2026093"):
        assert Period.from_token(forged) is None


def test_the_quarter_before() -> None:
    assert (quarter_before(date(2027, 1, 4)).first, quarter_before(date(2027, 1, 4)).last) == (
        date(2026, 10, 1),
        date(2026, 12, 31),
    )
    assert quarter_before(date(2026, 7, 1)).first == date(2026, 4, 1)


# ----------------------------------------------------------------------------- measures


def test_median_and_90th_percentile() -> None:
    assert median([]) is None and percentile([]) is None
    assert median([3, 1, 2]) == 2 and median([2, 3]) == 2.5
    assert percentile(list(range(1, 11))) == 9  # nearest rank: ceil(0.9 × 10) = 9th
    assert percentile([5]) == 5
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) == 10  # ceil(9.9) = 10th


def test_every_figure_shows_a_dash_without_a_denominator() -> None:
    assert [formatted(f, None) for f in FIGURES] == [NO_VALUE] * len(FIGURES)
    assert formatted(FIGURE["ack_on_time"], 2 / 3) == "67%"
    assert formatted(FIGURE["ack_median"], 2.5) == "2.5"
    assert formatted(FIGURE["ack_median"], 2.0) == "2"
    assert formatted(FIGURE["raised"], 0) == "0"
    assert len({f.code for f in FIGURES}) == len(FIGURES)
    assert all(f.definition.endswith(".") and f.unit in ("count", "days", "rate") for f in FIGURES)


def test_an_acknowledgement_across_a_holiday_counts_working_days_only() -> None:
    """Raised Tuesday 29 September, acknowledged Thursday 8 October: 30 September and
    8 October are the working days between (1–7 October are the holiday)."""
    kind = KINDS["referral"]
    r = row(
        state="acknowledged",
        dues={"ack": "2026-10-09", "reply": "2026-11-11"},
        steps=(step("acknowledge", at(10, 8), "submitted", "acknowledged"),),
    )
    ack = timing(r, kind, "ack", CALENDAR, SHANGHAI, TODAY)
    assert ack is not None and (ack.days, ack.on_time) == (2, True)
    reply = timing(r, kind, "reply", CALENDAR, SHANGHAI, TODAY)
    assert reply is not None and (reply.days, reply.on_time) == (None, False)  # due 11 Nov
    assert timing(r, kind, "name", CALENDAR, SHANGHAI, TODAY) is None


def test_paused_working_days_are_not_counted() -> None:
    """Asked for more on 30 September, answered on 9 October (paused: 8, 9 October),
    acknowledged on Monday 12 October: 30 Sep, 8, 9, 10 (make-up day), 12 Oct = 5 less 2."""
    steps = (
        step("request_info", at(9, 30), "submitted", "submitted"),
        step("provide_info", at(10, 9), "submitted", "submitted"),
        step("acknowledge", at(10, 12), "submitted", "acknowledged"),
    )
    assert paused_working_days(steps, date(2026, 10, 12), CALENDAR, SHANGHAI) == 2
    r = row("研判", state="acknowledged", dues={"ack": "2026-10-12"}, steps=steps)
    ack = timing(r, KINDS["consultation"], "ack", CALENDAR, SHANGHAI, TODAY)
    assert ack is not None and (ack.days, ack.on_time) == (3, True)
    # A pause still running when the answer came ends there.
    open_pause = (steps[0], step("acknowledge", at(10, 12), "submitted", "acknowledged"))
    assert paused_working_days(open_pause, date(2026, 10, 12), CALENDAR, SHANGHAI) == 4


def test_late_answers_pending_ones_and_stages_never_reached() -> None:
    kind = KINDS["referral"]
    late = row(
        state="returned",
        dues={"ack": "2026-10-09"},
        steps=(step("return", at(10, 12), "submitted", "returned"),),
    )
    ack = timing(late, kind, "ack", CALENDAR, SHANGHAI, TODAY)
    assert ack is not None and (ack.days, ack.on_time, ack.late) == (5, False, True)
    # Returned: the reply stage never began; it is not counted either way.
    reply = timing(late, kind, "reply", CALENDAR, SHANGHAI, TODAY)
    assert reply is not None and (reply.days, reply.on_time) == (None, None)
    # Waiting, not yet due: undecided.
    waiting = row(state="submitted", dues={"ack": "2026-11-27"}, started=at(11, 24))
    ack = timing(waiting, kind, "ack", CALENDAR, SHANGHAI, TODAY)
    assert ack is not None and ack.on_time is None
    # Withdrawn by the raiser before any answer: not the addressee's doing.
    withdrawn = row(
        state="withdrawn",
        dues={"ack": "2026-10-09"},
        steps=(step("withdraw", at(10, 12), "submitted", "withdrawn"),),
    )
    ack = timing(withdrawn, kind, "ack", CALENDAR, SHANGHAI, TODAY)
    assert ack is not None and (ack.days, ack.on_time) == (None, None)


def test_only_the_clock_s_current_round_counts() -> None:
    """Returned, then resubmitted on 12 October (the clock starts afresh) and acknowledged
    on 13 October: one working day, not the first round's answer."""
    r = row(
        state="acknowledged",
        started=at(10, 12),
        dues={"ack": "2026-10-15"},
        steps=(
            step("return", at(9, 30), "submitted", "returned"),
            step("acknowledge", at(10, 13), "submitted", "acknowledged"),
        ),
    )
    ack = timing(r, KINDS["referral"], "ack", CALENDAR, SHANGHAI, TODAY)
    assert ack is not None and (ack.days, ack.on_time) == (1, True)


def test_an_addressee_s_own_answer_is_not_another_s() -> None:
    kind = KINDS["assistance"]
    replied = step("reply", at(10, 8), "submitted", "replied", assignment_id=1)
    mine = row(
        "协助", assignment_id=1, state="replied", dues={"reply": "2026-10-12"}, steps=(replied,)
    )
    other = row(
        "协助", assignment_id=2, state="submitted", dues={"reply": "2026-10-12"}, steps=(replied,)
    )
    a = timing(mine, kind, "reply", CALENDAR, SHANGHAI, TODAY)
    b = timing(other, kind, "reply", CALENDAR, SHANGHAI, TODAY)
    assert a is not None and (a.days, a.on_time) == (2, True)
    assert b is not None and (b.days, b.on_time) == (None, False)


# ----------------------------------------------------------------------------- per organisation


def calculator(committee: Committee) -> Calculator:
    return Calculator(committee, KINDS, CALENDAR, SHANGHAI, TODAY)


def test_the_scorecard_counts_each_figure_for_the_organisation_that_acts(
    committee: Committee,
) -> None:
    period = parse_period("2026Q3", TODAY)
    ack = step("acknowledge", at(10, 8), "submitted", "acknowledged")
    rows: list[AssignmentRow] = [
        # Two referrals to the Chibei center (延边中院 acts for it): one resolved by
        # agreement, one left to litigation; one straight to 延边中院, never acknowledged.
        row(
            case_id=1,
            addressee="CHIBEI-CENTER",
            state="resolved",
            outcome="resolved",
            dues={"ack": "2026-10-09", "reply": "2026-11-11"},
            steps=(ack, step("resolve", at(10, 13), "acknowledged", "resolved")),
        ),
        row(
            case_id=2,
            addressee="CHIBEI-CENTER",
            state="resolved",
            outcome="unresolved",
            dues={"ack": "2026-10-09", "reply": "2026-11-11"},
            steps=(
                step("acknowledge", at(10, 12), "submitted", "acknowledged"),
                step("resolve", at(11, 12), "acknowledged", "resolved"),
            ),
        ),
        row(case_id=3, raiser="CBS-ENV", dues={"ack": "2026-10-09"}),
        # Hearings of 延边中院: 自然资源局's head appeared once, a deputy once; one not yet.
        row("应诉", case_id=4, raiser="YB-IPC", addressee="CBS-NR", state="heard", outcome="head"),
        row(
            "应诉", case_id=5, raiser="YB-IPC", addressee="CBS-NR", state="heard", outcome="deputy"
        ),
        row("应诉", case_id=6, raiser="YB-IPC", addressee="CBS-NR", state="named"),
        # An assistance request to two agencies: 自然资源局 replied; the court withdrew it
        # before 生态环境局 did (not counted); a bankruptcy request 生态环境局 has not answered.
        row(
            "协助",
            case_id=7,
            assignment_id=71,
            raiser="YB-IPC",
            addressee="CBS-NR",
            state="replied",
            dues={"reply": "2026-10-12"},
            steps=(step("reply", at(10, 8), "submitted", "replied", 71),),
        ),
        row(
            "协助",
            case_id=7,
            assignment_id=72,
            raiser="YB-IPC",
            addressee="CBS-ENV",
            state="withdrawn",
            dues={"reply": "2026-10-12"},
        ),
        row("破产", case_id=8, raiser="YB-IPC", addressee="CBS-ENV", dues={"reply": "2026-10-27"}),
        # A bulletin to both: read by one; closed unread for the other.
        row(
            "通报",
            case_id=9,
            assignment_id=91,
            raiser="YB-IPC",
            addressee="CBS-NR",
            state="read",
            dues={"read": "2026-10-09"},
            steps=(step("read", at(9, 30), "unread", "read", 91),),
        ),
        row(
            "通报",
            case_id=9,
            assignment_id=92,
            raiser="YB-IPC",
            addressee="CBS-ENV",
            state="closed",
            dues={"read": "2026-10-09"},
        ),
    ]
    card = calculator(committee).scorecard(period, rows)
    assert card.matters == 9
    assert [o.org for o in card.orgs] == ["CBS-NR", "CBS-ENV", "YB-IPC"]  # committee order
    court, nr, env = card.of("YB-IPC"), card.of("CBS-NR"), card.of("CBS-ENV")
    assert court is not None and nr is not None and env is not None
    assert (court.raised, court.received) == (6, 3)
    assert (nr.raised, nr.received, env.raised, env.received) == (2, 5, 1, 3)
    assert court.ack_days == [2, 5] and court.value("ack_median") == 3.5
    assert court.value("ack_p90") == 5
    assert (court.ack_on_time.hits, court.ack_on_time.of) == (1, 3)  # case 2 and 3 late
    assert court.reply_days == [6, 28] and court.value("reply_on_time") == 0.5
    assert court.value("resolution") == 0.5
    assert court.value("appearance") is None  # no hearing: "—"
    assert nr.value("appearance") == 0.5  # two recorded, one by the head
    assert nr.value("request_reply") == 1.0
    assert (env.request_reply.hits, env.request_reply.of) == (0, 1)
    assert nr.value("bulletin_read") == 1.0 and env.value("bulletin_read") == 0.0
    assert nr.value("ack_median") is None and nr.value("reply_median") == 2
    chart = rates_for_chart(card, str)
    assert chart == [("CBS-NR", None, 1.0), ("CBS-ENV", None, 0.0), ("YB-IPC", 1 / 3, 0.5)]


def test_the_matters_behind_an_organisation_late_first(committee: Committee) -> None:
    rows: list[Any] = [
        row(
            case_id=1,
            addressee="CHIBEI-CENTER",
            state="acknowledged",
            dues={"ack": "2026-10-09", "reply": "2026-12-31"},
            steps=(step("acknowledge", at(10, 8), "submitted", "acknowledged"),),
        ),
        row(case_id=2, addressee="CHIBEI-CENTER", dues={"ack": "2026-10-09"}),
        row("应诉", case_id=3, addressee="CBS-NR"),
    ]
    lines = calculator(committee).matters_of("YB-IPC", rows)
    assert [(m.case_id, m.late) for m in lines] == [(2, True), (1, False)]
    assert calculator(committee).matters_of("CBS-ENV", rows) == []


def test_a_long_period_is_read_in_pieces_with_the_same_figures(committee: Committee) -> None:
    period = parse_period("2026", TODAY)
    parts = period.parts()
    assert parts[0].first == date(2026, 1, 1) and parts[-1].last == date(2026, 12, 31)
    assert all(
        b.first - a.last == date(2026, 1, 2) - date(2026, 1, 1)
        for a, b in itertools.pairwise(parts)
    )
    assert all((p.last - p.first).days < 31 for p in parts) and len(parts) == 12
    rows = [
        row(case_id=1, dues={"ack": "2026-10-09"}),
        row(case_id=2, addressee="CHIBEI-CENTER", dues={"ack": "2026-10-09"}),
    ]
    whole = calculator(committee).scorecard(period, rows)
    tally = Tally(calculator(committee))
    tally.add(rows[:1])
    tally.add(rows[1:])
    pieces = tally.card(period)
    assert pieces == whole and pieces.matters == 2
    assert pieces.overall.received == 2 and pieces.overall.ack_on_time.of == 2
