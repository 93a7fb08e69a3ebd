"""The storage layer's costs: trips to SQLite's thread per transaction, and WAL checkpoints
kept out of the updates' commits; a unit of work's deferred statements (on PostgreSQL too,
where ``tests/test_postgres.py`` checks the rest)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Integer, bindparam, event, func, literal, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError

from bot.clock import ManualClock
from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.storage import db as db_module
from bot.storage import driver as driver_module
from bot.storage import schema as t
from bot.storage.db import Database, execute
from bot.storage.driver import BUSY_TIMEOUT_MS
from tests.conftest import SHANGHAI
from tests.flows import LI, member, seed_case
from tests.scenario import running_bot


@pytest.mark.sqlite_only
async def test_trips_to_sqlites_thread(db_url: str) -> None:
    """Outside an update a transaction costs one trip per statement (and a write one more for
    its COMMIT); an update's write transactions cost none."""
    db = Database(db_url)
    try:
        async with db.read() as conn:  # the pool's first connection: set up once
            await conn.execute(select(1))
        before = db.trips
        async with db.write() as conn:
            await conn.execute(t.settings.insert().values(key="k", value="1"))
        assert db.trips - before == 2  # BEGIN IMMEDIATE travels with the INSERT; COMMIT
        before = db.trips
        async with db.read() as conn:
            value = (await conn.execute(select(t.settings.c.value))).scalar_one()
            count = (await conn.execute(select(func.count()).select_from(t.settings))).scalar()
        assert (value, count) == ("1", 1)
        assert db.trips - before == 2  # BEGIN with the first; the COMMIT needs no trip
        before = db.trips
        async with db.unit():
            await db.defer(t.settings.update().values(value="2"))
            await db.defer(t.settings.update().values(value="3"))
            assert db.trips == before  # nothing written yet
        assert db.trips - before == 0  # both, and the commit, on the event loop's thread
        async with db.write() as conn:
            assert (await conn.execute(select(t.settings.c.value))).scalar_one() == "3"
        # Built once with named parameters: written as SQLAlchemy would, types converted.
        record = sqlite_insert(t.seen_updates).values(
            update_id=bindparam("id"), seen_at=bindparam("at")
        )
        at = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
        before = db.trips
        async with db.unit():
            await db.defer(record, {"id": 7, "at": at})
            await db.defer(record, {"id": 8, "at": at + timedelta(seconds=1)})
            async with db.write() as conn:
                await conn.execute(t.settings.update().values(value="4"))
                await conn.execute(t.settings.update().values(value="5"))
        assert db.trips - before == 0
        async with db.read() as conn:
            rows = (await conn.execute(select(t.seen_updates).order_by("update_id"))).all()
        assert [tuple(row) for row in rows] == [(7, at), (8, at + timedelta(seconds=1))]
    finally:
        await db.dispose()


async def test_an_updates_reads_cost_no_trips(db_url: str) -> None:
    """Inside a unit of work (an update) a read transaction runs on the event loop's thread;
    outside one (ticks, deliveries) it still goes to the driver's thread."""
    db = Database(db_url)
    try:
        async with db.write() as conn:
            await conn.execute(t.settings.insert().values(key="k", value="1"))
        async with db.unit(), db.read():  # an update's reads keep this connection (set up)
            pass
        async with db.read() as conn:  # the pool's next one: set up once
            await conn.execute(select(1))
        before = db.trips
        async with db.unit():
            async with db.read() as conn:
                value = (await conn.execute(select(t.settings.c.value))).scalar_one()
                count = (await conn.execute(select(func.count()).select_from(t.settings))).scalar()
            async with db.read() as conn:
                again = (await conn.execute(select(t.settings.c.value))).scalar_one()
        assert (value, count, again) == ("1", 1, "1")
        assert db.trips == before
        async with db.unit(), db.read(scan=True) as conn:  # a digest, a page of /my
            await conn.execute(select(func.count()).select_from(t.settings))
        assert db.trips - before == 1
        before = db.trips
        async with db.read() as conn:
            assert (await conn.execute(select(t.settings.c.value))).scalar_one() == "1"
        assert db.trips - before == 1
    finally:
        await db.dispose()


