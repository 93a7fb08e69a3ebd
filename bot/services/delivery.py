"""The courier's side of the outbox: claim the rows that are due, record what happened to them.

Each call is one short write transaction; the retry policy (backoff, attempts) lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from bot.clock import Clock
from bot.storage import schema as t
from bot.storage.db import Database
from bot.storage.outbox import FAILED, PENDING, RETRY, SENDING, SENT, enqueue

MAX_ATTEMPTS = 12
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    key: str
    chat_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    uncertain: bool


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s ... capped at 15 minutes."""
    delay: timedelta = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, BACKOFF_CAP)


class Outbox:
    """The courier's side: claim due rows, record what happened to them."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def recover(self) -> int:
        """Rows left 'sending' by a crash may or may not have been delivered: resend them
        marked as possibly repeated, never silently."""
        async with self.db.write() as conn:
            result = await conn.execute(
                update(t.outbox)
                .where(t.outbox.c.status == SENDING)
                .values(status=RETRY, uncertain=1, next_attempt_at=self.clock.now())
            )
        return int(result.rowcount or 0)

    async def claim_due(
        self, limit: int = 50, *, key_prefix: str | None = None
    ) -> list[OutboxMessage]:
        """Take the due rows (oldest first) and mark them 'sending' before any is sent."""
        now = self.clock.now()
        due = and_(
            or_(t.outbox.c.status == PENDING, t.outbox.c.status == RETRY),
            t.outbox.c.next_attempt_at <= now,
        )
        if key_prefix is not None:
            due = and_(due, t.outbox.c.key.startswith(key_prefix, autoescape=True))
        async with self.db.write() as conn:
            rows = (
                await conn.execute(select(t.outbox).where(due).order_by(t.outbox.c.id).limit(limit))
            ).all()
            if rows:
                await conn.execute(
                    update(t.outbox)
                    .where(t.outbox.c.id.in_([r.id for r in rows]))
                    .values(status=SENDING, attempts=t.outbox.c.attempts + 1)
                )
        return [
            OutboxMessage(
                r.id, r.key, r.chat_id, r.kind, dict(r.payload), r.attempts + 1, bool(r.uncertain)
            )
            for r in rows
        ]

    async def release(self, messages: list[OutboxMessage], after: timedelta) -> None:
        """Give claimed but untried rows back, due again after ``after`` (a 429 pause)."""
        if not messages:
            return
        async with self.db.write() as conn:
            await conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id.in_([m.id for m in messages]))
                .values(
                    status=RETRY,
                    attempts=t.outbox.c.attempts - 1,
                    next_attempt_at=self.clock.now() + after,
                )
            )

    async def move(self, message: OutboxMessage, chat_id: int) -> None:
        """The chat got a new id (a group became a supergroup): send there, now."""
        async with self.db.write() as conn:
            await conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id == message.id)
                .values(
                    status=RETRY,
                    chat_id=chat_id,
                    next_attempt_at=self.clock.now(),
                    attempts=t.outbox.c.attempts - 1,
                )
            )

    async def sent(self, message: OutboxMessage, message_id: int | None) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id == message.id)
                .values(
                    status=SENT, sent_at=self.clock.now(), message_id=message_id, last_error=None
                )
            )

    async def retry(
        self,
        message: OutboxMessage,
        error: str,
        *,
        after: timedelta | None = None,
        uncertain: bool = False,
    ) -> bool:
        """Schedule another attempt; returns False (and fails the row) when attempts ran out."""
        if message.attempts >= MAX_ATTEMPTS:
            await self.failed(message, f"gave up after {message.attempts} attempts: {error}")
            return False
        delay = after if after is not None else backoff(message.attempts)
        values: dict[str, Any] = {
            "status": RETRY,
            "last_error": error[:500],
            "next_attempt_at": self.clock.now() + delay,
        }
        if uncertain:
            values["uncertain"] = 1
        async with self.db.write() as conn:
            await conn.execute(update(t.outbox).where(t.outbox.c.id == message.id).values(**values))
        return True

    async def failed(self, message: OutboxMessage, error: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id == message.id)
                .values(status=FAILED, last_error=error[:500])
            )

    async def add(self, key: str, chat_id: int, kind: str, payload: dict[str, Any]) -> bool:
        async with self.db.write() as conn:
            return await enqueue(conn, self.clock.now(), key, chat_id, kind, payload)

    async def next_due_at(self) -> datetime | None:
        async with self.db.read() as conn:
            due: datetime | None = (
                await conn.execute(
                    select(func.min(t.outbox.c.next_attempt_at)).where(
                        t.outbox.c.status.in_([PENDING, RETRY])
                    )
                )
            ).scalar_one_or_none()
        return due

    async def counts(self) -> dict[str, int]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(t.outbox.c.status, func.count()).group_by(t.outbox.c.status)
                )
            ).all()
        return {status: n for status, n in rows}
