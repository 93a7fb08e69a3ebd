"""Deadline alerts: which warning an addressee's running deadline deserves today, as plain rules.

On the working-day calendar:

- *due soon*: from ``due_soon_working_days`` working days before the due day until the due
  day itself — privately to the addressee (its handler, once one is assigned);
- *overdue*: once at least one working day has passed after the due day — to the committee
  group and to the addressee (its handler, once one is assigned);
- *escalation* (督办): again every ``escalate_every_working_days`` working days while still
  overdue — to the group and to everyone of the addressee.

None of these is a message of its own: each working day's morning summary lists every matter
due soon or late for its recipient, and a 督办 round goes out (grouped per recipient) on the
day it begins — both only in office hours (below). Alerts stop as soon as the addressee moves
on, and while the clock is paused (a request for more information) the deadline does not run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.domain.committee import Schedule
from bot.domain.workdays import WorkingCalendar


@dataclass(frozen=True, slots=True)
class Alert:
    key: str  # the threshold's suffix of an entry's key, e.g. ":overdue" (see ``alert_key``)
    level: str  # "due_soon" | "overdue" | "escalation"
    stage: str  # the deadline's name, e.g. "ack" or "reply"
    due: date
    late: int  # working days past the due day
    to_group: bool

    @property
    def whole_organisation(self) -> bool:
        """Escalations go to everyone of the addressee, not only its handler."""
        return self.level == "escalation"


def alert_key(case_id: int, assignment_id: int | None, round_: int, stage: str) -> str:
    """The key of an addressee's alerts for one stage (``case:12:ack`` for a matter with one
    addressee and a clock that never restarted, as it always was)."""
    key = f"case:{case_id}"
    if assignment_id is not None:
        key += f":a{assignment_id}"
    if round_:
        key += f":r{round_}"
    return f"{key}:{stage}"


def alert_for(
    base: str,
    stage: str,
    due: date | None,
    today: date,
    calendar: WorkingCalendar,
    schedule: Schedule,
) -> Alert | None:
    """The one alert a running deadline deserves today, if any."""
    if due is None:
        return None
    if today <= due:
        if schedule.due_soon_working_days <= 0:
            return None
        ahead = calendar.working_days_between(today, due)
        if ahead <= schedule.due_soon_working_days:
            return Alert(f"{base}:due_soon", "due_soon", stage, due, 0, to_group=False)
        return None
    late = calendar.working_days_between(due, today)
    if late < 1:
        return None  # past the due day, but no working day has gone by yet
    # Overdue on the first working day late; escalations every N working days after that.
    step = (late - 1) // schedule.escalate_every_working_days
    if step == 0:
        return Alert(f"{base}:overdue", "overdue", stage, due, late, to_group=True)
    return Alert(f"{base}:escalate:{step}", "escalation", stage, due, late, to_group=True)


def soonest_due_to_scan(today: date, calendar: WorkingCalendar, schedule: Schedule) -> date:
    """Deadlines due on or before this date may need an alert today (the scan's filter)."""
    return calendar.add_working_days(today, max(schedule.due_soon_working_days, 0))


# ---------------------------------------------------------------------------- office hours
#
# Deadline alerts are grouped into one morning summary per recipient and working day, and
# nothing of this kind (summaries, 督办 escalations, the weekly digest) reaches a phone in the
# quiet hours or on a day off: what falls due then waits for the next working morning.


def is_quiet(at: time, schedule: Schedule) -> bool:
    """Whether a local time of day falls in the quiet hours (which may span midnight)."""
    start, end = schedule.quiet_start, schedule.quiet_end
    if start == end:
        return False
    if start < end:
        return start <= at < end
    return at >= start or at < end


def office_moment(now: datetime, calendar: WorkingCalendar, schedule: Schedule) -> datetime:
    """The first moment at or after ``now`` (local, aware) on a working day outside the quiet
    hours: when an alert due at ``now`` may go out."""
    for offset in range(400):  # a year and more of days off cannot happen
        day = now.date() + timedelta(days=offset)
        if not calendar.is_working_day(day):
            continue
        start = now.timetz().replace(tzinfo=None) if offset == 0 else time(0)
        if not is_quiet(start, schedule):
            return now if offset == 0 else datetime.combine(day, start, now.tzinfo)
        if schedule.quiet_end > start:
            return datetime.combine(day, schedule.quiet_end, now.tzinfo)
    return now


def summary_due(now: datetime, calendar: WorkingCalendar, schedule: Schedule) -> bool:
    """Whether today's morning summary may be queued at ``now`` (local, aware): a working
    day, from the summary time until the quiet hours begin. A day the bot was down through
    has none: the next summary lists every matter that is still due soon or late anyway."""
    at = now.timetz().replace(tzinfo=None)
    return (
        calendar.is_working_day(now.date())
        and at >= schedule.summary_time
        and not is_quiet(at, schedule)
    )


def escalation_began(
    due: date, late: int, calendar: WorkingCalendar, schedule: Schedule
) -> date | None:
    """The working day the current 督办 round of a deadline ``late`` working days overdue
    began, or None if it is not (yet) escalated."""
    step = (late - 1) // schedule.escalate_every_working_days
    if late < 1 or step < 1:
        return None
    return calendar.add_working_days(due, step * schedule.escalate_every_working_days + 1)


def digest_moment(scheduled: datetime, calendar: WorkingCalendar, schedule: Schedule) -> datetime:
    """When a digest scheduled for ``scheduled`` (local, aware) goes out: the same time on
    the first working day from then on, and never in the quiet hours."""
    day = scheduled.date()
    for _ in range(400):
        if calendar.is_working_day(day):
            break
        day += timedelta(days=1)
    moment = datetime.combine(day, scheduled.timetz())
    return office_moment(moment, calendar, schedule)
