"""Business rules: permissions, transitions, numbering, deadlines and input validation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from bot.config import load_committee
from bot.domain import lifecycle, rules
from bot.domain.committee import Committee, OrgKind
from bot.domain.errors import InvalidInput
from bot.domain.fields import (
    MAX_FILE_BYTES,
    FieldContext,
    FieldSpec,
    check_values,
    parse_date,
    validate_file,
    validate_future_date,
)
from bot.domain.mechanisms import default_registry
from bot.domain.mechanisms.consultation import KIND as CONSULTATION
from bot.domain.mechanisms.referral import KIND as REFERRAL
from bot.domain.models import Assignment, Case, Member, Role
from tests.conftest import ROOT

KINDS = default_registry()

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def member(role: Role, org: str, revoked: bool = False) -> Member:
    return Member(1, 42, org, role, "X", NOW, NOW if revoked else None)


def case(
    addressee: str = "CHIBEI-CENTER", raiser_org: str = "CBS-NR", state: str = "submitted"
) -> Case:
    return Case(
        id=1,
        number="协调〔2026〕1号",
        kind="referral",
        year=2026,
        seq=1,
        status=state,
        title="t",
        raiser_user_id=7,
        raiser_org=raiser_org,
        fields={},
        created_at=NOW,
        updated_at=NOW,
        assignments=(Assignment(1, 1, addressee, 1, state, NOW, NOW),),
    )


def can_answer(who: Member | None, matter: Case, committee: Committee) -> bool:
    return lifecycle.may(
        REFERRAL, REFERRAL.action("acknowledge"), matter, matter.assignments[0], who, committee
    )


def test_court_staff_answer_only_for_their_center_or_court(committee: Committee) -> None:
    yanbian = member(Role.COURT_STAFF, "YB-IPC")
    fusong = member(Role.COURT_STAFF, "FUSONG-COURT")
    assert can_answer(yanbian, case("CHIBEI-CENTER"), committee)
    assert not can_answer(fusong, case("CHIBEI-CENTER"), committee)
    assert can_answer(fusong, case("CHIXINAN-CENTER"), committee)
    assert can_answer(fusong, case("FUSONG-COURT"), committee)
    assert not can_answer(yanbian, case("FUSONG-COURT"), committee)


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        (member(Role.DEPARTMENT_HEAD, "CBS-NR"), False),
        (member(Role.OFFICE, "CBS-OFFICE"), False),
        (member(Role.OBSERVER, "YB-IPC"), False),
        (member(Role.COURT_STAFF, "YB-IPC", revoked=True), False),
        (None, False),
    ],
)
def test_nobody_else_may_answer(committee: Committee, who: Member | None, allowed: bool) -> None:
    assert can_answer(who, case(), committee) is allowed


def test_viewing(committee: Committee) -> None:
    c = case()
    assert rules.can_view(member(Role.DEPARTMENT_HEAD, "CBS-NR"), c, committee)
    assert not rules.can_view(member(Role.DEPARTMENT_HEAD, "CBS-ENV"), c, committee)
    assert rules.can_view(member(Role.COURT_STAFF, "YB-IPC"), c, committee)
    assert not rules.can_view(member(Role.COURT_STAFF, "BS-IPC"), c, committee)
    assert rules.can_view(member(Role.OFFICE, "CBS-OFFICE"), c, committee)
    assert rules.can_view(member(Role.OBSERVER, "CHIBEI"), c, committee)
    assert not rules.can_view(None, c, committee)
    assert not rules.can_view(member(Role.OFFICE, "CBS-OFFICE", revoked=True), c, committee)


def test_who_may_raise() -> None:
    assert rules.can_raise(member(Role.DEPARTMENT_HEAD, "CHIXI"), REFERRAL)
    assert rules.can_raise(member(Role.OFFICE, "CBS-OFFICE"), CONSULTATION)
    assert not rules.can_raise(member(Role.COURT_STAFF, "YB-IPC"), REFERRAL)
    assert not rules.can_raise(member(Role.OBSERVER, "CHIXI"), REFERRAL)
    # Court staff raise only the court-side mechanisms (出庭应诉, 裁执分离 ...), never a
    # department's; observers raise nothing.
    offered = rules.raisable_kinds(member(Role.COURT_STAFF, "YB-IPC"), KINDS)
    assert offered and CONSULTATION not in offered and REFERRAL not in offered
    assert all(k.raiser_org_kinds == {OrgKind.COURT} for k in offered)
    assert rules.raisable_kinds(member(Role.OBSERVER, "CHIXI"), KINDS) == []


def test_roles_fit_organisations(committee: Committee) -> None:
    kinds = {code: org.kind for code, org in committee.organisations.items()}
    assert rules.role_fits_org(Role.COURT_STAFF, kinds["YB-IPC"])
    assert not rules.role_fits_org(Role.COURT_STAFF, kinds["CBS-NR"])
    assert rules.role_fits_org(Role.DEPARTMENT_HEAD, kinds["CHINAN"])
    assert not rules.role_fits_org(Role.DEPARTMENT_HEAD, kinds["FUSONG-COURT"])
    assert rules.role_fits_org(Role.OBSERVER, kinds["FUSONG-COURT"])


def next_status(state: str, action: str) -> str | None:
    """Where an action leads from a state, or None when it does not apply there."""
    matter = case(state=state)
    step = REFERRAL.action(action)
    if not lifecycle.applies(REFERRAL, step, matter, matter.assignments[0]):
        return None
    return lifecycle.target_state(REFERRAL, step, matter.assignments[0])


def test_transitions() -> None:
    assert next_status("submitted", "acknowledge") == "acknowledged"
    assert next_status("submitted", "return") == "returned"
    assert next_status("acknowledged", "acknowledge") is None
    assert next_status("returned", "acknowledge") is None
    assert next_status("acknowledged", "return") is None
    assert next_status("acknowledged", "resolve") == "resolved"
    assert next_status("returned", "resubmit") == "submitted"
    assert next_status("submitted", "withdraw") == "withdrawn"
    assert next_status("resolved", "withdraw") is None
    # Reopening goes back to where the matter was before it closed.
    reopened = replace(case(state="resolved").assignments[0], last_open_state="acknowledged")
    assert lifecycle.target_state(REFERRAL, REFERRAL.action("reopen"), reopened) == "acknowledged"


@pytest.mark.parametrize(
    "text",
    [
        "协调〔2026〕12号",
        "协调[2026]12",
        "协调 2026-12",
        "协调（2026）12号",
        "协调【2026】第12号",
        " 协调〔2026〕12 ",
        "协调2026/12号",
    ],
)
def test_case_numbers_as_people_type_them(text: str) -> None:
    assert rules.parse_number(text, KINDS) == ("referral", 2026, 12)


@pytest.mark.parametrize("text", ["", "12", "协调", "其他〔2026〕1号", "协调〔26〕1号", "<b>"])
def test_not_case_numbers(text: str) -> None:
    assert rules.parse_number(text, KINDS) is None


def test_number_format_round_trips() -> None:
    for kind in KINDS:
        text = rules.format_number(kind, 2027, 305)
        assert rules.parse_number(text, KINDS) == (kind.code, 2027, 305)
    assert rules.format_number(REFERRAL, 2026, 12) == "协调〔2026〕12号"


def test_text_validation() -> None:
    title = REFERRAL.field("title")
    ctx = FieldContext(load_committee(ROOT / "committee.example.toml"), NOW, UTC)

    def validate_text(spec: FieldSpec, raw: str) -> str:
        return str(spec.type.parse_text(spec, raw, ctx))

    assert validate_text(title, "  征收补偿\n争议  ") == "征收补偿 争议"
    assert validate_text(title, "a\u200bb\u202ec\x00") == "abc"
    with pytest.raises(InvalidInput) as exc:
        validate_text(title, " \u200b\n\t ")
    assert exc.value.code == "empty"
    assert validate_text(title, "字" * 100) == "字" * 100
    with pytest.raises(InvalidInput) as exc:
        validate_text(title, "字" * 101)
    assert exc.value.code == "too_long"
    assert exc.value.params == {"max": 100, "length": 101}
    description = REFERRAL.field("description")
    assert validate_text(description, "line 1\r\n\n\n\nline 2") == "line 1\n\nline 2"


def test_dates() -> None:
    today = date(2026, 11, 25)
    assert parse_date("2026-12-31", today) == date(2026, 12, 31)
    assert parse_date("2026年12月1日", today) == date(2026, 12, 1)
    assert parse_date("12/3", today) == date(2026, 12, 3)
    assert parse_date("1-5", today) == date(2027, 1, 5)
    assert parse_date("２０２６－１２－０２", today) == date(2026, 12, 2)
    for bad, code in [("tomorrow", "bad_date"), ("2026-02-30", "no_such_date"), ("", "bad_date")]:
        with pytest.raises(InvalidInput) as exc:
            parse_date(bad, today)
        assert exc.value.code == code
    assert validate_future_date(today, today) == today
    with pytest.raises(InvalidInput) as exc:
        validate_future_date(date(2026, 11, 24), today)
    assert exc.value.code == "date_in_past"
    with pytest.raises(InvalidInput) as exc:
        validate_future_date(date(2027, 12, 1), today)
    assert exc.value.code == "date_too_far"


def test_files() -> None:
    spec = REFERRAL.field("documents")
    validate_file(MAX_FILE_BYTES, 0, spec)
    with pytest.raises(InvalidInput) as exc:
        validate_file(MAX_FILE_BYTES + 1, 0, spec)
    assert exc.value.code == "file_too_large"
    with pytest.raises(InvalidInput) as exc:
        validate_file(10, spec.max_files, spec)
    assert exc.value.code == "too_many_files"


def test_completeness() -> None:
    values = {"title": "t", "description": "d", "addressee": "YB-IPC", "urgency": "normal"}
    ctx = FieldContext(load_committee(ROOT / "committee.example.toml"), NOW, UTC)
    assert check_values(CONSULTATION.fields, values, ctx)["addressee"] == "YB-IPC"
    with pytest.raises(InvalidInput) as exc:
        check_values(REFERRAL.fields, values, ctx)
    assert exc.value.code == "incomplete" and exc.value.params == {"field": "applicant"}


def test_each_state_runs_its_own_deadline() -> None:
    assert lifecycle.running_deadline(REFERRAL, "submitted") == "ack"
    assert lifecycle.running_deadline(REFERRAL, "acknowledged") == "reply"
    for closed in ("returned", "resolved", "withdrawn"):
        assert lifecycle.running_deadline(REFERRAL, closed) is None


@pytest.mark.parametrize(
    ("every", "today", "expected"),
    [
        (2, date(2026, 11, 26), None),  # two working days before the due day
        (2, date(2026, 11, 27), "case:1:ack:due_soon"),
        (2, date(2026, 11, 30), "case:1:ack:due_soon"),  # the due day itself
        (2, date(2026, 11, 28), "case:1:ack:due_soon"),  # a Saturday before it
        (2, date(2026, 12, 1), "case:1:ack:overdue"),  # first working day late
        (2, date(2026, 12, 2), "case:1:ack:overdue"),
        (2, date(2026, 12, 3), "case:1:ack:escalate:1"),  # 2 working days after overdue
        (2, date(2026, 12, 7), "case:1:ack:escalate:2"),
        (1, date(2026, 12, 1), "case:1:ack:overdue"),  # every day: overdue first, then...
        (1, date(2026, 12, 2), "case:1:ack:escalate:1"),
    ],
)
def test_alert_thresholds(every: int, today: date, expected: str | None) -> None:
    from bot.config import parse_calendar
    from bot.domain.alerts import alert_for, alert_key
    from bot.domain.committee import Schedule
    from bot.domain.workdays import WorkingCalendar

    calendar = WorkingCalendar(parse_calendar(None, "calendar"))
    schedule = Schedule(escalate_every_working_days=every)
    base = alert_key(1, None, 0, "ack")
    alert = alert_for(base, "ack", date(2026, 11, 30), today, calendar, schedule)
    assert (alert.key if alert else None) == expected
