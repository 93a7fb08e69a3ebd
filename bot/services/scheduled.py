"""What the bot does on its own: deadline alerts, the weekly digest, calendar warnings."""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import alerts, lifecycle
from bot.services.base import ServiceBase
from bot.storage import schema as t
from bot.storage.outbox import enqueue

logger = logging.getLogger(__name__)

DIGEST_SINCE = "digest_since"
KEY_CHUNK = 900  # keys per lookup: under SQLite's oldest limit of 999 variables a statement

_KNOWN_KEYS = select(t.outbox.c.key).where(t.outbox.c.key.in_(bindparam("keys", expanding=True)))


def _hours_between(
    later: ColumnElement[datetime], earlier: ColumnElement[datetime], dialect: str
) -> ColumnElement[Any]:
    """``later - earlier`` in hours, as the database computes it (both columns UTC)."""
    if dialect == "sqlite":  # stored as ISO text: julianday() reads it as UTC days
        return (func.julianday(later) - func.julianday(earlier)) * 24.0
    return func.extract("epoch", later - earlier) / 3600.0


async def _insert_deadline_alerts(
    conn: AsyncConnection, alerts_: list[tuple[str, int, dict[str, Any]]], now: datetime
) -> int:
    """Queue many deadline alerts at once; returns how many rows were new.

    The statement is SQLAlchemy's own INSERT ... ON CONFLICT DO NOTHING, compiled once for
    the connection's dialect; the values go through each column type's bind processor once
    per distinct value (one moment, one payload per addressee shared by its recipients) and
    then straight to the driver's ``executemany``. Through the usual path every row of a
    first scan at scale (tens of thousands) would pay for its parameters being built and
    processed one by one, most of the scan's time."""
    dialect = conn.dialect
    insert = (postgresql if dialect.name == "postgresql" else sqlite).insert
    columns = [
        t.outbox.c.key,
        t.outbox.c.chat_id,
        t.outbox.c.kind,
        t.outbox.c.payload,
        t.outbox.c.status,
        t.outbox.c.attempts,
        t.outbox.c.uncertain,
        t.outbox.c.next_attempt_at,
        t.outbox.c.created_at,
    ]
    compiled = (
        insert(t.outbox)
        .inline()  # no RETURNING of the new ids: nothing reads them
        .on_conflict_do_nothing(index_elements=[t.outbox.c.key])
        .compile(dialect=dialect, column_keys=[c.key for c in columns])
    )

    def bound(column: Any, value: Any) -> Any:
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        return process(value) if process is not None else value

    moment = bound(t.outbox.c.created_at, now)
    to_payload = t.outbox.c.payload.type.dialect_impl(dialect).bind_processor(dialect)
    payloads: dict[int, Any] = {}  # by identity: one payload is shared by its recipients
    fixed = {
        "kind": "deadline",
        "status": "pending",
        "attempts": 0,
        "uncertain": 0,
        "next_attempt_at": moment,
        "created_at": moment,
    }
    names = list(compiled.positiontup or []) if compiled.positional else list(compiled.params)
    slot = {name: i for i, name in enumerate(names)}
    template: list[Any] = [fixed.get(name) for name in names]
    at_key, at_chat, at_payload = slot["key"], slot["chat_id"], slot["payload"]
    params: list[Any] = []
    for key, chat_id, payload in alerts_:
        stored = payloads.get(id(payload))
        if stored is None:
            stored = payloads[id(payload)] = (
                to_payload(payload) if to_payload is not None else payload
            )
        row = template.copy()
        row[at_key], row[at_chat], row[at_payload] = key, chat_id, stored
        params.append(tuple(row) if compiled.positional else dict(zip(names, row, strict=True)))
    result = await conn.exec_driver_sql(compiled.string, params)
    return max(int(result.rowcount or 0), 0)


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
        """Queue today's due-soon, overdue and escalation alerts; returns how many were new.

        At a million matters a first scan finds thousands of running deadlines and queues
        tens of thousands of messages: the deadlines come from one covering index
        (``ix_assignments_due_stage``), the per-row work is cached by what it depends on, and
        the new rows go to the database in one lean ``executemany``."""
        schedule = self.committee.schedule
        today = self.today()
        horizon = alerts.soonest_due_to_scan(today, self.calendar, schedule)
        group = await self.group_chat_id()
        now = self.clock.now()
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
            # What an alert depends on besides its matter: the deadline (stage, due day), and
            # who answers (kind, addressee). A scan meets the same few values thousands of times.
            timings: dict[tuple[str, date], alerts.Alert | None] = {}
            answering_of: dict[tuple[str, str], list[int]] = {}
            several = {kind.code: kind.several_addressees for kind in self.kinds}
            new: list[tuple[str, int, dict[str, Any]]] = []  # (key, chat, payload)
            for assignment_id, case_id, addressee, stage, due, round_, handler, code in rows:
                kind = self.kinds.get(code)
                if kind is None or stage is None:
                    continue
                when = (stage, due)
                if when not in timings:
                    timings[when] = alerts.alert_for("", stage, due, today, self.calendar, schedule)
                timing = timings[when]
                if timing is None:
                    continue
                base = alerts.alert_key(
                    case_id, assignment_id if several[code] else None, round_, stage
                )
                key = base + timing.key  # the thresholds' suffix, e.g. ":overdue"
                payload = {
                    "case_id": case_id,
                    "assignment_id": assignment_id,
                    "level": timing.level,
                    "stage": timing.stage,
                    "round": round_,
                    "due": timing.due.isoformat(),
                    "late": timing.late,
                }
                who = (code, addressee)
                answering = answering_of.get(who)
                if answering is None:
                    answering = answering_of[who] = [
                        uid
                        for org in sorted(self.committee.orgs_answering(addressee))
                        for role in sorted(r.value for r in kind.answered_by)
                        for uid in staff.get((org, role), [])
                    ]
                # The handler alone, while still one of them; everyone from 督办 on.
                if handler in answering and not timing.whole_organisation:
                    new.append((f"{key}:{handler}", handler, payload))
                else:
                    for chat_id in answering:
                        new.append((f"{key}:{chat_id}", chat_id, payload))
                if timing.to_group and group is not None:
                    new.append((f"{key}:{group}", group, payload))
            # Every tick finds mostly alerts queued before: leave those out instead of sending
            # each again into ON CONFLICT DO NOTHING.
            known: set[str] = set()
            keys = [key for key, _, _ in new]
            for i in range(0, len(keys), KEY_CHUNK):
                found = await conn.execute(_KNOWN_KEYS, {"keys": keys[i : i + KEY_CHUNK]})
                known.update(found.scalars())
            fresh = [item for item in new if item[0] not in known]
            if not fresh:
                return 0
            return await _insert_deadline_alerts(conn, fresh, now)

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
        async with self.db.read(scan=True) as conn:
            raised = (
                await conn.execute(
                    select(t.cases.c.number, t.cases.c.title, t.cases.c.raiser_org)
                    .where(t.cases.c.created_at >= start, t.cases.c.created_at < end)
                    # In the order of ix_cases_created_number, which holds all three: no sort,
                    # and no matter's row (with its whole form) read.
                    .order_by(t.cases.c.created_at, t.cases.c.number)
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
            # Hours to acknowledge, computed by the database: a week at scale is some ten
            # thousand answers, and two timestamps each made into Python datetimes cost more
            # than the query itself.
            waited = _hours_between(t.events.c.at, t.cases.c.created_at, conn.dialect.name)
            acks = (
                await conn.execute(
                    select(t.assignments.c.addressee, waited)
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
        lateness: dict[date, int] = {}
        for addressee, due in open_rows:
            late = lateness.get(due)
            if late is None:
                late = lateness[due] = self.calendar.working_days_between(due, today)
            if late >= 1:
                overdue.setdefault(addressee, []).append(late)
        waits: dict[str, list[float]] = {}
        for addressee, hours in acks:
            waits.setdefault(addressee, []).append(float(hours))
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
