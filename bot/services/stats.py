"""/stats and the quarterly report: the evaluation figures (``bot.domain.stats``) for the
office and observers, the matters behind one organisation's figures, and the report posted
to the committee group once a quarter."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime

from sqlalchemy import select

from bot.domain import alerts
from bot.domain.errors import NotAllowed
from bot.domain.models import Role, Viewer
from bot.domain.periods import Period, quarter_before
from bot.domain.stats import (
    Calculator,
    MatterLine,
    Scorecard,
    Tally,
)
from bot.services.base import ServiceBase
from bot.storage import schema as t
from bot.storage.outbox import enqueue
from bot.storage.stats import Fetched, fetch

logger = logging.getLogger(__name__)

STATS_ROLES = frozenset({Role.OFFICE, Role.OBSERVER})
# Quarterly reports are due from the first time the bot ran its schedule with them on: a
# new installation (or one that just turned them on) does not post last quarter's at once.
QUARTERLY_SINCE = "quarterly_since"


def may_see_stats(viewer: Viewer) -> bool:
    """The figures are the office's and the observers' (the committee's evaluators)."""
    member = viewer.member
    return member is not None and member.active and member.role in STATS_ROLES


def _count(tally: Tally, fetched: Fetched) -> None:
    tally.add(fetched.rows())


def _lines(calculator: Calculator, org: str, fetched: Fetched) -> list[MatterLine]:
    return calculator.matters_of(org, fetched.rows())


class Statistics(ServiceBase):
    def calculator(self) -> Calculator:
        return Calculator(self.committee, self.kinds, self.calendar, self.tz, self.today())

    async def scorecard(self, period: Period) -> Scorecard:
        """Every organisation's figures for the matters raised in ``period``: read a month at
        a time in one transaction, so a year at a million matters is never held whole, and
        counted in a worker thread (seconds of CPU at scale: not on the event loop)."""
        tally = Tally(self.calculator())
        counting: asyncio.Future[None] | None = None
        try:
            async with self.db.read(scan=True) as conn:
                for part in period.parts():
                    start, end = part.bounds(self.tz)
                    fetched = await fetch(conn, start, end)  # while the month before is counted
                    if counting is not None:
                        await counting
                    counting = asyncio.ensure_future(asyncio.to_thread(_count, tally, fetched))
            if counting is not None:
                await counting
        finally:
            if counting is not None and not counting.done():
                counting.cancel()
        return tally.card(period)

    async def stats(self, viewer: Viewer, period: Period) -> Scorecard:
        """/stats: refused to anyone but the office and observers."""
        if not may_see_stats(viewer):
            raise NotAllowed("stats_not_allowed")
        return await self.scorecard(period)

    async def stats_matters(self, viewer: Viewer, period: Period, org: str) -> list[MatterLine]:
        """The matters behind one organisation's figures, late ones first. The office and
        observers see every matter (``rules.can_view``), so nothing is left out for them."""
        if not may_see_stats(viewer):
            raise NotAllowed("stats_not_allowed")
        # The addressees the organisation acts for: itself, a center it alone staffs.
        codes = [
            code
            for code in (*self.committee.organisations, *self.committee.centers)
            if self.committee.acting_org(code) == org
        ]
        calculator = self.calculator()
        lines: list[MatterLine] = []
        async with self.db.read(scan=True) as conn:
            for part in period.parts():  # a month at a time, as the scorecard
                start, end = part.bounds(self.tz)
                fetched = await fetch(conn, start, end, codes)
                lines += await asyncio.to_thread(_lines, calculator, org, fetched)
        return sorted(lines, key=lambda m: (not m.late, m.case_id))

    # ------------------------------------------------------------------ quarterly report

    def quarterly_moment(self, now: datetime | None = None) -> datetime | None:
        """When this quarter's report is due: the first working day of the quarter at
        ``quarterly_time`` (local); None while reports are off."""
        reports = self.committee.reports
        if not reports.quarterly:
            return None
        local = (now or self.clock.now()).astimezone(self.tz)
        first = date(local.year, 3 * ((local.month - 1) // 3) + 1, 1)
        day = self.calendar.add_working_days(first, 0)
        return datetime.combine(day, reports.quarterly_time, self.tz)

    async def ensure_quarterly_report(self) -> bool:
        """Queue the report on the previous quarter for the group once its time has come
        (even if the bot was down then); True if it was queued now. Its outbox key names the
        quarter, so a second tick or a restart never queues it twice."""
        moment = self.quarterly_moment()
        if moment is None:
            return False
        now = self.clock.now()
        if moment > now:
            return False
        group = await self.group_chat_id()
        if group is None:
            return False
        covered = quarter_before(moment.date())
        async with self.db.write() as conn:
            since_raw = (
                await conn.execute(
                    select(t.settings.c.value).where(t.settings.c.key == QUARTERLY_SINCE)
                )
            ).scalar_one_or_none()
            if since_raw is None:
                await conn.execute(
                    t.settings.insert().values(key=QUARTERLY_SINCE, value=now.isoformat())
                )
                since = now
            else:
                since = datetime.fromisoformat(since_raw)
            if moment < since:
                return False
            schedule = self.committee.schedule
            queued = await enqueue(
                conn,
                now,
                f"quarterly:{covered.first.year}Q{covered.quarter}",
                group,
                "quarterly_report",
                {"first": covered.first.isoformat(), "last": covered.last.isoformat()},
                # Found late (after downtime) in the quiet hours: it waits for the morning.
                not_before=alerts.office_moment(now.astimezone(self.tz), self.calendar, schedule),
            )
        if queued:
            logger.info("quarterly report on %sQ%s queued", covered.first.year, covered.quarter)
        return queued
