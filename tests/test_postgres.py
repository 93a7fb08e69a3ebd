"""What SQLite guarantees by its nature, held on PostgreSQL too: a read sees one snapshot, write
transactions take turns (also those of another process), and moments keep their zone. (The
scenario tests marked ``postgres`` run the bot's features on it.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.storage import schema as t
from bot.storage.db import WRITE_LOCK_KEY, Database
from tests.conftest import POSTGRES, SHANGHAI

# About PostgreSQL: a run on SQLite would show nothing.
pytestmark = pytest.mark.postgres(only=True)


@pytest.fixture
def pg_url(database: str, db_url: str) -> str:
    assert database == POSTGRES
    return db_url


async def _settings(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(t.settings))).scalar_one())


async def test_a_read_sees_one_snapshot(pg_url: str) -> None:
    """A page and its count, read in one transaction, agree even when a write commits
    between them (SQLite's reads are snapshots; PostgreSQL's default would show the write)."""
    db = Database(pg_url)
    try:
        async with db.read() as conn:
            before = (await conn.execute(select(func.count()).select_from(t.settings))).scalar()
            async with db.write() as other:
                await other.execute(t.settings.insert().values(key="k", value="1"))
            after = (await conn.execute(select(func.count()).select_from(t.settings))).scalar()
        assert before == after == 0
        assert await _settings(db) == 1  # committed: the next read sees it
    finally:
        await db.dispose()


async def test_a_read_writes_nothing(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        with pytest.raises(Exception, match="read-only"):
            async with db.read() as conn:
                await conn.execute(t.settings.insert().values(key="k", value="1"))
        assert await _settings(db) == 0
    finally:
        await db.dispose()


async def test_write_transactions_of_two_processes_take_turns(pg_url: str) -> None:
    """Like SQLite's ``BEGIN IMMEDIATE``: a second bot (or a tool) writing to the same
    database waits for the first one's transaction to end, so neither reads a row the other
    is about to change."""
    first, second = Database(pg_url), Database(pg_url)
    try:
        async with first.write() as conn:
            await conn.execute(t.settings.insert().values(key="n", value="1"))

            async def increment() -> None:
                async with second.write() as other:
                    value = (
                        await other.execute(
                            select(t.settings.c.value).where(t.settings.c.key == "n")
                        )
                    ).scalar_one()
                    await other.execute(
                        t.settings.update()
                        .where(t.settings.c.key == "n")
                        .values(value=str(int(value) + 1))
                    )

            task = asyncio.create_task(increment())
            # The second one is seen waiting for the lock on the server before the first
            # commits (bounded: the server answers within milliseconds).
            for _ in range(500):
                if await _lock_waiters(first) == 1:
                    break
                await asyncio.sleep(0.01)
            assert await _lock_waiters(first) == 1
            assert not task.done()
        await asyncio.wait_for(task, timeout=10)
        async with first.read() as conn:
            assert (await conn.execute(select(t.settings.c.value))).scalar_one() == "2"
    finally:
        await first.dispose()
        await second.dispose()


async def _lock_waiters(db: Database) -> int:
    """Connections waiting for the write lock (a read of the server's lock table)."""
    async with db.engine.connect() as conn:
        found = await conn.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            f" AND objid = {WRITE_LOCK_KEY}"
        )
        return int(found.scalar_one())


async def test_moments_come_back_aware_and_equal(pg_url: str) -> None:
    db = Database(pg_url)
    moment = datetime(2026, 12, 2, 9, 30, 15, 123456, tzinfo=SHANGHAI)
    try:
        async with db.write() as conn:
            await conn.execute(t.seen_updates.insert().values(update_id=2**40, seen_at=moment))
        async with db.read() as conn:
            update_id, seen_at = (await conn.execute(select(t.seen_updates))).one()
        assert update_id == 2**40
        assert seen_at == moment and seen_at.tzinfo is not None
        assert seen_at.utcoffset() == UTC.utcoffset(seen_at)
    finally:
        await db.dispose()
