"""The holiday calendar kept from chat (/calendar): a year the office confirmed from the State
Council's notice is stored here and counts at once, for every deadline.

Confirming a year is one transaction: the stored year, the open matters' deadlines counted
again on the new calendar with the rules that counted them (``Cases._clock``: the same
clock start, the paused working days, the committee's deadline settings), an edit of every
delivered notice whose deadline moved, one audit event, and a note to the rest of the
office. Only once it is committed does the calendar in memory
(``WorkingCalendar.use_notice``, the one object every part of the bot asks) change.

What is counted again, and what is not:

- The calendar counted on is built inside the write transaction from every year the
  database holds then, so two confirmations at once (two years, or a year and its
  correction) each count on the other's year: the later one to commit sees the earlier.
- Only the running deadline and those after it are counted again. A deadline already
  answered (the acknowledgement of a matter now waiting for its outcome) stays the day it
  was answered against: a later calendar must not turn an answer given on time into a late
  one in the figures. An open state with no running deadline (a hearing's official named)
  has answered them all.
- The paused working days (``paused_days``) stay as counted when the clock resumed, on the
  calendar of that day. Only their number is stored, not the days, and a pause is history
  like an answer: the parties were told the resumed deadline then. A pause still running
  is counted on the new calendar when it ends.

The recount of every open deadline may go through a hundred thousand rows: the rows are read
and written in the database driver's thread (``Database.write(scan=True)``) and counted in a
worker thread, so the bot goes on answering others meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import lifecycle, rules
from bot.domain.errors import InvalidInput, NotAllowed
from bot.domain.holiday_notice import Holiday, HolidayNotice
from bot.domain.kinds import KindSpec
from bot.domain.models import Viewer
from bot.domain.workdays import WorkingCalendar, YearSchedule
from bot.services.acting import delivered_notices, refresh_row
from bot.services.cases import Cases
from bot.storage import schema as t
from bot.storage.outbox import enqueue_many

logger = logging.getLogger(__name__)

CONFIRMED = "calendar_confirmed"  # the audit event's action
CHUNK = 500  # matters per statement when looking up their notices and newest steps


def notice_hash(text: str) -> str:
    """Which pasted text a stored year was read from (SHA-256, hex)."""
    return hashlib.sha256(text.encode()).hexdigest()


def schedule_of(notice: HolidayNotice) -> YearSchedule:
    return YearSchedule(notice.year, notice.days_off, notice.workdays, official=True)


@dataclass(frozen=True, slots=True)
class StoredYear:
    """A year as the office confirmed it."""

    notice: HolidayNotice
    confirmed_by: int
    confirmer_name: str
    confirmed_at: datetime
    source_sha256: str


@dataclass(frozen=True, slots=True)
class MovedDeadline:
    """An open matter's running deadline that a confirmed calendar moved."""

    case_id: int
    number: str
    addressee: str
    stage: str
    old: date
    new: date
    assignment_id: int = 0
    kind: str = ""
    handler: int | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "number": self.number,
            "addressee": self.addressee,
            "stage": self.stage,
            "old": self.old.isoformat(),
            "new": self.new.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CalendarChange:
    year: int
    replaced: bool
    moved: tuple[MovedDeadline, ...]


def _holidays_json(notice: HolidayNotice) -> list[dict[str, Any]]:
    return [
        {
            "names": list(h.names),
            "first": h.first.isoformat(),
            "last": h.last.isoformat(),
            "extra": sorted(d.isoformat() for d in h.extra),
        }
        for h in notice.holidays
    ]


def answered(kind: KindSpec, state: str) -> frozenset[str]:
    """The deadlines of an addressee in ``state`` that are behind it: those before the one
    running, or all of them when none runs (a hearing's official named)."""
    names = [deadline.name for deadline in kind.deadlines]
    running = lifecycle.running_deadline(kind, state)
    return frozenset(names[: names.index(running)] if running in names else names)


def _notice_of(year: int, holidays: Any, workdays: Any) -> HolidayNotice:
    return HolidayNotice(
        year,
        tuple(
            Holiday(
                tuple(h["names"]),
                date.fromisoformat(h["first"]),
                date.fromisoformat(h["last"]),
                frozenset(date.fromisoformat(d) for d in h.get("extra") or ()),
            )
            for h in holidays
        ),
        frozenset(date.fromisoformat(d) for d in workdays),
    )


