"""The holiday calendar kept from chat (/calendar): a year the office confirmed from the State
Council's notice is stored here and counts at once, for every deadline.

Confirming a year is one transaction: the stored year, the open matters' deadlines counted
again on the new calendar with the rules that counted them (``Cases._clock``: the same
clock start, the paused working days, the committee's deadline settings), one audit event,
and a note to the rest of the office. Only once it is committed does the calendar in memory
(``WorkingCalendar.use_notice``, the one object every part of the bot asks) change.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import rules
from bot.domain.errors import InvalidInput, NotAllowed
from bot.domain.holiday_notice import Holiday, HolidayNotice
from bot.domain.models import Viewer
from bot.domain.workdays import WorkingCalendar, YearSchedule
from bot.services.cases import Cases
from bot.storage import schema as t
from bot.storage.outbox import enqueue_many

logger = logging.getLogger(__name__)

CONFIRMED = "calendar_confirmed"  # the audit event's action


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
        candidate = self.calendar.with_notice(schedule)
        now = self.clock.now()
        values = {
            "holidays": _holidays_json(notice),
            "workdays": sorted(d.isoformat() for d in notice.workdays),
            "confirmed_by": viewer.user_id,
            "confirmed_at": now,
            "source_sha256": source_sha256,
        }
        async with self.db.write() as conn:
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
            moved = await self._count_deadlines_again(conn, candidate)
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
            office = [u for u in await self._office_ids(conn) if u != viewer.user_id]
            key = f"calendar:{notice.year}:{source_sha256[:16]}:{now.isoformat()}"
            await enqueue_many(
                conn,
                now,
                [(f"{key}:{u}", u, "calendar_changed", payload) for u in office],
            )
        self.calendar.use_notice(schedule)
        logger.info(
            "holiday calendar %s confirmed by %s: %s deadline(s) moved",
            notice.year,
            viewer.user_id,
            len(moved),
        )
        return CalendarChange(notice.year, replaced, tuple(moved))

    async def _count_deadlines_again(
        self, conn: AsyncConnection, calendar: WorkingCalendar
    ) -> list[MovedDeadline]:
        """Every open addressee's deadlines counted on ``calendar``; the rows that change are
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
                    t.cases.c.kind,
                    t.cases.c.number,
                    t.cases.c.fields,
                )
                .select_from(t.assignments.join(t.cases, t.cases.c.id == t.assignments.c.case_id))
                .where(t.assignments.c.state.in_(sorted(self.kinds.open_states)))
                .order_by(t.cases.c.id, t.assignments.c.position)
            )
        ).all()
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
            if clock["due"] == row.due and clock["dues"] == dict(row.dues or {}):
                continue
            await conn.execute(
                update(t.assignments)
                .where(t.assignments.c.id == row.id)
                .values(due=clock["due"], dues=clock["dues"])
            )
            if row.due is not None and clock["due"] is not None and clock["due"] != row.due:
                moved.append(
                    MovedDeadline(
                        row.case_id, row.number, row.addressee, row.stage, row.due, clock["due"]
                    )
                )
        return moved
