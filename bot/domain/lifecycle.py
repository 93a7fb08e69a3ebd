"""The matter engine's rules: who may take which action now, where it leads, how a matter's
status follows from its addressees', and when each deadline falls.

Plain functions over the declarations (``bot.domain.kinds``) and plain records; the services
call them inside their transactions and the adapter calls them to decide which buttons to show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.committee import Committee
from bot.domain.kinds import MATTER_CLOSED, MATTER_OPEN, Action, Closing, Effect, KindSpec, Side
from bot.domain.models import Assignment, Case, Member, Role
from bot.domain.workdays import WorkingCalendar


def sides(
    member: Member | None,
    case: Case,
    assignment: Assignment | None,
    committee: Committee,
    kind: KindSpec,
) -> frozenset[Side]:
    """The parts a member plays in a matter (for one of its addressees)."""
    if member is None or not member.active:
        return frozenset()
    found: set[Side] = set()
    if member.role is Role.OFFICE:
        found.add(Side.OFFICE)
    if member.org_code == case.raiser_org and member.role in kind.raised_by:
        found.add(Side.RAISER)
    if (
        assignment is not None
        and member.role in kind.answered_by
        and member.org_code in committee.orgs_answering(assignment.addressee)
    ):
        found.add(Side.ADDRESSEE)
    return frozenset(found)


def applies(kind: KindSpec, action: Action, case: Case, assignment: Assignment) -> bool:
    """Whether an action can be taken on this addressee now, whoever asks."""
    if action.from_states:
        if assignment.state not in action.from_states:
            return False
    elif not kind.is_open(assignment.state):
        return False
    if action.while_paused is not None and action.while_paused != assignment.paused:
        return False
    # With several addressees, a closed matter only reopens as a whole.
    if kind.several_addressees and case.status != MATTER_OPEN:
        return Effect.REOPEN in action.effects
    return True


def may(
    kind: KindSpec,
    action: Action,
    case: Case,
    assignment: Assignment,
    member: Member | None,
    committee: Committee,
) -> bool:
    """Whether this member may take this action on this addressee now."""
    return action.by in sides(member, case, assignment, committee, kind) and applies(
        kind, action, case, assignment
    )


def waits_for(action: Action, case: Case, now: datetime, tz: ZoneInfo) -> datetime | None:
    """The moment an action waits for while it is still ahead (a hearing, before its
    appearance can be recorded); None when the action need not wait."""
    if action.after_field is None:
        return None
    moment = moment_of(case.fields.get(action.after_field), tz)
    return moment if moment is not None and now < moment else None


def available(
    kind: KindSpec,
    case: Case,
    assignment: Assignment,
    member: Member | None,
    committee: Committee,
    now: datetime | None = None,
    tz: ZoneInfo | None = None,
) -> list[Action]:
    """The actions a member may take on one addressee now, in the order declared; with
    ``now``, not those that wait for a moment still ahead (``waits_for``)."""
    mine = sides(member, case, assignment, committee, kind)
    return [
        a
        for a in kind.actions
        if a.by in mine
        and applies(kind, a, case, assignment)
        and (now is None or tz is None or waits_for(a, case, now, tz) is None)
    ]


def moot(
    kind: KindSpec, stage: str, fields: Mapping[str, Any], now: datetime, tz: ZoneInfo
) -> bool:
    """Whether a deadline no longer matters: the moment its ``until_field`` names has passed
    (who appears at a hearing that is over)."""
    for deadline in kind.deadlines:
        if deadline.name == stage and deadline.until_field is not None:
            moment = moment_of(fields.get(deadline.until_field), tz)
            return moment is not None and moment <= now
    return False


def target_state(kind: KindSpec, action: Action, assignment: Assignment) -> str:
    """Where an action takes an addressee."""
    if Effect.REOPEN in action.effects:
        return assignment.last_open_state or kind.initial
    return action.to_state or assignment.state


def matter_status(kind: KindSpec, states: Sequence[str], closed_as: str | None = None) -> str:
    """A matter's status from its addressees' states: the one addressee's state, or, with
    several, open until it closes (every one answered, or closed by the raiser)."""
    if not kind.several_addressees:
        return states[0]
    if closed_as is not None:
        return closed_as
    if kind.closing is Closing.ALL_ANSWERED and not any(kind.is_open(s) for s in states):
        return MATTER_CLOSED
    return MATTER_OPEN


def _as_local_date(value: Any, tz: ZoneInfo) -> date | None:
    moment = moment_of(value, tz)
    return moment.astimezone(tz).date() if moment is not None else None


def due_dates(
    kind: KindSpec,
    fields: Mapping[str, Any],
    clock_start: date,
    paused_days: int,
    calendar: WorkingCalendar,
    tz: ZoneInfo,
    overrides: Mapping[str, int] | None = None,
) -> dict[str, date]:
    """Every deadline of a matter: the earliest of its terms, never before the clock started.

    Forward terms count from ``clock_start`` and skip the working days the clock was paused;
    backward terms count from a field's date; a requested date wins where it is earlier."""
    overrides = overrides or {}
    dues: dict[str, date] = {}
    for deadline in kind.deadlines:
        terms: list[date] = []
        if deadline.working_days is not None:
            days = overrides.get(deadline.name, deadline.working_days)
            terms.append(calendar.add_working_days(clock_start, days + paused_days))
        if deadline.before_field is not None:
            anchor = _as_local_date(fields.get(deadline.before_field), tz)
            if anchor is not None:
                terms.append(calendar.subtract_working_days(anchor, deadline.before_working_days))
        if deadline.cap_field is not None:
            cap = _as_local_date(fields.get(deadline.cap_field), tz)
            # A requested date moves with the paused days too, and one that a restarted
            # clock (a reopening) has left behind no longer applies.
            if cap is not None and cap >= clock_start:
                terms.append(calendar.add_working_days(cap, paused_days) if paused_days else cap)
        if terms:
            dues[deadline.name] = max(min(terms), clock_start)
    return dues


def running_deadline(kind: KindSpec, state: str) -> str | None:
    """The name of the deadline that runs while an addressee is in ``state``."""
    for deadline in kind.deadlines:
        if state in deadline.states:
            return deadline.name
    return None


def deadline_message(kind: KindSpec, name: str) -> str:
    for deadline in kind.deadlines:
        if deadline.name == name:
            return deadline.message
    return ""


def moment_of(value: Any, tz: ZoneInfo) -> datetime | None:
    """A date or date-time field's moment (a date alone: the start of that day, local)."""
    if not value:
        return None
    text = str(value)
    if "T" in text:
        return datetime.fromisoformat(text)
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), tz)


def reminder_due(days_before: Sequence[int], moment: datetime, now: datetime) -> int | None:
    """Which of a reminder's offsets is due now: the nearest one whose time has come, while
    the moment is still ahead (after downtime, one reminder rather than a burst)."""
    due = [d for d in days_before if moment - timedelta(days=d) <= now < moment]
    return min(due) if due else None
