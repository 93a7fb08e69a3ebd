"""/stats and the quarterly report: the evaluation figures (``bot.domain.stats``) for the
office and observers, the matters behind one organisation's figures, and the report posted
to the committee group once a quarter."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select

from bot.domain import alerts
from bot.domain.errors import NotAllowed
from bot.domain.models import Role, Viewer
from bot.domain.stats import (
    AssignmentRow,
    Calculator,
    MatterLine,
    Period,
    Scorecard,
    Tally,
    quarter_before,
)
from bot.services.base import ServiceBase
from bot.storage import schema as t
from bot.storage.outbox import enqueue
from bot.storage.stats import assignment_rows

logger = logging.getLogger(__name__)

STATS_ROLES = frozenset({Role.OFFICE, Role.OBSERVER})
# Quarterly reports are due from the first time the bot ran its schedule with them on: a
# new installation (or one that just turned them on) does not post last quarter's at once.
QUARTERLY_SINCE = "quarterly_since"


def may_see_stats(viewer: Viewer) -> bool:
    """The figures are the office's and the observers' (the committee's evaluators)."""
    member = viewer.member
    return member is not None and member.active and member.role in STATS_ROLES


class Statistics(ServiceBase):
    def calculator(self) -> Calculator:
        return Calculator(self.committee, self.kinds, self.calendar, self.tz, self.today())

    async def _rows(
        self, period: Period, addressees: Sequence[str] | None = None
    ) -> list[AssignmentRow]:
        start, end = period.bounds(self.tz)
        async with self.db.read(scan=True) as conn:
            return await assignment_rows(conn, start, end, addressees)

    async def scorecard(self, period: Period) -> Scorecard:
        """Every organisation's figures for the matters raised in ``period``: read a month at
        a time in one transaction, so a year at a million matters is never held whole."""
        tally = Tally(self.calculator())
        async with self.db.read(scan=True) as conn:
            for part in period.parts():
                start, end = part.bounds(self.tz)
                tally.add(await assignment_rows(conn, start, end))
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
        return self.calculator().matters_of(org, await self._rows(period, codes))

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