class HolidayCalendar(Cases):
    async def load_calendar(self) -> int:
        """Hand the years stored from notices to the calendar (at start-up); how many."""
        async with self.db.read() as conn:
            rows = (await conn.execute(select(t.calendar_years))).all()
        self.calendar.use_notices(
            {r.year: schedule_of(_notice_of(r.year, r.holidays, r.workdays)) for r in rows}
        )
        return len(rows)

    async def stored_year(self, year: int) -> StoredYear | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(t.calendar_years, t.members.c.display_name)
                    .outerjoin(
                        t.members,
                        (t.members.c.user_id == t.calendar_years.c.confirmed_by)
                        & t.members.c.revoked_at.is_(None),
                    )
                    .where(t.calendar_years.c.year == year)
                )
            ).first()
        if row is None:
            return None
        return StoredYear(
            _notice_of(row.year, row.holidays, row.workdays),
            row.confirmed_by,
            row.display_name or str(row.confirmed_by),
            row.confirmed_at,
            row.source_sha256,
        )

    def check_notice_year(self, notice: HolidayNotice) -> None:
        """A notice for a year gone by changes no deadline to come, and the State Council
        publishes only the next year's: anything else is a misread or mistyped year."""
        this_year = self.today().year
        if notice.year < this_year:
            raise InvalidInput("calendar_past_year", year=notice.year)
        if notice.year > this_year + 1:
            raise InvalidInput("calendar_future_year", year=notice.year, next=this_year + 1)

    async def confirm_notice(
        self,
        viewer: Viewer,
        notice: HolidayNotice,
        source_sha256: str,
        *,
        finishes: str | None = None,
    ) -> CalendarChange:
        """Store a year read from a notice, count the open matters' deadlines again on it,
        and tell the rest of the office which moved; then count every deadline on it.
        ``finishes`` names the conversation whose draft goes in the same transaction."""
        if not rules.is_admin(viewer.member):
            raise NotAllowed("admin_only")
        self.check_notice_year(notice)
        schedule = schedule_of(notice)
        now = self.clock.now()
        values = {
            "holidays": _holidays_json(notice),
            "workdays": sorted(d.isoformat() for d in notice.workdays),
            "confirmed_by": viewer.user_id,
            "confirmed_at": now,
            "source_sha256": source_sha256,
        }
        key = f"calendar:{notice.year}:{source_sha256[:16]}:{now.isoformat()}"
        async with self.db.write(scan=True) as conn:
            member = await self._active_member(conn, viewer.user_id)
            if not rules.is_admin(member):
                raise NotAllowed("admin_only")
            replaced = (
                await conn.execute(
                    update(t.calendar_years)
                    .where(t.calendar_years.c.year == notice.year)
                    .values(**values)
                )
            ).rowcount > 0
            if not replaced:
                await conn.execute(t.calendar_years.insert().values(year=notice.year, **values))
            # Every year as stored now, this one included: not as this process last saw them.
            stored = (await conn.execute(select(t.calendar_years))).all()
            candidate = self.calendar.with_notices(
                {r.year: schedule_of(_notice_of(r.year, r.holidays, r.workdays)) for r in stored}
            )
            moved = await self._count_deadlines_again(conn, candidate)
            edits = await self._refresh_moved(conn, moved, now, key)
            await self._event(
                conn,
                CONFIRMED,
                viewer.user_id,
                year=notice.year,
                replaced=replaced,
                source_sha256=source_sha256,
                holidays=values["holidays"],
                workdays=values["workdays"],
                moved=[m.payload() for m in moved],
            )
            payload = {
                "year": notice.year,
                "by": member.display_name if member is not None else "",
                "replaced": replaced,
                "moved": [m.payload() for m in moved],
            }
            if finishes is not None:
                await self._finish_draft(conn, viewer.user_id, finishes)
            office = await self._office_ids(conn)
            await enqueue_many(
                conn,
                now,
                [
                    (f"{key}:{u}", u, "calendar_changed", payload)
                    for u in office
                    if u != viewer.user_id
                ],
            )
            await self._tell_addressees(conn, notice.year, moved, now, key, {*office})
        # This year only: another year confirmed meanwhile was handed over by its own
        # confirmation, and this one's stored copy is what was just committed.
        self.calendar.use_notice(schedule)
        logger.info(
            "holiday calendar %s confirmed by %s: %s deadline(s) moved, %s notice(s) to edit",
            notice.year,
            viewer.user_id,
            len(moved),
            edits,
        )
        return CalendarChange(notice.year, replaced, tuple(moved))

    async def _count_deadlines_again(
        self, conn: AsyncConnection, calendar: WorkingCalendar
    ) -> list[MovedDeadline]:
        """Every open addressee's running and later deadlines counted on ``calendar`` (a
        worker thread counts; ``calendar`` is this call's own); the rows that change are
        written, and those whose running deadline moved are returned."""
        rows = (
            await conn.execute(
                select(
                    t.assignments.c.id,
                    t.assignments.c.case_id,
                    t.assignments.c.addressee,
                    t.assignments.c.state,
                    t.assignments.c.stage,
                    t.assignments.c.due,
                    t.assignments.c.dues,
                    t.assignments.c.clock_started_at,
                    t.assignments.c.paused_since,
                    t.assignments.c.paused_days,
                    t.assignments.c.handler_user_id,
                    t.cases.c.kind,
                    t.cases.c.number,
                    t.cases.c.fields,
                )
                .select_from(t.assignments.join(t.cases, t.cases.c.id == t.assignments.c.case_id))
                .where(t.assignments.c.state.in_(sorted(self.kinds.open_states)))
                .order_by(t.cases.c.id, t.assignments.c.position)
            )
        ).all()
        changes, moved = await asyncio.to_thread(self._recount, rows, calendar)
        if changes:
            await conn.execute(
                update(t.assignments)
                .where(t.assignments.c.id == bindparam("row_id"))
                .values(due=bindparam("new_due"), dues=bindparam("new_dues")),
                changes,
            )
        return moved

    def _recount(
        self, rows: Sequence[Any], calendar: WorkingCalendar
    ) -> tuple[list[dict[str, Any]], list[MovedDeadline]]:
        """The counting itself, pure CPU (run in a worker thread): the changed rows' new
        deadline columns, and the running deadlines that moved."""
        changes: list[dict[str, Any]] = []
        moved: list[MovedDeadline] = []
        for row in rows:
            kind = self.kinds.get(row.kind)
            if kind is None or not kind.is_open(row.state):
                continue
            clock = self._clock(
                kind,
                row.fields,
                row.clock_started_at,
                row.paused_days,
                row.state,
                row.paused_since is not None,
                calendar,
            )
            stored = dict(row.dues or {})
            dues = dict(clock["dues"])
            for name in answered(kind, row.state):
                # An answered deadline stays what it was answered against (or absent).
                if name in stored:
                    dues[name] = stored[name]
                else:
                    dues.pop(name, None)
            if clock["due"] == row.due and dues == stored:
                continue
            changes.append({"row_id": row.id, "new_due": clock["due"], "new_dues": dues})
            if row.due is not None and clock["due"] is not None and clock["due"] != row.due:
                moved.append(
                    MovedDeadline(
                        row.case_id,
                        row.number,
                        row.addressee,
                        row.stage,
                        row.due,
                        clock["due"],
                        row.id,
                        row.kind,
                        row.handler_user_id,
                    )
                )
        return changes, moved

    async def _tell_addressees(
        self,
        conn: AsyncConnection,
        year: int,
        moved: Sequence[MovedDeadline],
        now: datetime,
        key: str,
        office: set[int],
    ) -> None:
        """Those who must act hear that their deadline moved: an edit of a notice makes no
        sound, and a deadline a make-up working day brings forward is easy to miss. One
        message per member for all their matters; as an action's note goes, to the
        addressee's handler, or to everyone answering for it. The office has its own note."""
        told: dict[int, list[dict[str, Any]]] = {}
        answering: dict[tuple[str, str], list[int]] = {}
        for m in moved:
            kind = self.kinds.get(m.kind)
            if kind is None:
                continue
            if (m.kind, m.addressee) not in answering:
                answering[(m.kind, m.addressee)] = await self._members_answering(
                    conn, kind, m.addressee
                )
            members = answering[(m.kind, m.addressee)]
            item = {**m.payload(), "assignment_id": m.assignment_id}
            for uid in [m.handler] if m.handler in members else members:
                if uid is not None and uid not in office:
                    told.setdefault(uid, []).append(item)
        await enqueue_many(
            conn,
            now,
            [
                (f"{key}:moved:{uid}", uid, "deadline_moved", {"year": year, "items": items})
                for uid, items in told.items()
            ],
        )

    async def _refresh_moved(
        self, conn: AsyncConnection, moved: Sequence[MovedDeadline], now: datetime, key: str
    ) -> int:
        """Queue an edit of every delivered notice of an addressee whose running deadline
        moved (each reader's latest copy, as an action does), so the court's notice shows
        the new due day; rendered when sent, from the matter as it stands then. The key
        names this confirmation: an action's edit of the same copy at the same step may
        have been sent already. Returns how many were queued."""
        wanted = {(m.case_id, m.assignment_id) for m in moved}
        case_ids = sorted({m.case_id for m in moved})
        edits: list[tuple[str, int, str, dict[str, Any]]] = []
        for start in range(0, len(case_ids), CHUNK):
            chunk = case_ids[start : start + CHUNK]
            copies = await delivered_notices(conn, chunk)
            # Each reader's latest notice of each addressee (a resubmission sent a new one).
            latest: dict[tuple[int, int, int], Any] = {}
            for copy in copies:
                case_id = int(copy.payload.get("case_id") or 0)
                assignment_id = int(copy.payload.get("assignment_id") or 0)
                if (case_id, assignment_id) in wanted:
                    latest[(case_id, copy.chat_id, assignment_id)] = copy
            if not latest:
                continue
            steps: dict[tuple[int, int | None], int] = {
                (r.case_id, r.assignment_id): int(r.newest)
                for r in await conn.execute(
                    select(
                        t.events.c.case_id,
                        t.events.c.assignment_id,
                        func.max(t.events.c.id).label("newest"),
                    )
                    .where(t.events.c.case_id.in_(chunk))
                    .group_by(t.events.c.case_id, t.events.c.assignment_id)
                )
            }
            for (case_id, chat_id, assignment_id), copy in latest.items():
                # The newest step this copy reflects (see acting.latest_event_id).
                event_id = max(
                    steps.get((case_id, None), 0), steps.get((case_id, assignment_id), 0)
                )
                edits.append(
                    refresh_row(
                        case_id,
                        event_id,
                        chat_id,
                        assignment_id,
                        copy.message_id,
                        f"{copy.id}:{key}",
                    )
                )
        return await enqueue_many(conn, now, edits) if edits else 0
