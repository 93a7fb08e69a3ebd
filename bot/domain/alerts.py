"""Deadline alerts: which warning an addressee's running deadline deserves today, as plain rules.

On the working-day calendar:

- *due soon*: from ``due_soon_working_days`` working days before the due day until the due
  day itself — privately to the addressee (its handler, once one is assigned);
- *overdue*: once at least one working day has passed after the due day — to the committee
  group and to the addressee (its handler, once one is assigned);
- *escalation* (督办): again every ``escalate_every_working_days`` working days while still
  overdue — to the group and to everyone of the addressee.

Each alert has a key, so it is queued once per threshold however often the scan runs; alerts
stop as soon as the addressee moves on, and while the clock is paused (a request for more
information) the deadline does not run at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.domain.committee import Schedule
from bot.domain.workdays import WorkingCalendar


@dataclass(frozen=True, slots=True)
class Alert:
    key: str  # unique per matter, addressee, round, stage and threshold (not per recipient)
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
