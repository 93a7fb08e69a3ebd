"""/stats and the quarterly report: the evaluation figures (``bot.domain.stats``) for the
office and observers, the matters behind one organisation's figures, and the report posted
to the committee group once a quarter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import alerts
from bot.domain.errors import NotAllowed
from bot.domain.models import Role, Viewer
from bot.domain.periods import Period, quarter_before
from bot.domain.stats import (
    AssignmentRow,
    Calculator,
    MattersPage,
    Scorecard,
    Summary,
    Tally,
)
from bot.services.base import ServiceBase
from bot.storage import schema as t
from bot.storage.outbox import enqueue
from bot.storage.stats import LocalDays, paused_cases, rows_of, summaries

logger = logging.getLogger(__name__)

STATS_ROLES = frozenset({Role.OFFICE, Role.OBSERVER})
# Quarterly reports are due from the first time the bot ran its schedule with them on: a
# new installation (or one that just turned them on) does not post last quarter's at once.
QUARTERLY_SINCE = "quarterly_since"


def may_see_stats(viewer: Viewer) -> bool:
    """The figures are the office's and the observers' (the committee's evaluators)."""
    member = viewer.member
    return member is not None and member.active and member.role in STATS_ROLES


def _count(
    tally: Tally, rows: Sequence[Summary], exact: frozenset[int], steps: list[AssignmentRow]
) -> None:
    """A month's counting (CPU work, in a worker thread): the matters in ``exact`` from
    their ``steps``, every other from its summaries."""
    tally.add_summaries(rows, exact)
    tally.add(steps)


def _order(
    calculator: Calculator, org: str, rows: Sequence[Summary]
) -> list[tuple[bool, int, int]]:
    """(not late, matter, addressee) of the addressees ``org`` acts for: the drill-down's order."""
    found = []
    acting, late_of = calculator.acting, calculator.late
    for row in rows:
        if acting(row.addressee) != org:
            continue
        late = late_of(row)
        if late is not None:
            found.append((not late, row.case_id, row.assignment_id))
    return found


class Statistics(ServiceBase):
    def calculator(self) -> Calculator:
        return Calculator(self.committee, self.kinds, self.calendar, self.tz, self.today())

    def _local_days(self, conn: AsyncConnection, period: Period) -> LocalDays:
        first, _ = period.bounds(self.tz)
        return LocalDays(conn.dialect.name, self.tz, first, self.clock.now() + timedelta(days=1))

    async def scorecard(self, period: Period) -> Scorecard:
        """Every organisation's figures for the matters raised in ``period``: a summary per
        addressee, its answers found by the database, read a month at a time in one
        transaction (a year at a million matters is never held whole) and counted in a
        worker thread while the next month is read. The few matters with a request for
        more information are counted from their steps (a pause moves the answer's time)."""
        calculator = self.calculator()
        tally = Tally(calculator)
        counting: asyncio.Future[None] | None = None
        try:
            async with self.db.read(scan=True) as conn:
                local = self._local_days(conn, period)
                since, _ = period.bounds(self.tz)
                paused = await paused_cases(conn, since)
                for part in period.parts():
                    start, end = part.bounds(self.tz)
                    # Read while the month before is counted.
                    rows = await summaries(conn, start, end, calculator.rules, local)
                    exact = frozenset({row.case_id for row in rows} & paused if paused else ())
                    steps = await rows_of(conn, sorted(exact)) if exact else []
                    if counting is not None:
                        await counting
                    counting = asyncio.ensure_future(
                        asyncio.to_thread(_count, tally, rows, exact, steps)
                    )
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

    async def stats_matters(
        self, viewer: Viewer, period: Period, org: str, page: int = 0, size: int = 10
    ) -> MattersPage:
        """A page of the matters behind one organisation's figures, late ones first, then in
        the order they were raised. The office and observers see every matter
        (``rules.can_view``), so nothing is left out for them. Every addressee's place is
        decided from its summary (whether it is late needs no steps); only the page's
        matters are read whole."""
        if not may_see_stats(viewer):
            raise NotAllowed("stats_not_allowed")
        # The addressees the organisation acts for: itself, a center it alone staffs.
        codes = [
            code
            for code in (*self.committee.organisations, *self.committee.centers)
            if self.committee.acting_org(code) == org
        ]
        calculator = self.calculator()
        order: list[tuple[bool, int, int]] = []
        async with self.db.read(scan=True) as conn:
            local = self._local_days(conn, period)
            for part in period.parts():  # a month at a time, as the scorecard
                start, end = part.bounds(self.tz)
                rows = await summaries(conn, start, end, calculator.rules, local, codes)
                order += _order(calculator, org, rows)
            order.sort()
            chosen = order[page * size : (page + 1) * size]
            found = await rows_of(conn, sorted({case_id for _, case_id, _ in chosen}))
        by_assignment = {row.assignment_id: row for row in found}
        lines = []
        for _, _, assignment_id in chosen:
            line = calculator.line(by_assignment[assignment_id])
            if line is not None:
                lines.append(line)
        late = sum(1 for on_time, _, _ in order if not on_time)
        return MattersPage(tuple(lines), len(order), late)

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
        quarter, so a second tick or a restart never queues it twice.

        Reports are due from the first tick that ran with them on and a group bound
        (``QUARTERLY_SINCE``), recorded on that tick whether or not a report is due yet: a
        report falling due while the bot runs is posted, one due before it ever ran is not."""
        moment = self.quarterly_moment()
        if moment is None:
            return False
        group = await self.group_chat_id()
        if group is None:
            return False
        now = self.clock.now()
        since = await self._quarterly_since(now)
        if moment > now or moment < since:
            return False
        covered = quarter_before(moment.date())
        key = f"quarterly:{covered.first.year}Q{covered.quarter}"
        async with self.db.read() as conn:  # every tick of the quarter after finds it queued
            if (await conn.execute(select(t.outbox.c.id).where(t.outbox.c.key == key))).first():
                return False
        async with self.db.write() as conn:
            schedule = self.committee.schedule
            queued = await enqueue(
                conn,
                now,
                key,
                group,
                "quarterly_report",
                {"first": covered.first.isoformat(), "last": covered.last.isoformat()},
                # Found late (after downtime) in the quiet hours: it waits for the morning.
                not_before=alerts.office_moment(now.astimezone(self.tz), self.calendar, schedule),
            )
        if queued:
            logger.info("quarterly report on %sQ%s queued", covered.first.year, covered.quarter)
        return queued

    async def _quarterly_since(self, now: datetime) -> datetime:
        """Since when reports are due: recorded as ``now`` the first time it is asked."""
        query = select(t.settings.c.value).where(t.settings.c.key == QUARTERLY_SINCE)
        async with self.db.read() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        if found is not None:
            return datetime.fromisoformat(found)
        async with self.db.write() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
            if found is not None:
                return datetime.fromisoformat(found)
            await conn.execute(
                t.settings.insert().values(key=QUARTERLY_SINCE, value=now.isoformat())
            )
            logger.info("quarterly reports due from %s", now.isoformat())
        return now
