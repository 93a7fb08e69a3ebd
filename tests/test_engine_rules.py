"""The engine's plain rules: declarations checked when the registry is built, deadlines counted
forwards and backwards with paused days, questions asked only when an answer calls for them,
reminders before a moment, the committee file's raisers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.config import ConfigError, load_committee, parse_calendar, parse_committee
from bot.domain import lifecycle, rules
from bot.domain.committee import Committee, OrgKind
from bot.domain.errors import InvalidInput
from bot.domain.fields import (
    ADDRESSEE,
    CHOICE,
    DATETIME,
    TEXT,
    FieldContext,
    FieldSpec,
    asked,
    check_values,
)
from bot.domain.kinds import Action, Deadline, KindError, KindRegistry, Side, State
from bot.domain.mechanisms import consultation, default_registry, referral
from bot.domain.models import Member, Role
from bot.domain.workdays import WorkingCalendar
from tests.conftest import ROOT, SHANGHAI

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Shanghai
CALENDAR = WorkingCalendar(parse_calendar(None, "calendar"))
WHO = FieldSpec("who", CHOICE, "Who", "Who?", choices=(("head", "Head"), ("deputy", "Deputy")))
WHY = FieldSpec("why", TEXT, "Why", "Why not the head?", max_length=50, when=("who", ("deputy",)))


def test_a_question_is_asked_only_when_an_answer_calls_for_it(committee: Committee) -> None:
    ctx = FieldContext(committee, NOW, SHANGHAI)
    assert asked((WHO, WHY), {"who": "head"}) == (WHO,)
    assert asked((WHO, WHY), {"who": "deputy"}) == (WHO, WHY)
    assert check_values((WHO, WHY), {"who": "head", "why": "ignored"}, ctx) == {"who": "head"}
    with pytest.raises(InvalidInput) as exc:
        check_values((WHO, WHY), {"who": "deputy"}, ctx)
    assert (exc.value.code, exc.value.params) == ("incomplete", {"field": "why"})


def test_deadlines_count_forwards_backwards_and_skip_paused_days() -> None:
    hearing_kind = replace(
        consultation.KIND,
        code="hearing_test",
        number_prefix="测试",
        fields=(*consultation.KIND.fields, FieldSpec("hearing", DATETIME, "Hearing", "When?")),
        deadlines=(
            Deadline(
                "name",
                frozenset({"submitted"}),
                "msg",
                working_days=3,
                before_field="hearing",
                before_working_days=2,
            ),
        ),
    )
    raised = date(2026, 11, 25)  # Wednesday
    far = {"hearing": "2026-12-21T09:30:00+08:00"}
    near = {"hearing": "2026-12-01T09:30:00+08:00"}  # next Tuesday
    assert lifecycle.due_dates(hearing_kind, far, raised, 0, CALENDAR, SHANGHAI) == {
        "name": date(2026, 11, 30)  # three working days after Wednesday
    }
    assert lifecycle.due_dates(hearing_kind, near, raised, 0, CALENDAR, SHANGHAI) == {
        "name": date(2026, 11, 27)  # two working days before Tuesday: Friday
    }
    # Two working days paused move a forward deadline by two working days.
    assert lifecycle.due_dates(hearing_kind, far, raised, 2, CALENDAR, SHANGHAI) == {
        "name": date(2026, 12, 2)
    }
    # A requested reply date wins where it is earlier, and moves with the paused days...
    asked_for = {"reply_by": "2026-12-02"}
    dues = lifecycle.due_dates(referral.KIND, asked_for, raised, 0, CALENDAR, SHANGHAI)
    assert dues == {"ack": date(2026, 11, 30), "reply": date(2026, 12, 2)}
    dues = lifecycle.due_dates(referral.KIND, asked_for, raised, 3, CALENDAR, SHANGHAI)
    assert dues["reply"] == date(2026, 12, 7)
    # ...but one a restarted clock (a reopening) left behind no longer applies.
    dues = lifecycle.due_dates(
        referral.KIND, {"reply_by": "2026-11-20"}, raised, 0, CALENDAR, SHANGHAI
    )
    assert dues == {"ack": date(2026, 11, 30), "reply": date(2027, 1, 7)}


def test_working_days_back_from_a_date() -> None:
    assert CALENDAR.subtract_working_days(date(2026, 12, 1), 2) == date(2026, 11, 27)
    # Across 国庆 (1–7 October): the working day before Thursday 8 October is 30 September,
    # and two before Monday 12 October is Friday 9 (Saturday 10 is a make-up working day).
    assert CALENDAR.subtract_working_days(date(2026, 10, 8), 1) == date(2026, 9, 30)
    assert CALENDAR.subtract_working_days(date(2026, 10, 12), 2) == date(2026, 10, 9)
    assert CALENDAR.subtract_working_days(date(2026, 11, 29), 0) == date(2026, 11, 27)
    with pytest.raises(ValueError):
        CALENDAR.subtract_working_days(date(2026, 12, 1), -1)


def test_the_nearest_reminder_that_is_due() -> None:
    moment = datetime(2026, 12, 4, 9, 30, tzinfo=SHANGHAI)
    before = (3, 1)
    assert lifecycle.reminder_due(before, moment, moment - timedelta(days=4)) is None
    assert lifecycle.reminder_due(before, moment, moment - timedelta(days=3)) == 3
    assert lifecycle.reminder_due(before, moment, moment - timedelta(hours=20)) == 1
    assert lifecycle.reminder_due(before, moment, moment) is None  # the moment has come


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"initial": "nowhere"}, "initial state"),
        ({"title_field": "nothing"}, "no field 'nothing'"),
        ({"addressee_field": "title"}, "must name organisations"),
        (
            {
                "actions": (
                    Action("x", "X", "X", Side.ADDRESSEE, frozenset({"submitted"}), "limbo"),
                )
            },
            "names state 'limbo'",
        ),
        (
            {"deadlines": (Deadline("d", frozenset({"limbo"}), "m", working_days=1),)},
            "deadline 'd' names",
        ),
        (
            {
                "states": (State("submitted", "S", open=False),),
                "actions": (),
                "deadlines": (),
            },
            "open in one kind, closed in another",
        ),
    ],
)
def test_a_declaration_that_cannot_work_is_refused(change: dict[str, Any], message: str) -> None:
    broken = replace(consultation.KIND, code="broken", number_prefix="坏", **change)
    with pytest.raises(KindError, match=message):
        KindRegistry.of((consultation.KIND, broken))


def test_no_declaration_offers_the_linkage_office_as_a_party() -> None:
    respondent = replace(
        referral.KIND.field("respondent"), org_kinds=(OrgKind.DEPARTMENT, OrgKind.OFFICE)
    )
    fields = tuple(respondent if f.name == "respondent" else f for f in referral.KIND.fields)
    with pytest.raises(KindError, match="field 'respondent' offers the linkage office"):
        KindRegistry.of((replace(referral.KIND, fields=fields),))
    assert OrgKind.OFFICE not in referral.KIND.field("respondent").org_kinds
    # A consultation asks a court for its view: no coordination center is offered.
    assert consultation.KIND.addressee_spec.type is not ADDRESSEE
    assert consultation.KIND.addressee_spec.org_kinds == (OrgKind.COURT,)


def test_a_code_or_prefix_is_declared_once() -> None:
    with pytest.raises(KindError, match="declared twice"):
        KindRegistry.of((consultation.KIND, consultation.KIND))
    with pytest.raises(KindError, match="prefix"):
        KindRegistry.of((consultation.KIND, replace(referral.KIND, number_prefix="研判")))


def test_the_committee_file_names_who_may_raise_a_kind() -> None:
    data = _example()
    data["kinds"] = {"referral": {"raisers": ["CBS-NR", "CHIBEI"]}}
    committee = parse_committee(data)
    assert committee.raisers == {"referral": frozenset({"CBS-NR", "CHIBEI"})}
    nr = Member(1, 1, "CBS-NR", Role.DEPARTMENT_HEAD, "x", NOW)
    env = Member(2, 2, "CBS-ENV", Role.DEPARTMENT_HEAD, "y", NOW)
    assert rules.can_raise(nr, referral.KIND, committee)
    assert not rules.can_raise(env, referral.KIND, committee)
    assert rules.can_raise(env, consultation.KIND, committee)  # not listed: as before
    assert [k.code for k in rules.raisable_kinds(env, default_registry(), committee)] == [
        "consultation"
    ]


@pytest.mark.parametrize(
    ("kinds", "message"),
    [
        ({"nope": {"raisers": []}}, "kinds.nope: unknown kind"),
        ({"referral": {"raisers": ["XX"]}}, "unknown organisation code 'XX'"),
        ({"referral": {"raisers": "CBS-NR"}}, "must be a list"),
        ({"referral": {"who": []}}, "unknown key 'who'"),
        ({"referral": []}, "must be a table"),
    ],
)
def test_raisers_in_the_committee_file_are_checked(kinds: dict[str, Any], message: str) -> None:
    data = _example()
    data["kinds"] = kinds
    with pytest.raises(ConfigError, match=message):
        parse_committee(data)


def _example() -> dict[str, Any]:
    import tomllib

    return tomllib.loads((ROOT / "committee.example.toml").read_text(encoding="utf-8"))


def test_the_example_committee_file_loads_with_every_mechanism() -> None:
    committee = load_committee(ROOT / "committee.example.toml")
    assert set(committee.schedule.deadlines) == {k.code for k in default_registry()}
