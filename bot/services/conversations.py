"""Conversations in progress (drafts, saved at every step) and the once-only update record."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import cached_property

from sqlalchemy import Executable, bindparam, func, select

from bot.domain.models import (
    Draft,
)
from bot.services.base import ServiceBase
from bot.storage import schema as t
from bot.storage.db import execute

logger = logging.getLogger(__name__)


_DRAFT = select(t.drafts).where(
    t.drafts.c.user_id == bindparam("user_id"), t.drafts.c.flow == bindparam("flow")
)


class Conversations(ServiceBase):
    async def save_draft(self, draft: Draft) -> None:
        params = {
            "user_id": draft.user_id,
            "flow": draft.flow,
            "state": draft.state,
            "data": draft.data,
            "now": self.clock.now(),
        }
        async with self.db.write() as conn:
            await execute(conn, self._upsert_draft, params)

    @cached_property
    def _upsert_draft(self) -> Executable:
        """Built once: a draft is saved at every step of a conversation."""
        c = t.drafts.c
        stmt = self._insert(t.drafts).values(
            user_id=bindparam("user_id", type_=c.user_id.type),
            flow=bindparam("flow", type_=c.flow.type),
            state=bindparam("state", type_=c.state.type),
            data=bindparam("data", type_=c.data.type),
            updated_at=bindparam("now", type_=c.updated_at.type),
        )
        upsert: Executable = stmt.on_conflict_do_update(
            index_elements=[c.user_id, c.flow],
            set_={
                "state": stmt.excluded.state,
                "data": stmt.excluded.data,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        return upsert

    async def load_draft(self, user_id: int, flow: str) -> Draft | None:
        async with self.db.read() as conn:
            row = (await execute(conn, _DRAFT, {"user_id": user_id, "flow": flow})).first()
        return None if row is None else Draft(row.user_id, row.flow, row.state, dict(row.data))

    async def delete_draft(self, user_id: int, flow: str) -> None:
        async with self.db.write() as conn:
            await self._finish_draft(conn, user_id, flow)

    async def conversation_states(self, flow: str) -> dict[int, str]:
        """user id → waiting state, for every conversation of a flow still in progress."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(t.drafts.c.user_id, t.drafts.c.state).where(t.drafts.c.flow == flow)
                )
            ).all()
        return {row.user_id: row.state for row in rows}

    async def first_sighting(self, update_id: int) -> bool:
        """Whether an update id is new (False for a redelivery). A new id's record is written
        with the update's first write transaction (or on its own when the update ends, see
        ``Database.unit``): it commits together with what the update changed.

        Telegram's ids grow, so the database is asked only about ids at or below the highest
        one recorded when this process started (a redelivery after a restart); newer ones are
        remembered here."""
        seen = self._seen
        if seen.floor is None:
            async with self.db.read() as conn:
                highest = (
                    await conn.execute(select(func.max(t.seen_updates.c.update_id)))
                ).scalar_one_or_none()
            seen.floor = -1 if highest is None else int(highest)
        if update_id in seen.recent:
            return False
        if update_id <= seen.floor:
            async with self.db.read() as conn:
                recorded = (
                    await conn.execute(
                        select(t.seen_updates.c.update_id).where(
                            t.seen_updates.c.update_id == update_id
                        )
                    )
                ).first()
            if recorded is not None:
                return False
        seen.remember(update_id)
        await self.db.defer(self._record_update, {"id": update_id, "at": self.clock.now()})
        return True

    @cached_property
    def _record_update(self) -> Executable:
        """Built once: the record costs no statement building on every update."""
        stmt = self._insert(t.seen_updates).values(
            update_id=bindparam("id"), seen_at=bindparam("at")
        )
        record: Executable = stmt.on_conflict_do_nothing(index_elements=["update_id"])
        return record

    async def prune_seen_updates(self, keep: timedelta = timedelta(days=8)) -> int:
        """Telegram keeps undelivered updates for at most a day; a week of ids is plenty.
        Runs every tick: it writes only when there is something to prune."""
        old = t.seen_updates.c.seen_at < self.clock.now() - keep
        async with self.db.read() as conn:
            if (await conn.execute(select(t.seen_updates.c.update_id).where(old))).first() is None:
                return 0
        async with self.db.write() as conn:
            result = await conn.execute(t.seen_updates.delete().where(old))
        pruned = int(result.rowcount or 0)
        if pruned:
            self._seen.forget()  # the database is asked again what it still holds
        return pruned