async def test_an_updates_read_waits_for_another_process_without_stopping_the_bot(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the rare moment a read must wait for another process (it keeps the file to itself,
    or recovers the log), an update's read does not wait on the event loop's thread (which
    would stop the bot for up to the busy timeout) but in the driver's thread."""
    db = Database(db_url)
    locked, released = threading.Event(), threading.Event()
    run_statement = driver_module._run_statement

    def as_if_locked(
        driver: Any, prefix: Any, operation: str, parameters: Any, many: bool, here: bool = False
    ) -> Any:
        """SQLite while another process holds the lock: a transaction's first read fails at
        once without a busy timeout, and with one waits (in its busy handler) until released."""
        if locked.is_set() and not here and prefix and prefix[0][0] == "BEGIN":
            if driver._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 0:
                error = sqlite3.OperationalError("database is locked")
                error.sqlite_errorcode = sqlite3.SQLITE_BUSY
                raise error
            released.wait(timeout=3)
        return run_statement(driver, prefix, operation, parameters, many, here)

    try:
        async with db.write() as conn:
            await conn.execute(t.settings.insert().values(key="k", value="1"))
        monkeypatch.setattr(driver_module, "_run_statement", as_if_locked)
        locked.set()
        before = db.trips

        async def step() -> str:
            async with db.unit(), db.read() as conn:
                return str((await conn.execute(select(t.settings.c.value))).scalar_one())

        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.create_task(step())
        for _ in range(20):
            await asyncio.sleep(0)  # the event loop runs on while the read waits...
        assert not task.done()
        assert loop.time() - started < 1  # ...not stopped in it
        assert db.trips - before == 1  # the read went to the driver's thread to wait
        locked.clear()
        released.set()
        assert await asyncio.wait_for(task, timeout=5) == "1"
    finally:
        released.set()
        await db.dispose()


@pytest.mark.postgres
async def test_a_failed_write_takes_the_deferred_record_with_it_and_it_is_written_later(
    db_url: str,
) -> None:
    db = Database(db_url)
    try:
        async with db.unit():
            await db.defer(t.settings.insert().values(key="once", value="1"))
            try:
                async with db.write() as conn:
                    await conn.execute(t.settings.insert().values(key="k", value="1"))
                    raise RuntimeError("the step fails")
            except RuntimeError:
                pass
        # Left to the next write, or to one of its own a moment later (here: at once).
        await db.write_left_over()
        async with db.read() as conn:
            keys = (await conn.execute(select(t.settings.c.key))).scalars().all()
        assert keys == ["once"]
    finally:
        await db.dispose()


def _matters_in_main_file(db_url: str) -> int:
    """Matters as the database file itself holds them, ignoring its write-ahead log."""
    path = make_url(db_url).database
    raw = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(raw.execute("SELECT count(*) FROM cases").fetchone()[0])
    finally:
        raw.close()


@pytest.mark.sqlite_only
async def test_the_tick_checkpoints_the_log_updates_never_do(
    committee: Committee, db_url: str, clock: ManualClock
) -> None:
    async with running_bot(committee, db_url, clock) as bot:
        async with bot.svc.db.read() as conn:
            autocheckpoint = (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar()
        assert autocheckpoint == 0
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await seed_case(bot, LI, "李明", "检查点")
        assert _matters_in_main_file(db_url) == 0  # still only in the log
        await bot.tick(clock.now() + timedelta(minutes=1))
        assert _matters_in_main_file(db_url) == 1


@pytest.mark.sqlite_only
async def test_each_connection_keeps_a_small_page_cache(
    committee: Committee, db_url: str, clock: ManualClock
) -> None:
    """SQLite's default 2 MiB per connection, of the bot's five or more, was most of what
    the database added to the running bot's resident size (see SQLITE_CACHE_KIB)."""
    async with running_bot(committee, db_url, clock) as bot:
        async with bot.svc.db.read() as conn:
            read = (await conn.exec_driver_sql("PRAGMA cache_size")).scalar()
        async with bot.svc.db.write() as conn:
            written = (await conn.exec_driver_sql("PRAGMA cache_size")).scalar()
    assert read == written == -512


@pytest.mark.sqlite_only
async def test_an_updates_write_waits_for_another_process_without_stopping_the_bot(
    db_url: str,
) -> None:
    """An update's write runs on the event loop's thread only when it need not wait: while
    another process holds the write lock, it waits in the driver's thread and the bot goes on."""
    db = Database(db_url)
    other = sqlite3.connect(make_url(db_url).database or "", isolation_level=None)
    try:
        async with db.read() as conn:
            await conn.execute(select(1))
        other.execute("BEGIN IMMEDIATE")

        async def step() -> None:
            async with db.unit(), db.write() as conn:
                await conn.execute(t.settings.insert().values(key="k", value="1"))

        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.create_task(step())
        for _ in range(20):
            await asyncio.sleep(0)  # the event loop runs on while the write waits...
        assert not task.done()
        assert loop.time() - started < BUSY_TIMEOUT_MS / 1000 / 2  # ...not stopped in it
        other.execute("COMMIT")
        await asyncio.wait_for(task, timeout=5)
        async with db.read() as conn:
            assert (await conn.execute(select(t.settings.c.value))).scalar_one() == "1"
    finally:
        other.close()
        await db.dispose()


@pytest.mark.sqlite_only
async def test_the_log_is_checkpointed_in_the_background_between_ticks(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "CHECKPOINT_EVERY", 3)
    db = Database(db_url)
    path = make_url(db_url).database

    def in_main_file() -> int:
        raw = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            return int(raw.execute("SELECT count(*) FROM settings").fetchone()[0])
        finally:
            raw.close()

    try:
        for key in ("a", "b"):
            async with db.write() as conn:
                await conn.execute(t.settings.insert().values(key=key, value="1"))
        assert in_main_file() == 0
        async with db.write() as conn:
            await conn.execute(t.settings.insert().values(key="c", value="1"))
        running = db._checkpointing
        assert running is not None  # started, not waited for
        await running
        assert in_main_file() == 3
    finally:
        await db.dispose()


_RECORD_EVENT = (
    t.events.insert()
    .values(
        action=bindparam("action"),
        at=bindparam("at"),
        detail=bindparam("detail"),
        actor_user_id=bindparam("actor"),
    )
    .returning(t.events.c.id)
)
_EVENTS_BY_ACTION = (
    select(t.events.c.id, t.events.c.at, t.events.c.detail, t.events.c.case_id)
    .where(t.events.c.action == bindparam("action"))
    .order_by(t.events.c.id)
)
_SETTING = t.settings.insert().values(key=bindparam("key"), value="fixed")


@pytest.mark.postgres
async def test_prebuilt_statements_run_through_the_driver_with_sqlalchemys_types(
    db_url: str,
) -> None:
    """``execute`` runs a statement built once without SQLAlchemy's execution machinery on
    SQLite (and costs an update no trip), with the rows, types, errors and statement events
    SQLAlchemy's own execution gives; elsewhere, and for what it cannot run, SQLAlchemy
    executes it."""
    db = Database(db_url)
    executions: list[object] = []  # SQLAlchemy's execution machinery at work
    statements: list[str] = []
    event.listen(db.engine.sync_engine, "before_execute", lambda *_: executions.append(1))
    event.listen(
        db.engine.sync_engine,
        "before_cursor_execute",
        # (On PostgreSQL a write transaction's advisory lock comes first: not counted.)
        lambda _conn, _cursor, sql, *_: "pg_advisory" in sql or statements.append(sql),
    )
    at = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
    try:
        async with db.unit(), db.write(), db.read():  # the connections an update keeps: set up
            pass
        executions.clear()
        statements.clear()
        before = db.trips
        async with db.unit():
            async with db.write() as conn:
                first = (
                    await execute(
                        conn,
                        _RECORD_EVENT,
                        {"action": "a", "at": at, "detail": {"k": "值"}, "actor": 1},
                    )
                ).scalar_one()
                second = (
                    await execute(
                        conn,
                        _RECORD_EVENT,
                        {"action": "a", "at": at, "detail": None, "actor": None},
                    )
                ).scalar_one()
                updated = await execute(conn, _SETTING, {"key": "k"})
                together = await execute(conn, _SETTING, [{"key": "m1"}, {"key": "m2"}])
            async with db.read() as conn:
                rows = (await execute(conn, _EVENTS_BY_ACTION, {"action": "a"})).all()
                none = (await execute(conn, _EVENTS_BY_ACTION, {"action": "b"})).first()
        assert updated.rowcount == 1
        assert [tuple(row) for row in rows] == [
            (first, at, {"k": "值"}, None),
            (second, at, None, None),
        ]
        assert rows[0].at.utcoffset() == timedelta(0) and rows[0].detail["k"] == "值"
        assert none is None
        assert len(statements) == 6  # listeners see every statement
        if db.is_sqlite:
            assert together.rowcount == 2  # (PostgreSQL's driver does not count them)
            assert executions == []
            assert db.trips == before
        async with db.read() as conn:  # what SQLAlchemy itself reads back
            stored = (await conn.execute(_EVENTS_BY_ACTION, {"action": "a"})).all()
            settings = (await conn.execute(select(t.settings).order_by("key"))).all()
        assert [tuple(row) for row in stored] == [tuple(row) for row in rows]
        assert [tuple(row) for row in settings] == [(k, "fixed") for k in ("k", "m1", "m2")]

        # A failure is SQLAlchemy's error, and the transaction goes with it.
        with pytest.raises(IntegrityError):
            async with db.unit(), db.write() as conn:
                await execute(
                    conn, _RECORD_EVENT, {"action": "c", "at": at, "detail": None, "actor": 1}
                )
                await execute(conn, _SETTING, {"key": "k"})
        async with db.unit(), db.read() as conn:
            assert (await execute(conn, _EVENTS_BY_ACTION, {"action": "c"})).all() == []

        # An IN list to expand, or a parameter left out: SQLAlchemy executes it (a column
        # left out of a bare INSERT gets its default, not NULL).
        executions.clear()
        async with db.unit(), db.write() as conn:
            await execute(conn, t.users.insert(), {"user_id": 5, "updated_at": at})
        async with db.read() as conn:
            name = (await conn.execute(select(t.users.c.first_name))).scalar_one()
        assert name == ""
        expanding = select(t.events.c.id).where(t.events.c.id.in_(bindparam("ids", expanding=True)))
        async with db.unit(), db.read() as conn:
            found = (await execute(conn, expanding, {"ids": [first, second]})).scalars().all()
            with pytest.raises(StatementError):
                await execute(conn, _EVENTS_BY_ACTION, {})
        assert sorted(found) == [first, second]
        assert len(executions) == 4  # and the plain read of the name
    finally:
        await db.dispose()


@pytest.mark.sqlite_only
async def test_an_updates_transactions_keep_their_connections(db_url: str) -> None:
    """An update's transactions reuse one connection for reads and one for writes instead of
    the pool's (which costs more than most of them); one that fails gives its back, and one
    opened while the kept one is in use takes the pool's."""
    db = Database(db_url)
    checkouts: list[object] = []
    event.listen(db.engine.sync_engine.pool, "checkout", lambda *_: checkouts.append(1))
    try:
        async with db.unit():
            for _ in range(3):
                async with db.read() as conn:
                    await execute(conn, _EVENTS_BY_ACTION, {"action": "a"})
                async with db.write() as conn:
                    await execute(conn, _SETTING, {"key": "k"})
                    await conn.execute(t.settings.delete())
        assert len(checkouts) == 2  # one for reads, one for writes, kept
        async with db.unit(), db.read() as outer, db.read() as inner:  # both at once
            assert outer.sync_connection is not inner.sync_connection
        assert len(checkouts) == 3
        with pytest.raises(RuntimeError):
            async with db.unit(), db.write() as conn:
                await execute(conn, _SETTING, {"key": "gone"})
                raise RuntimeError("the step fails")
        async with db.unit(), db.write() as conn:
            await execute(conn, _SETTING, {"key": "k"})
        assert len(checkouts) == 4  # the failed one's connection went back to the pool
        async with db.read() as conn:
            assert (await conn.execute(select(t.settings.c.key))).scalars().all() == ["k"]
    finally:
        await db.dispose()


async def test_statements_built_per_call_do_not_pile_up_in_the_prepared_cache(
    tmp_path: Path,
) -> None:
    """``execute`` keeps what it prepared with the statement; statements built per call (not
    what it is for) stop being prepared past ``PREPARED_AT_MOST`` and still run, through
    SQLAlchemy, so memory stays bounded whatever a caller does."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'p.sqlite3'}")
    try:
        await db.migrate()
        results = []
        for i in range(db_module.PREPARED_AT_MOST + 50):
            statement = select(literal(i, Integer).label("n"))  # a new statement each time
            async with db.unit(), db.read() as conn:
                results.append((await db_module.execute(conn, statement)).scalar_one())
        assert results == list(range(db_module.PREPARED_AT_MOST + 50))
        prepared = getattr(db.engine.sync_engine.dialect, db_module._PREPARED)
        assert len(prepared) == db_module.PREPARED_AT_MOST
    finally:
        await db.dispose()
