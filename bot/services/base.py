"""What every service shares: the database, the committee, the clock and the working-day
calendar, the audit trail, and the membership as it is inside a transaction.

Every service method is one transaction: it either commits its rows together with their audit
event and the messages they cause, or raises a ``DomainError`` and leaves nothing behind.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Executable, Row, bindparam, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import ClauseElement

from bot.clock import Clock
from bot.domain.committee import Committee
from bot.domain.kinds import KindRegistry, KindSpec
from bot.domain.mechanisms import default_registry
from bot.domain.models import (
    Member,
    Role,
    Viewer,
)
from bot.domain.workdays import CalendarOverrides, WorkingCalendar
from bot.storage import schema as t
from bot.storage.db import Database, execute

logger = logging.getLogger(__name__)

GROUP_SETTING = "group_chat_id"

# Built once (see bot.services.cases): read or written on many updates.
_ACTIVE_MEMBER = select(t.members).where(
    t.members.c.user_id == bindparam("user_id"), t.members.c.revoked_at.is_(None)
)
_EVENT = (
    t.events.insert()
    .values(
        {
            name: bindparam(name, type_=t.events.c[name].type)
            for name in (
                "case_id",
                "assignment_id",
                "actor_user_id",
                "at",
                "action",
                "from_status",
                "to_status",
                "detail",
            )
        }
    )
    .returning(t.events.c.id)
)
_OFFICE_IDS = select(t.members.c.user_id).where(
    t.members.c.role == Role.OFFICE.value, t.members.c.revoked_at.is_(None)
)
# Who answers for an addressee, per set of organisations and roles (the committee's, a few
# dozen at most): every raise and most steps ask, so each is built once.
_ANSWERING: dict[tuple[tuple[str, ...], tuple[str, ...]], Any] = {}


def _answering(orgs: tuple[str, ...], roles: tuple[str, ...]) -> Any:
    """The active members of ``orgs`` in ``roles``, oldest first. Equalities, not IN lists:
    an IN list is expanded on every execution and cannot be run prepared (see
    ``bot.storage.db.execute``); SQLite reads ``a = x OR a = y`` through the index as IN."""
    statement = _ANSWERING.get((orgs, roles))
    if statement is None:
        c = t.members.c
        statement = _ANSWERING[(orgs, roles)] = (
            select(c.user_id)
            .where(
                or_(*(c.org_code == org for org in orgs)),
                or_(*(c.role == role for role in roles)),
                c.revoked_at.is_(None),
            )
            .order_by(c.id)
        )
    return statement


_DELETE_DRAFT = t.drafts.delete().where(
    t.drafts.c.user_id == bindparam("user_id"), t.drafts.c.flow == bindparam("flow")
)


# The modules whose module-level statements are prebuilt (see ``prebuilt_statements``).
_PREBUILT_IN = ("bot.services.", "bot.storage.")


def _module_statements() -> Iterator[Executable]:
    """Every statement the service and storage modules build at import time (their
    module-level constants): found where they are kept, so no list can miss one. Only
    modules already imported are looked at (importing one here would be I/O)."""
    for name, module in list(sys.modules.items()):
        if module is not None and name.startswith(_PREBUILT_IN):
            for value in list(vars(module).values()):
                if isinstance(value, Executable) and isinstance(value, ClauseElement):
                    yield value


class SeenUpdates:
    """Update ids this process recorded above ``floor`` (the highest id recorded before it
    started, or before the last pruning): ids above the floor need no database read."""

    LIMIT = 4096

    def __init__(self) -> None:
        self.floor: int | None = None  # None: not read yet
        self.recent: set[int] = set()

    def remember(self, update_id: int) -> None:
        self.recent.add(update_id)
        if len(self.recent) > self.LIMIT:
            # Keep the newest half; the floor rises over the rest (the database holds them).
            ordered = sorted(self.recent)
            half = len(ordered) // 2
            floor = self.floor if self.floor is not None else -1
            self.floor = max(floor, ordered[half - 1])
            self.recent = set(ordered[half:])

    def forget(self) -> None:
        self.floor = None
        self.recent.clear()


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: int
    lang: str


class ServiceBase:
    """The state and helpers the services share."""

    def __init__(
        self,
        db: Database,
        committee: Committee,
        clock: Clock,
        tz: ZoneInfo,
        calendar: WorkingCalendar | None = None,
        kinds: KindRegistry | None = None,
    ) -> None:
        self.db = db
        self.committee = committee
        self.kinds = kinds if kinds is not None else default_registry()
        self.clock = clock
        self.tz = tz
        self.calendar = calendar or WorkingCalendar(committee.calendar or CalendarOverrides())
        # Viewers are read on every update; memberships and languages change only through
        # this service, which drops the cached entry when they do.
        self._viewers: dict[int, Viewer] = {}
        self._group_chat_id: int | None = committee.group_chat_id
        self._group_loaded = False
        self._seen = SeenUpdates()

    def _insert(self, table: Any) -> Any:
        dialect = postgresql if self.db.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    async def checkpoint(self) -> None:
        """Fold the database's write-ahead log back in, away from any update's commit."""
        await self.db.checkpoint()

    def today(self) -> date:
        return self.clock.now().astimezone(self.tz).date()

    async def _finish_draft(self, conn: AsyncConnection, user_id: int, flow: str) -> None:
        """A conversation's draft goes with the change it produced, in the same transaction:
        a restart after the commit cannot offer the same button again."""
        await execute(conn, _DELETE_DRAFT, {"user_id": user_id, "flow": flow})

    async def _event(
        self,
        conn: AsyncConnection,
        action: str,
        actor: int | None,
        case_id: int | None = None,
        from_status: str | None = None,
        to_status: str | None = None,
        *,
        assignment_id: int | None = None,
        **detail: Any,
    ) -> int:
        """Write an audit event; returns its id."""
        result = await execute(
            conn,
            _EVENT,
            {
                "case_id": case_id,
                "assignment_id": assignment_id,
                "actor_user_id": actor,
                "at": self.clock.now(),
                "action": action,
                "from_status": from_status,
                "to_status": to_status,
                "detail": detail or None,
            },
        )
        return int(result.scalar_one())

    async def _active_member(self, conn: AsyncConnection, user_id: int) -> Member | None:
        """The user's membership as it is now, read inside the caller's transaction (a cached
        viewer may predate a revocation)."""
        row = (await execute(conn, _ACTIVE_MEMBER, {"user_id": user_id})).first()
        return self._member(row)

    @staticmethod
    def _member(row: Row[Any] | None) -> Member | None:
        if row is None:
            return None
        return Member(
            id=row.id,
            user_id=row.user_id,
            org_code=row.org_code,
            role=Role(row.role),
            display_name=row.display_name,
            joined_at=row.joined_at,
            revoked_at=row.revoked_at,
        )

    async def _office_ids(self, conn: AsyncConnection) -> list[int]:
        return list((await execute(conn, _OFFICE_IDS)).scalars())

    async def group_chat_id(self) -> int | None:
        if not self._group_loaded:
            async with self.db.read() as conn:
                value = (
                    await conn.execute(
                        select(t.settings.c.value).where(t.settings.c.key == GROUP_SETTING)
                    )
                ).scalar_one_or_none()
            if value is not None:
                self._group_chat_id = int(value)
            self._group_loaded = True
        return self._group_chat_id

    def _answering_statement(self, kind: KindSpec, addressee: str) -> Any | None:
        """Who answers for an addressee of a kind (None: nobody can)."""
        orgs = self.committee.orgs_answering(addressee)
        roles = tuple(sorted(r.value for r in kind.answered_by))
        if not orgs or not roles:
            return None
        return _answering(tuple(sorted(orgs)), roles)

    async def _members_answering(
        self, conn: AsyncConnection, kind: KindSpec, addressee: str
    ) -> list[int]:
        statement = self._answering_statement(kind, addressee)
        if statement is None:
            return []
        return list((await execute(conn, statement)).scalars())

    def prebuilt_statements(self) -> Iterator[Executable]:
        """The statements built once and run through ``execute``: the service and storage
        modules' constants, this service's own (its dialect's upserts: the cached properties
        that return an ``Executable``), and who answers for each addressee of each kind.
        Each once, built as it is reached (building them all takes milliseconds)."""
        seen: set[int] = set()
        for statement in self._prebuilt():
            if id(statement) not in seen:
                seen.add(id(statement))
                yield statement

    def _prebuilt(self) -> Iterator[Executable]:
        yield from _module_statements()
        for cls in type(self).__mro__:
            for name, attr in list(vars(cls).items()):
                returns = getattr(getattr(attr, "func", None), "__annotations__", {}).get("return")
                if isinstance(attr, cached_property) and returns in ("Executable", Executable):
                    yield getattr(self, name)
        addressees = [*self.committee.organisations, *self.committee.centers]
        for kind in self.kinds:
            for addressee in addressees:
                statement = self._answering_statement(kind, addressee)
                if statement is not None:
                    yield statement

    async def warm_up_statements(self) -> int:
        """Compile every prebuilt statement now (soon after start, a few at a time), so that
        no update compiles the one it runs first. Returns how many were compiled."""
        return await self.db.prepare(self.prebuilt_statements())
