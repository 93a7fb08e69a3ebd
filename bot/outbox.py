"""The outbox: every message the bot decides to send on its own is a row here first.

Rows are written in the same transaction as the change that causes them, under a unique key
("case:12:new:3001", "case:12:ack:overdue"), so a crash or restart neither loses a message nor
queues it twice. The courier (``bot.jobs.courier``) delivers them and records the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import schema as t
from bot.clock import Clock
from bot.db import Database

PENDING, SENDING, SENT, RETRY, FAILED = "pending", "sending", "sent", "retry", "failed"
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
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


async def enqueue(
    conn: AsyncConnection,
    now: datetime,
    key: str,
    chat_id: int,
    kind: str,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Queue a message inside the caller's transaction; False if that key was queued before."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(t.outbox)
        .values(
            key=key,
            chat_id=chat_id,
            kind=kind,
            payload=payload or {},
            status=PENDING,
            attempts=0,
            uncertain=0,
            next_attempt_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[t.outbox.c.key])
    )
    result = await conn.execute(stmt)
    return bool(result.rowcount)


async def enqueue_many(
    conn: AsyncConnection,
    now: datetime,
    rows: list[tuple[str, int, str, dict[str, Any]]],
) -> int:
    """Queue several messages ``(key, chat_id, kind, payload)`` in one statement inside the
    caller's transaction; returns how many keys were new."""
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(t.outbox)
        .values(
            [
                {
                    "key": key,
                    "chat_id": chat_id,
                    "kind": kind,
                    "payload": payload,
                    "status": PENDING,
                    "attempts": 0,
                    "uncertain": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for key, chat_id, kind, payload in rows
            ]
        )
        .on_conflict_do_nothing(index_elements=[t.outbox.c.key])
    )
    result = await conn.execute(stmt)
    return max(int(result.rowcount or 0), 0)


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
            return (
                await conn.execute(
                    select(func.min(t.outbox.c.next_attempt_at)).where(
                        t.outbox.c.status.in_([PENDING, RETRY])
                    )
                )
            ).scalar_one_or_none()

    async def counts(self) -> dict[str, int]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(t.outbox.c.status, func.count()).group_by(t.outbox.c.status)
                )
            ).all()
        return {status: n for status, n in rows}
