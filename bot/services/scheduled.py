"""What the bot does on its own: deadline summaries and 督办, the weekly digest, calendar
warnings."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import alerts, lifecycle
from bot.domain.kinds import KindSpec, Side
from bot.services.base import ServiceBase
from bot.storage import schema as t
from bot.storage.outbox import enqueue

logger = logging.getLogger(__name__)

DIGEST_SINCE = "digest_since"
# When the periodic work last ran to its end (UTC, ISO 8601), read by ``python -m bot.health``.
LAST_TICK = "last_tick"
# The last local day whose morning summaries were queued, and the last whose 督办 rounds were.
SUMMARY_DAY = "deadline_summary_day"
ESCALATED_THROUGH = "escalations_through"
# The matters a digest lists (the rest it counts): a week at scale raises some fifteen
# thousand, and a group message lists a screenful.
DIGEST_RAISED_LISTED = 15
DIGEST_OVERDUE_LISTED = 20


def _hours_between(
    later: ColumnElement[datetime], earlier: ColumnElement[datetime], dialect: str
) -> ColumnElement[Any]:
    """``later - earlier`` in hours, as the database computes it (both columns UTC)."""
    if dialect == "sqlite":  # stored as ISO text: julianday() reads it as UTC days
        return (func.julianday(later) - func.julianday(earlier)) * 24.0
    return func.extract("epoch", later - earlier) / 3600.0


async def _set_marker(conn: AsyncConnection, key: str, value: str) -> None:
    """Record in ``settings`` (inside the caller's transaction) how far a day's work got."""
    updated = await conn.execute(
        t.settings.update().where(t.settings.c.key == key).values(value=value)
    )
    if not updated.rowcount:
        await conn.execute(t.settings.insert().values(key=key, value=value))


async def _scan_markers(conn: AsyncConnection) -> dict[str, str]:
    """The overdue scan's markers: the day summarised last, and escalated through."""
    rows = await conn.execute(
        select(t.settings.c.key, t.settings.c.value).where(
            t.settings.c.key.in_([SUMMARY_DAY, ESCALATED_THROUGH])
        )
    )
    return {key: value for key, value in rows.all()}


async def _new_keys(conn: AsyncConnection, keys: list[str]) -> bool:
    """Whether any of these outbox keys is not queued yet (checked in pages of 500)."""
    wanted = set(keys)
    for i in range(0, len(keys), 500):
        page = keys[i : i + 500]
        found = await conn.execute(select(t.outbox.c.key).where(t.outbox.c.key.in_(page)))
        wanted -= set(found.scalars())
    return bool(wanted)


async def _insert_outbox_rows(
    conn: AsyncConnection,
    alerts_: list[tuple[str, int, dict[str, Any]]],
    kind: str,
    not_before: datetime,
    now: datetime,
) -> int:
    """Queue many rows of one kind, none to go before ``not_before``, at once; returns how
    many rows were new.

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

    if not alerts_:
        return 0
    # Its age bounds its retries (``bot.services.delivery``): it counts from when the row may
    # first go, not from a night it spent waiting.
    moment = bound(t.outbox.c.created_at, max(now, not_before))
    to_payload = t.outbox.c.payload.type.dialect_impl(dialect).bind_processor(dialect)
    payloads: dict[int, Any] = {}  # by identity: one payload is shared by its recipients
    fixed = {
        "kind": kind,
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


def _listed_through(per_due: list[tuple[date, int, int]], listed: int) -> date | None:
    """The last due day whose matters the digest may list, from (due day, matters, working
    days late) in due order: lateness only falls with a later due day, so the ``listed``
    latest matters, ties on lateness included, are those due by then (None: none late)."""
    through: date | None = None
    taken, last_late = 0, 0
    for due, n, late in per_due:
        if late < 1 or (taken >= listed and late != last_late):
            break
        through, taken, last_late = due, taken + n, late
    return through


@dataclass(frozen=True, slots=True)
class OverdueMatter:
    """A matter late for an addressee, as the digest lists it (organisations by code)."""

    number: str
    title: str
    kind: str
    acting: str  # the organisation that must act (a center's court, where there is one)
    late: int  # working days past the due day


@dataclass(frozen=True, slots=True)
class Digest:
    """The weekly summary's figures (organisations by code; times in hours)."""

    start: datetime
    end: datetime
    raised: list[tuple[str, str, str]]  # the first DIGEST_RAISED_LISTED, in the order raised
    raised_count: int
    acknowledged: int
    returned: int
    resolved: int
    overdue: list[OverdueMatter]  # the DIGEST_OVERDUE_LISTED latest, latest first
    overdue_count: int
    median_ack_hours: list[tuple[str, float]]
    meetings: list[tuple[str, datetime]]

    @property
    def last_day(self) -> datetime:
        """The last day the digest covers (``end`` is the midnight after it)."""
        return self.end - timedelta(days=1)

    @property
    def empty(self) -> bool:
        """Nothing to report: no matter raised or answered this week, none overdue now and
        no joint meeting coming. Such a week's digest is not posted."""
        return not (
            self.raised_count
            or self.acknowledged
            or self.returned
            or self.resolved
            or self.overdue_count
            or self.meetings
        )


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
        """Queue today's morning summaries and 督办 escalations; returns how many were new.

        A threshold crossed (due soon, overdue) is never a message of its own: each working
        day at ``summary_time`` every person who must act gets one summary listing all their
        matters that are due soon or late, and the group one of those overdue (as the group
        may see them). 督办 rounds that began since the last scan go out as one message per
        recipient, held until office hours by the row's not-before time. Markers in
        ``settings``, written with the rows, make each day's work happen once however often
        the scan runs and whatever restarts in between.

        At a million matters the deadlines come from one covering index
        (``ix_assignments_due_case``), the per-row work is cached by what it depends on, and
        the new rows go to the database in one lean ``executemany``."""
        schedule = self.committee.schedule
        now = self.clock.now()
        local = now.astimezone(self.tz)
        today = local.date()
        summarise = alerts.summary_due(local, self.calendar, schedule)
        horizon = alerts.soonest_due_to_scan(today, self.calendar, schedule)
        # Nearly every tick finds today's work done: a read says so, and nothing is written.
        async with self.db.read() as conn:
            done = await _scan_markers(conn)
        if (not summarise or done.get(SUMMARY_DAY) == today.isoformat()) and done.get(
            ESCALATED_THROUGH
        ) == today.isoformat():
            return 0
        async with self.db.write() as conn:
            markers = await _scan_markers(conn)
            summarise = summarise and markers.get(SUMMARY_DAY) != today.isoformat()
            through_raw = markers.get(ESCALATED_THROUGH)
            escalate = through_raw != today.isoformat()
            if not summarise and not escalate:
                return 0
            # The first scan ever announces only the rounds beginning today.
            through = date.fromisoformat(through_raw) if through_raw else today - timedelta(days=1)
            group = await self.group_chat_id()
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
                    .order_by(t.assignments.c.due, t.assignments.c.case_id, t.assignments.c.id)
                )
            ).all()
            staff = await self._staff_by_org(conn) if rows else {}
            # A deadline that ends with a moment (naming who appears at a hearing) is moot
            # once it has passed: those matters' fields, for the few such rows.
            ending = {k.code for k in self.kinds if any(d.until_field for d in k.deadlines)}
            fields_of = await self._fields(conn, {r.case_id for r in rows if r.kind in ending})
            # What an alert depends on besides its matter: the deadline (stage, due day), and
            # who answers (kind, addressee). A scan meets the same few values thousands of times.
            timings: dict[tuple[str, date], alerts.Alert | None] = {}
            began_of: dict[tuple[str, date], date | None] = {}
            answering_of: dict[tuple[str, str], list[int]] = {}
            several = {kind.code: kind.several_addressees for kind in self.kinds}
            summaries: dict[int, list[dict[str, Any]]] = {}  # chat → its items
            escalations: dict[int, list[dict[str, Any]]] = {}
            for assignment_id, case_id, addressee, stage, due, round_, handler, code in rows:
                kind = self.kinds.get(code)
                if kind is None or stage is None:
                    continue
                if case_id in fields_of and lifecycle.moot(
                    kind, stage, fields_of[case_id], now, self.tz
                ):
                    continue
                when = (stage, due)
                if when not in timings:
                    found = alerts.alert_for("", stage, due, today, self.calendar, schedule)
                    timings[when] = found
                    began_of[when] = (
                        None
                        if found is None
                        else alerts.escalation_began(due, found.late, self.calendar, schedule)
                    )
                timing = timings[when]
                if timing is None:
                    continue
                base = alerts.alert_key(
                    case_id, assignment_id if several[code] else None, round_, stage
                )
                item = {
                    "key": base + timing.key,  # e.g. "case:12:ack:overdue", for the log
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
                    chats = [handler]
                else:
                    chats = list(answering)
                if timing.to_group and group is not None:
                    chats.append(group)
                if summarise:
                    for chat in chats:
                        summaries.setdefault(chat, []).append(item)
                began = began_of[when]
                if escalate and began is not None and through < began <= today:
                    for chat in chats:
                        escalations.setdefault(chat, []).append(item)
            if summarise:
                for chat, item in await self._asks(conn, now):
                    summaries.setdefault(chat, []).append(item)
            queued = 0
            day = today.isoformat()
            if summarise:
                queued += await _insert_outbox_rows(
                    conn,
                    [
                        (f"summary:{day}:{chat}", chat, {"day": day, "items": items})
                        for chat, items in summaries.items()
                    ],
                    "deadline_summary",
                    now,
                    now,
                )
                await _set_marker(conn, SUMMARY_DAY, day)
            if escalate:
                queued += await _insert_outbox_rows(
                    conn,
                    [
                        (f"escalation:{day}:{chat}", chat, {"day": day, "items": items})
                        for chat, items in escalations.items()
                    ],
                    "escalation",
                    alerts.office_moment(local, self.calendar, schedule),
                    now,
                )
                await _set_marker(conn, ESCALATED_THROUGH, day)
            return queued

    async def _fields(self, conn: AsyncConnection, case_ids: set[int]) -> dict[int, Any]:
        if not case_ids:
            return {}
        found = await conn.execute(
            select(t.cases.c.id, t.cases.c.fields).where(t.cases.c.id.in_(sorted(case_ids)))
        )
        return {case_id: fields or {} for case_id, fields in found}

    async def _asks(self, conn: AsyncConnection, now: datetime) -> list[tuple[int, dict[str, Any]]]:
        """The morning summary's asks to a raiser for a step whose moment has come (record
        who appeared once the hearing has begun), as (chat, item): to the raising
        organisation's members who may take it, for each addressee still waiting for it."""
        asking = {
            k.code: [a for a in k.actions if a.ask and a.after_field and a.by is Side.RAISER]
            for k in self.kinds
        }
        asking = {code: actions for code, actions in asking.items() if actions}
        if not asking:
            return []
        rows = (
            await conn.execute(
                select(
                    t.cases.c.id,
                    t.cases.c.kind,
                    t.cases.c.fields,
                    t.cases.c.raiser_org,
                    t.assignments.c.id.label("assignment_id"),
                    t.assignments.c.state,
                    t.assignments.c.round,
                )
                .select_from(t.cases.join(t.assignments, t.assignments.c.case_id == t.cases.c.id))
                .where(
                    t.cases.c.kind.in_(sorted(asking)),
                    t.cases.c.status.in_(sorted(self.kinds.open_states)),
                )
                .order_by(t.cases.c.id, t.assignments.c.id)
            )
        ).all()
        found: list[tuple[int, dict[str, Any]]] = []
        raisers: dict[tuple[str, str], list[int]] = {}
        for row in rows:
            kind = self.kinds[row.kind]
            for action in asking[row.kind]:
                assert action.after_field is not None
                moment = lifecycle.moment_of((row.fields or {}).get(action.after_field), self.tz)
                if row.state not in action.from_states or moment is None or now < moment:
                    continue
                who = (row.kind, row.raiser_org)
                if who not in raisers:
                    members = await conn.execute(
                        select(t.members.c.user_id)
                        .where(
                            t.members.c.org_code == row.raiser_org,
                            t.members.c.role.in_(sorted(r.value for r in kind.raised_by)),
                            t.members.c.revoked_at.is_(None),
                        )
                        .order_by(t.members.c.id)
                    )
                    raisers[who] = list(members.scalars())
                item = {
                    "key": f"case:{row.id}:a{row.assignment_id}:{action.code}:ask",
                    "case_id": row.id,
                    "assignment_id": row.assignment_id,
                    "level": "ask",
                    "action": action.code,
                    "stage": None,
                    "round": row.round,
                    "due": moment.astimezone(self.tz).date().isoformat(),
                    "moment": moment.isoformat(),
                    "late": 0,
                }
                found += [(chat, item) for chat in raisers[who]]
        return found

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

    async def mark_tick(self) -> None:
        """Record that the periodic work ran to its end: a bot whose ticks stopped (hung,
        or failing every minute) is not healthy, whatever its process looks like."""
        now = self.clock.now().astimezone(UTC).isoformat()
        stmt = self._insert(t.settings).values(key=LAST_TICK, value=now)
        async with self.db.write() as conn:
            await conn.execute(
                stmt.on_conflict_do_update(index_elements=[t.settings.c.key], set_={"value": now})
            )

    async def ensure_digest(self) -> bool:
        """Queue this week's digest for the group once its time has come (even if the bot
        was down at that moment); True if it was queued now. A digest whose day is not a
        working day comes on the next working day, at the same time, and says so."""
        group = await self.group_chat_id()
        if group is None:
            return False
        moment = self.digest_moment()
        now = self.clock.now()
        schedule = self.committee.schedule
        # A day off moves it to the next working day, the quiet hours to their end.
        due = alerts.digest_moment(moment, self.calendar, schedule)
        if due > now:
            return False
        # The week it reports is the seven whole days before its day (Monday to Sunday for a
        # Monday digest): the next digest's week starts where this one's ends, no overlap.
        week_end = datetime.combine(moment.date(), time(0), self.tz)
        week_start = datetime.combine(moment.date() - timedelta(days=7), time(0), self.tz)
        key = f"digest:{moment.date().isoformat()}"
        # Queued already, or due from later on: every tick of the week after finds that in
        # a read.
        async with self.db.read() as conn:
            queued = (
                await conn.execute(select(t.outbox.c.id).where(t.outbox.c.key == key))
            ).first()
            since_raw = (
                await conn.execute(
                    select(t.settings.c.value).where(t.settings.c.key == DIGEST_SINCE)
                )
            ).scalar_one_or_none()
        if queued is not None or (
            since_raw is not None and moment < datetime.fromisoformat(since_raw)
        ):
            return False
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
                now,
                key,
                group,
                "digest",
                {
                    "start": week_start.isoformat(),
                    "end": week_end.isoformat(),
                    "due": due.isoformat(),
                },
                # Found late (after downtime) in the quiet hours: it waits for the morning.
                not_before=alerts.office_moment(now.astimezone(self.tz), self.calendar, schedule),
            )

    async def digest(self, start: datetime, end: datetime) -> Digest:
        """What happened between ``start`` and ``end``, and what is overdue now: every
        matter counted, only those the digest lists read."""
        today = self.today()
        in_week = and_(t.cases.c.created_at >= start, t.cases.c.created_at < end)
        async with self.db.read(scan=True) as conn:
            # Both from ix_cases_created_number, which holds all three columns in this order:
            # no sort, no matter's row (with its whole form) read, and only the matters
            # listed made into Python objects.
            raised_count = (
                await conn.execute(select(func.count()).select_from(t.cases).where(in_week))
            ).scalar_one()
            raised = (
                await conn.execute(
                    select(t.cases.c.number, t.cases.c.title, t.cases.c.raiser_org)
                    .where(in_week)
                    .order_by(t.cases.c.created_at, t.cases.c.number)
                    .limit(DIGEST_RAISED_LISTED)
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
            # Overdue: first how many are due on each past day (from ix_assignments_due_case
            # alone), then the matters of the latest days only, enough to list.
            per_due = (
                await conn.execute(
                    select(t.assignments.c.due, func.count())
                    .where(t.assignments.c.due <= today - timedelta(days=1))
                    .group_by(t.assignments.c.due)
                )
            ).all()
            counts: list[tuple[date, int]] = sorted((due, n) for due, n in per_due)
            lateness = self._lateness([due for due, _ in counts], today)
            overdue_count = sum(n for due, n in counts if lateness[due] >= 1)
            through = _listed_through(
                [(due, n, lateness[due]) for due, n in counts], DIGEST_OVERDUE_LISTED
            )
            open_rows = (
                []
                if through is None
                else (
                    await conn.execute(
                        select(
                            t.assignments.c.addressee,
                            t.assignments.c.due,
                            t.cases.c.number,
                            t.cases.c.title,
                            t.cases.c.kind,
                        )
                        .select_from(
                            t.assignments.join(t.cases, t.cases.c.id == t.assignments.c.case_id)
                        )
                        .where(t.assignments.c.due <= through)
                    )
                ).all()
            )
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
        overdue: list[OverdueMatter] = []
        for addressee, due, number, title, kind in open_rows:
            late = lateness[due]
            if late >= 1:
                acting = self.committee.acting_org(addressee)
                overdue.append(OverdueMatter(number, title, kind, acting, late))
        overdue.sort(key=lambda m: (-m.late, m.number, m.acting))
        waits: dict[str, list[float]] = {}
        for addressee, hours in acks:
            waits.setdefault(addressee, []).append(float(hours))
        return Digest(
            start=start,
            end=end,
            raised=[(number, title, org) for number, title, org in raised],
            raised_count=raised_count,
            acknowledged=actions.get("acknowledge", 0),
            returned=actions.get("return", 0),
            resolved=actions.get("resolve", 0),
            overdue=overdue[:DIGEST_OVERDUE_LISTED],
            overdue_count=overdue_count,
            median_ack_hours=sorted((org, statistics.median(h)) for org, h in waits.items()),
            meetings=[(m.title, m.starts_at) for m in meetings],
        )

    def _lateness(self, dues: list[date], today: date) -> dict[date, int]:
        """Working days past each due day (ascending) by ``today``, counted once over the
        span: the latest due day first, each earlier one adding the days between."""
        late: dict[date, int] = {}
        later, count = today, 0
        for due in reversed(dues):
            count += self.calendar.working_days_between(due, later)
            late[due] = count
            later = due
        return late

    async def ensure_calendar_warnings(self) -> int:
        """Tell the office once per gap when coming deadlines rest on estimated or missing
        holiday data (the official schedule for a year appears each November)."""
        gaps = self.calendar.coverage_warnings(self.today())
        if not gaps:
            return 0
        now = self.clock.now()
        queued = 0
        async with self.db.read() as conn:  # told already (every tick until the data is in)
            office = await self._office_ids(conn)
            keys = [f"calendar:{g.year}:{g.source}:{u}" for g in gaps for u in office]
            if not await _new_keys(conn, keys):
                return 0
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
        async with self.db.read() as conn:  # queued already (every tick of that day)
            due = await self._kind_reminders_due(conn, kinds, now)
            if not await _new_keys(conn, [key for key, _, _ in due]):
                return 0
        queued = 0
        async with self.db.write() as conn:
            for key, chat, payload in await self._kind_reminders_due(conn, kinds, now):
                queued += await enqueue(conn, now, key, chat, "case_reminder", payload)
        return queued

    async def _kind_reminders_due(
        self, conn: AsyncConnection, kinds: dict[str, KindSpec], now: datetime
    ) -> list[tuple[str, int, dict[str, Any]]]:
        """The kind reminders due now: (outbox key, chat, payload)."""
        due: list[tuple[str, int, dict[str, Any]]] = []
        for row in await self._kind_reminder_rows(conn, kinds):
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
                due += [(f"{key}:{chat}", chat, payload) for chat in chats]
        return due

    async def _kind_reminder_rows(
        self, conn: AsyncConnection, kinds: dict[str, KindSpec]
    ) -> Sequence[Any]:
        """The open matters' addressees of ``kinds`` (those declaring reminders)."""
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
                .select_from(t.cases.join(t.assignments, t.assignments.c.case_id == t.cases.c.id))
                .where(
                    t.cases.c.kind.in_(sorted(kinds)),
                    t.cases.c.status.in_(sorted(self.kinds.open_states)),
                )
            )
        ).all()
        return rows

    async def kind_reminder_moments(self, after: datetime, until: datetime) -> list[datetime]:
        """When the reminders kinds declare (a hearing's) fall due in (``after``, ``until``]
        for the matters open now: a clock moved far ahead at once (the sandbox's time
        controls) stops at each, so none is skipped for a nearer offset."""
        kinds = {k.code: k for k in self.kinds if k.reminders}
        if not kinds:
            return []
        moments: set[datetime] = set()
        async with self.db.read() as conn:
            for row in await self._kind_reminder_rows(conn, kinds):
                for reminder in kinds[row.kind].reminders:
                    if row.state not in reminder.states:
                        continue
                    moment = lifecycle.moment_of(row.fields.get(reminder.field), self.tz)
                    if moment is None:
                        continue
                    moments.update(moment - timedelta(days=d) for d in reminder.days_before)
        return sorted(m for m in moments if after < m <= until)
