"""The outbox: every message the bot decides to send on its own is a row here first.

Rows are written in the same transaction as the change that causes them, under a unique key
("case:12:new:3001", "case:12:ack:overdue"), so a crash or restart neither loses a message nor
queues it twice. The courier (``handlers.courier``) delivers them through ``bot.services.delivery``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Executable, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import schema as t
from bot.storage.db import execute

PENDING, SENDING, SENT, RETRY, FAILED = "pending", "sending", "sent", "retry", "failed"


async def enqueue(
    conn: AsyncConnection,
    now: datetime,
    key: str,
    chat_id: int,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    not_before: datetime | None = None,
) -> bool:
    """Queue a message inside the caller's transaction; False if that key was queued before.
    ``not_before`` holds it back until then (the quiet hours)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    due = max(now, not_before) if not_before is not None else now
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
            next_attempt_at=due,
            # Its age bounds its retries (``bot.services.delivery``): it counts from when the
            # row may first go, not from a night it spent waiting.
            created_at=due,
        )
        .on_conflict_do_nothing(index_elements=[t.outbox.c.key])
    )
    result = await conn.execute(stmt)
    return bool(result.rowcount)


# A row queued by ``enqueue_many`` on SQLite: built once, at import (so the start-up warm-up
# finds it and compiles it: see ``Coordination.warm_up_statements``).
_ENQUEUE_SQLITE: Executable = (
    sqlite.insert(t.outbox)
    .values(
        key=bindparam("key", type_=t.outbox.c.key.type),
        chat_id=bindparam("chat_id", type_=t.outbox.c.chat_id.type),
        kind=bindparam("kind", type_=t.outbox.c.kind.type),
        payload=bindparam("payload", type_=t.outbox.c.payload.type),
        status=PENDING,
        attempts=0,
        uncertain=0,
        next_attempt_at=bindparam("now", type_=t.outbox.c.next_attempt_at.type),
        created_at=bindparam("now", type_=t.outbox.c.created_at.type),
    )
    .on_conflict_do_nothing(index_elements=[t.outbox.c.key])
)


async def enqueue_many(
    conn: AsyncConnection,
    now: datetime,
    rows: list[tuple[str, int, str, dict[str, Any]]],
) -> int:
    """Queue several messages ``(key, chat_id, kind, payload)`` in one statement inside the
    caller's transaction; returns how many keys were new."""
    if not rows:
        return 0
    if conn.dialect.name == "sqlite":
        # One statement built once, its rows executed together (see ``execute``).
        queued = [
            {"key": key, "chat_id": chat_id, "kind": kind, "payload": payload, "now": now}
            for key, chat_id, kind, payload in rows
        ]
        result = await execute(conn, _ENQUEUE_SQLITE, queued)
        return max(int(result.rowcount or 0), 0)
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
