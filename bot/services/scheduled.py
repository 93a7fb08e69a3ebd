"""What the bot does on its own: deadline alerts, the weekly digest, calendar warnings."""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import alerts, lifecycle
from bot.services.base import ServiceBase
from bot.storage import schema as t
from bot.storage.outbox import enqueue

logger = logging.getLogger(__name__)

DIGEST_SINCE = "digest_since"


@dataclass(frozen=True, slots=True)
class Digest:
    """The weekly summary's figures (organisations by code; times in hours)."""

    start: datetime
    end: datetime
    raised: list[tuple[str, str, str]]
    acknowledged: int
    returned: int
    resolved: int
    overdue: list[tuple[str, int, int]]  # (addressee, matters, most working days late)
    median_ack_hours: list[tuple[str, float]]
    meetings: list[tuple[str, datetime]]


class Scheduled(ServiceBase):
    async def _staff_by_org(self, conn: AsyncConnection) -> dict[tuple[str, str], list[int]]:
        """(organisation, role) → its active members, for every role that answers a kind."""
        roles = sorted({r.value for kind in self.kinds for r in kind.answered_by})
        rows = await conn.execute(
            select(t.members.c.org_code, t.members.c.role, t.members.c.user_id)
            .where(t.members.c.role.in_(roles), t.members.c.revoked_at.is_(None))
            .order_by(t.members.c.id)
        )
        staff: dict[tuple[str, str], list[int]] = {}
        for org, role, user_id in rows:
            staff.setdefault((org, role), []).append(user_id)
        return staff

    async def scan_deadlines(self) -> int:
        """Queue today's due-soon, overdue and escalation alerts; returns how many were new."""
        schedule = self.committee.schedule
        today = self.today()
        horizon = alerts.soonest_due_to_scan(today, self.calendar, schedule)
        group = await self.group_chat_id()
        now = self.clock.now()
        queued = 0
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    select(
                        t.assignments.c.id,
                        t.assignments.c.case_id,
                        t.assignments.c.addressee,
                        t.assignments.c.stage,
                        t.assignments.c.due,
                        t.assignments.c.round,
                        t.assignments.c.handler_user_id,
                        t.cases.c.kind,
                    )
                    .select_from(
                        t.assignments.join(t.cases, t.cases.c.id == t.assignments.c.case_id)
                    )
                    .where(t.assignments.c.due <= horizon)
                )
            ).all()
            if not rows:
                return 0
            staff = await self._staff_by_org(conn)
            values: list[dict[str, Any]] = []
            for row in rows:
                kind = self.kinds.get(row.kind)
                if kind is None or row.stage is None:
                    continue
                base = alerts.alert_key(
                    row.case_id, row.id if kind.several_addressees else None, row.round, row.stage
                )
                alert = alerts.alert_for(base, row.stage, row.due, today, self.calendar, schedule)
                if alert is None:
                    continue
                payload = {
                    "case_id": row.case_id,
                    "assignment_id": row.id,
                    "level": alert.level,
                    "stage": alert.stage,
                    "round": row.round,
                    "due": alert.due.isoformat(),
                    "late": alert.late,
                }
                answering = [
                    uid
                    for org in sorted(self.committee.orgs_answering(row.addressee))
                    for role in sorted(r.value for r in kind.answered_by)
                    for uid in staff.get((org, role), [])
                ]
                # The handler alone, while still one of them; everyone from 督办 on.
                if row.handler_user_id in answering and not alert.whole_organisation:
                    recipients = [row.handler_user_id]
                else:
                    recipients = answering
                if alert.to_group and group is not None:
                    recipients.append(group)
                for chat_id in recipients:
                    values.append(
                        {
                            "key": f"{alert.key}:{chat_id}",
                            "chat_id": chat_id,
                            "kind": "deadline",
                            "payload": payload,
                        }
                    )
            if values:
                # Every tick finds mostly alerts queued before: leave those out instead of
                # sending each again into ON CONFLICT DO NOTHING.
                keys = [v["key"] for v in values]
                known: set[str] = set()
                for i in range(0, len(keys), 500):
                    known.update(
                        (
                            await conn.execute(
                                select(t.outbox.c.key).where(t.outbox.c.key.in_(keys[i : i + 500]))
                            )
                        ).scalars()
                    )
                values = [v for v in values if v["key"] not in known]
            if values:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                stmt = dialect.insert(t.outbox).on_conflict_do_nothing(
                    index_elements=[t.outbox.c.key]
                )
                result = await conn.execute(
                    stmt,
                    [
                        {
                            **v,
                            "status": "pending",
                            "attempts": 0,
                            "uncertain": 0,
                            "next_attempt_at": now,
                            "created_at": now,
                        }
                        for v in values
                    ],
                )
                queued = max(int(result.rowcount or 0), 0)
        return queued

    def digest_moment(self, now: datetime | None = None) -> datetime:
        """The most recent scheduled digest time (local), at or before ``now``."""
        schedule = self.committee.schedule
        local = (now or self.clock.now()).astimezone(self.tz)
        monday = local.date() - timedelta(days=local.weekday())
        moment = datetime.combine(
            monday + timedelta(days=schedule.digest_weekday - 1), schedule.digest_time, self.tz
        )
        if moment > local:
            moment -= timedelta(days=7)
        return moment

    async def ensure_digest(self) -> bool:
        """Queue this week's digest for the group once its time has come (even if the bot
        was down at that moment); True if it was queued now."""
        group = await self.group_chat_id()
        if group is None:
            return False
        moment = self.digest_moment()
        now = self.clock.now()
        async with self.db.write() as conn:
            # Digests are due from the first time the bot ran its schedule on: a new
            # installation does not post last week's digest at once.
            since_raw = (
                await conn.execute(
                    select(t.settings.c.value).where(t.settings.c.key == DIGEST_SINCE)
                )
            ).scalar_one_or_none()
            if since_raw is None:
                await conn.execute(
                    t.settings.insert().values(key=DIGEST_SINCE, value=now.isoformat())
                )
                since = now
            else:
                since = datetime.fromisoformat(since_raw)
            if moment < since:
                return False
            return await enqueue(
                conn,
                self.clock.now(),
                f"digest:{moment.date().isoformat()}",
                group,
                "digest",
                {"start": (moment - timedelta(days=7)).isoformat(), "end": moment.isoformat()},
            )

    async def digest(self, start: datetime, end: datetime) -> Digest:
        """What happened between ``start`` and ``end``, and what is overdue now."""
        today = self.today()
        async with self.db.read() as conn:
            raised = (
                await conn.execute(
                    select(t.cases.c.number, t.cases.c.title, t.cases.c.raiser_org)
                    .where(t.cases.c.created_at >= start, t.cases.c.created_at < end)
                    .order_by(t.cases.c.id)
                )
            ).all()
            actions: dict[str, int] = dict(
                (
                    await conn.execute(
                        select(t.events.c.action, func.count())
                        .where(
                            t.events.c.action.in_(["acknowledge", "return", "resolve"]),
                            t.events.c.at >= start,
                            t.events.c.at < end,
                        )
                        .group_by(t.events.c.action)
                    )
                ).all()
            )
            # An event names its addressee, or (one addressee) concerns the matter's first.
            addressed = or_(
                t.assignments.c.id == t.events.c.assignment_id,
                and_(
                    t.events.c.assignment_id.is_(None),
                    t.assignments.c.case_id == t.events.c.case_id,
                    t.assignments.c.position == 1,
                ),
            )
            acks = (
                await conn.execute(
                    select(t.assignments.c.addressee, t.events.c.at, t.cases.c.created_at)
                    .select_from(
                        t.events.join(t.cases, t.cases.c.id == t.events.c.case_id).join(
                            t.assignments, addressed
                        )
                    )
                    .where(
                        t.events.c.action == "acknowledge",
                        t.events.c.at >= start,
                        t.events.c.at < end,
                    )
                )
            ).all()
            open_rows = (
                await conn.execute(
                    select(t.assignments.c.addressee, t.assignments.c.due).where(
                        t.assignments.c.due <= today - timedelta(days=1)
                    )
                )
            ).all()
            meetings = (
                await conn.execute(
                    select(t.meetings.c.title, t.meetings.c.starts_at)
                    .where(
                        t.meetings.c.status == "scheduled",
                        t.meetings.c.starts_at >= self.clock.now(),
                        t.meetings.c.starts_at < self.clock.now() + timedelta(days=7),
                    )
                    .order_by(t.meetings.c.starts_at)
                )
            ).all()
        overdue: dict[str, list[int]] = {}
        for row in open_rows:
            late = self.calendar.working_days_between(row.due, today)
            if late >= 1:
                overdue.setdefault(row.addressee, []).append(late)
        waits: dict[str, list[float]] = {}
        for ack in acks:
            hours = (ack.at - ack.created_at).total_seconds() / 3600
            waits.setdefault(ack.addressee, []).append(hours)
        return Digest(
            start=start,
            end=end,
            raised=[(r.number, r.title, r.raiser_org) for r in raised],
            acknowledged=actions.get("acknowledge", 0),
            returned=actions.get("return", 0),
            resolved=actions.get("resolve", 0),
            overdue=sorted(
                ((org, len(lates), max(lates)) for org, lates in overdue.items()),
                key=lambda item: (-item[1], item[0]),
            ),
            median_ack_hours=sorted((org, statistics.median(h)) for org, h in waits.items()),
            meetings=[(m.title, m.starts_at) for m in meetings],
        )

    async def ensure_calendar_warnings(self) -> int:
        """Tell the office once per gap when coming deadlines rest on estimated or missing
        holiday data (the official schedule for a year appears each November)."""
        gaps = self.calendar.coverage_warnings(self.today())
        if not gaps:
            return 0
        now = self.clock.now()
        queued = 0
        async with self.db.write() as conn:
            office = await self._office_ids(conn)
            for gap in gaps:
                payload = {
                    "year": gap.year,
                    "source": gap.source,
                    "first": gap.first.isoformat(),
                    "last": gap.last.isoformat(),
                }
                for user_id in office:
                    key = f"calendar:{gap.year}:{gap.source}:{user_id}"
                    queued += await enqueue(conn, now, key, user_id, "calendar_gap", payload)
        return queued

    async def ensure_kind_reminders(self) -> int:
        """Queue the reminders kinds declare before a field's moment (a hearing); returns how
        many messages were new. Each goes once per matter, addressee and offset."""
        kinds = {k.code: k for k in self.kinds if k.reminders}
        if not kinds:
            return 0
        now = self.clock.now()
        queued = 0
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    select(
                        t.cases.c.id,
                        t.cases.c.kind,
                        t.cases.c.fields,
                        t.assignments.c.id.label("assignment_id"),
                        t.assignments.c.addressee,
                        t.assignments.c.state,
                        t.assignments.c.handler_user_id,
                    )
                    .select_from(
                        t.cases.join(t.assignments, t.assignments.c.case_id == t.cases.c.id)
                    )
                    .where(
                        t.cases.c.kind.in_(sorted(kinds)),
                        t.cases.c.status.in_(sorted(self.kinds.open_states)),
                    )
                )
            ).all()
            for row in rows:
                kind = kinds[row.kind]
                for reminder in kind.reminders:
                    if row.state not in reminder.states:
                        continue
                    moment = lifecycle.moment_of(row.fields.get(reminder.field), self.tz)
                    days = (
                        None
                        if moment is None
                        else lifecycle.reminder_due(reminder.days_before, moment, now)
                    )
                    if days is None:
                        continue
                    chats = await self._members_answering(conn, kind, row.addressee)
                    if row.handler_user_id in chats:
                        chats = [row.handler_user_id]
                    payload = {
                        "case_id": row.id,
                        "assignment_id": row.assignment_id,
                        "field": reminder.field,
                        "days": days,
                    }
                    key = f"case:{row.id}:a{row.assignment_id}:remind:{reminder.field}:{days}"
                    for chat in chats:
                        queued += await enqueue(
                            conn, now, f"{key}:{chat}", chat, "case_reminder", payload
                        )
        return queued
