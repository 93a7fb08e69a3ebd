"""Deadline alerts: which warnings a matter deserves today, as plain rules.

A matter waiting to be acknowledged is measured against ``ack_due``; an acknowledged one
against ``reply_due``. On the working-day calendar:

- *due soon*: from ``due_soon_working_days`` working days before the due day until the due
  day itself — privately to the responsible court's staff;
- *overdue*: once at least one working day has passed after the due day — to the committee
  group and to the responsible staff;
- *escalation*: again every ``escalate_every_working_days`` working days while still overdue.

Each alert has a key, so it is queued once per threshold however often the scan runs; alerts
stop as soon as the matter moves on (acknowledged, returned, resolved).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.domain.committee import Schedule
from bot.domain.models import Status
from bot.domain.workdays import WorkingCalendar

STAGE_FOR_STATUS: dict[Status, str] = {Status.SUBMITTED: "ack", Status.ACKNOWLEDGED: "reply"}


@dataclass(frozen=True, slots=True)
class Alert:
    key: str  # unique per matter, stage and threshold (not per recipient)
    level: str  # "due_soon" | "overdue" | "escalation"
    stage: str  # "ack" | "reply"
    due: date
    late: int  # working days past the due day
    to_group: bool


def alert_for(
    case_id: int,
    status: Status,
    due: date | None,
    today: date,
    calendar: WorkingCalendar,
    schedule: Schedule,
) -> Alert | None:
    """The one alert a matter deserves today, if any."""
    stage = STAGE_FOR_STATUS.get(status)
    if stage is None or due is None:
        return None
    base = f"case:{case_id}:{stage}"
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


def still_relevant(stage: str, status: Status) -> bool:
    """An alert queued for a stage is only worth sending while the matter is still in it."""
    return STAGE_FOR_STATUS.get(status) == stage


def soonest_due_to_scan(today: date, calendar: WorkingCalendar, schedule: Schedule) -> date:
    """Matters due on or before this date may need an alert today (the scan's filter)."""
    return calendar.add_working_days(today, max(schedule.due_soon_working_days, 0))
