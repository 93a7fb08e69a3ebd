"""The application services in one object: what handlers, jobs and tests call.

Each part lives in its own module (members, conversations, cases, scheduled work, meetings);
this class only puts them together over one database, committee, clock and calendar.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.domain.committee import Committee
from bot.domain.kinds import KindRegistry
from bot.services.acting import Acting
from bot.services.conversations import Conversations
from bot.services.delivery import Delivery, Outbox
from bot.services.export import Exporting
from bot.services.find import Finding
from bot.services.holiday_calendar import HolidayCalendar
from bot.services.meetings import Meetings
from bot.services.members import Members
from bot.services.scheduled import Scheduled
from bot.services.stats import Statistics
from bot.storage.db import Database


class Coordination(
    Members,
    Conversations,
    Acting,
    Finding,
    Exporting,
    Scheduled,
    Statistics,
    Delivery,
    HolidayCalendar,
):
    """Memberships, invites, drafts, matters, search, exports, scheduled work, the evaluation
    figures, joint meetings, who may receive what the outbox holds, and the holiday calendar
    kept from chat."""

    @cached_property
    def meetings(self) -> Meetings:
        return Meetings(self)

    @cached_property
    def outbox(self) -> Outbox:
        """The courier's side of the outbox."""
        return Outbox(self.db, self.clock)

    @classmethod
    async def open(
        cls,
        database_url: str,
        committee: Committee,
        clock: Clock,
        tz: ZoneInfo,
        kinds: KindRegistry | None = None,
    ) -> Coordination:
        """Connect, bring the schema up to date, make sure the bootstrap admins exist, and
        count on the holiday years the office confirmed."""
        db = Database(database_url)
        await db.migrate()
        svc = cls(db, committee, clock, tz, kinds=kinds)
        await svc.bootstrap_admins()
        await svc.load_calendar()
        return svc

    async def close(self) -> None:
        await self.db.dispose()

    async def ensure_meeting_reminders(self) -> int:
        """Queue meeting reminders that are due (see ``bot.services.meetings``)."""
        return await self.meetings.ensure_reminders(self.clock.now())

    async def reminder_moments(self, until: datetime) -> list[datetime]:
        """When meeting and matter reminders fall due from now to ``until``, soonest first:
        whoever moves the clock ahead by more than a tick (the sandbox) runs the tick at
        each, as a bot running all along would have."""
        now = self.clock.now()
        moments = await self.meetings.reminder_moments(now, until)
        moments += await self.kind_reminder_moments(now, until)
        return sorted(set(moments))
