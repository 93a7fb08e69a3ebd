"""Database engine, transactions and migrations.

SQLite is the embedded default. Three of its behaviours shape this module:
- a deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
  another connection wrote in between, so every write transaction starts with
  ``BEGIN IMMEDIATE`` (it takes the write lock up front and waits ``busy_timeout`` for it);
- WAL lets readers proceed while one writer works;
- a checkpoint (copying the WAL back into the database, with fsync) runs inside whichever
  commit crosses the threshold; here it runs from the minute tick instead (``checkpoint``).

Updates of different users are handled side by side, so write transactions are also queued
inside the process: one at a time, and ``BEGIN IMMEDIATE`` then never sleeps in the busy
timeout waiting for another connection of the same bot.

SQLite work happens in the driver's own thread (aiosqlite), and each trip there and back
costs more than most statements (a thread wake-up, a future, an event-loop wake-up).
SQLAlchemy's adapter makes three or four trips per statement (cursor, execute, fetch, close)
and more per transaction (BEGIN, COMMIT, the pool's reset). ``_OneTripConnection`` keeps the
adapter's interface but makes one trip per statement: the transaction's ``BEGIN`` and any
statements deferred to it travel with its first statement, a read transaction's ``COMMIT``
(it only releases a snapshot) runs on the event loop's thread, and a rollback with no
transaction open costs nothing.
An update's write transactions make no trip at all: they run on the event loop's thread
(short statements under the write lock, a ``BEGIN IMMEDIATE`` that never waits there).
PostgreSQL (asyncpg) goes through the same SQLAlchemy Core layer unchanged.

A unit of work (one update, see ``unit``) may defer statements whose result nobody needs
(the once-only update record, a user's name): they commit with the unit's first write
transaction, or together in one write at its end.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import Executable, event
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.util.concurrency import await_

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
_WRITE_OPTION = "fuyuan_write"
_BARE_OPTION = "fuyuan_bare"  # no transaction at all (a PRAGMA that refuses to run in one)


def alembic_config(url: str) -> Config:
    """An Alembic configuration that needs no ini file (the CLI uses ``alembic.ini``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# ------------------------------------------------------------------ one trip per statement
Prefix = list[tuple[str, Any]]
_Outcome = tuple[Any, list[Any], int, int | None, bool]


_BEGIN_WRITE = "BEGIN IMMEDIATE"


class _WouldWait(Exception):
    """Another process holds the write lock: wait for it in the driver's thread instead."""


def _begin_at_once(raw: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE`` that never waits (it runs on the event loop's thread)."""
    raw.execute("PRAGMA busy_timeout=0").close()
    try:
        raw.execute(_BEGIN_WRITE).close()
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise _WouldWait from error
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}").close()


def _run_statement(
    driver: aiosqlite.Connection,
    prefix: Prefix,
    operation: str,
    parameters: Any,
    many: bool,
    here: bool = False,
) -> _Outcome:
    """What the transaction still owes (BEGIN, deferred statements), then the statement with
    all its rows: in the driver's thread, or ``here`` (see ``_OneTripConnection``)."""
    raw = driver._conn
    _pay(raw, prefix, here)
    cursor = raw.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description is not None else []
        return description, rows, cursor.rowcount, cursor.lastrowid, raw.in_transaction
    finally:
        cursor.close()


def _pay(raw: sqlite3.Connection, prefix: Prefix, here: bool) -> None:
    """Run what a transaction owes before its next statement (BEGIN, deferred statements)."""
    for sql, params in prefix:
        if here and sql == _BEGIN_WRITE:
            _begin_at_once(raw)
        else:
            raw.execute(sql, params).close()


def _end(driver: aiosqlite.Connection, prefix: Prefix, commit: bool, here: bool = False) -> None:
    raw = driver._conn
    if commit:
        _pay(raw, prefix, here)
        raw.commit()
    else:
        raw.rollback()


def _end_read(driver: aiosqlite.Connection, adapt: _OneTripConnection) -> None:
    """A read transaction's COMMIT, which nobody waits for: it only releases the snapshot."""
    try:
        driver._conn.commit()
    except Exception:
        logger.exception("could not end a read transaction")
    finally:
        adapt.idle = True


async def _at_once(function: Callable[[], Any]) -> Any:
    """Run ``function`` on the event loop's thread, as an awaitable that never suspends
    (SQLAlchemy's async layer expects every statement to be awaited)."""
    return function()


async def _on_driver(driver: aiosqlite.Connection, function: Callable[[], Any]) -> Any:
    """Run ``function`` in the driver's thread (one trip there and back)."""
    return await driver._execute(function)  # type: ignore[no-untyped-call]


class _OneTripCursor:
    """A DB-API cursor whose statement costs one trip to the driver's thread: it runs there
    with everything the transaction still owes, and its rows come back with it."""

    server_side = False
    arraysize = 1

    def __init__(self, adapt: _OneTripConnection) -> None:
        self._adapt = adapt
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []
        self._at = 0

    def execute(self, operation: str, parameters: Any = None) -> None:
        self._run(operation, parameters, many=False)

    def executemany(self, operation: str, parameters: Sequence[Any]) -> None:
        self._run(operation, parameters, many=True)

    def _run(self, operation: str, parameters: Any, *, many: bool) -> None:
        adapt = self._adapt
        if adapt.defer_statements and not many:
            # Owed to the transaction's next trip; nobody reads its result.
            adapt.owed.append((operation, () if parameters is None else parameters))
            return
        prefix = adapt.take_owed()
        driver = adapt._connection
        adapt.in_transaction = True  # unknown until the statement returns
        outcome: _Outcome | None = None
        try:
            if adapt.here and adapt.idle:
                with suppress(_WouldWait):  # if raised, nothing ran: the trip waits for the lock
                    run = partial(_run_statement, driver, prefix, operation, parameters, many)
                    outcome = await_(_at_once(partial(run, True)))
            if outcome is None:
                outcome = adapt.on_thread(
                    partial(_run_statement, driver, prefix, operation, parameters, many)
                )
        except Exception as error:
            adapt._handle_exception(error)
        self.description, self._rows, self.rowcount, self.lastrowid = outcome[:4]
        adapt.in_transaction = outcome[4]
        self._at = 0

    def fetchone(self) -> Any:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchmany(self, size: int | None = None) -> list[Any]:
        end = self._at + (size if size is not None else self.arraysize)
        rows = self._rows[self._at : end]
        self._at += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        rows = self._rows[self._at :]
        self._at = len(self._rows)
        return rows

    def __iter__(self) -> Any:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        self._rows = []

    async def _async_soft_close(self) -> None:
        """Nothing to close in the driver: the rows are already here."""

    def setinputsizes(self, *sizes: Any) -> None:
        pass

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        pass


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite adapter, with one trip per statement (see the module's notes).

    With ``here`` set (an update's write transaction, see ``Database.write``) statements run
    on the event loop's thread and cost no trip at all: such a transaction holds the write
    lock, its statements are short and never wait (``BEGIN IMMEDIATE`` is tried without
    waiting; when another process holds the lock, the trip waits for it instead). ``idle``
    says no COMMIT queued without waiting is still pending in the driver's thread, so the
    connection is not used from two threads at once."""

    __slots__ = (
        "begin_sql",
        "defer_statements",
        "here",
        "idle",
        "in_transaction",
        "owed",
        "wait_for_commit",
    )
    dbapi: _OneTripDBAPI
    _connection: aiosqlite.Connection  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.begin_sql: str | None = None
        self.owed: Prefix = []
        self.in_transaction = False
        self.wait_for_commit = True
        self.defer_statements = False
        self.here = False
        self.idle = True

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:
            return super().cursor(server_side=True)
        return _OneTripCursor(self)

    def begin(self, sql: str | None, *, wait_for_commit: bool) -> None:
        """Start a transaction with the next trip (None: the statements run bare)."""
        self.begin_sql = sql
        self.owed.clear()
        self.wait_for_commit = wait_for_commit

    def take_owed(self) -> Prefix:
        prefix: Prefix = [(self.begin_sql, ())] if self.begin_sql else []
        self.begin_sql = None
        if self.owed:
            prefix += self.owed
            self.owed = []
        return prefix

    def commit(self) -> None:
        driver = self._connection
        if driver._connection is None:
            return
        if self.owed:  # statements deferred to a transaction that ran nothing else
            prefix = self.take_owed()
            if not self._here(partial(_end, driver, prefix, True, True)):
                self._trip(partial(_end, driver, prefix, True))
        elif self.in_transaction and self.wait_for_commit:
            if not self._here(partial(_end, driver, [], True)):
                self._trip(partial(_end, driver, [], True))
        elif self.in_transaction and self.idle:
            # A read's COMMIT only releases its snapshot and never waits: done right here.
            await_(_at_once(partial(_end, driver, [], True)))
        elif self.in_transaction:
            # (A cancelled trip still running.) The driver's thread runs its queue in order:
            # the next statement on this connection starts after this COMMIT.
            self.idle = False
            driver._tx.put_nowait((None, partial(_end_read, driver, self)))
        self.begin_sql = None
        self.in_transaction = False

    def rollback(self) -> None:
        driver = self._connection
        self.begin_sql = None
        self.owed = []
        if driver._connection is None or not self.in_transaction:
            return  # e.g. the pool's reset after a commit: nothing is open
        if not self._here(partial(_end, driver, [], False)):
            self._trip(partial(_end, driver, [], False))
        self.in_transaction = False

    def _here(self, function: Any) -> bool:
        """Run ``function`` on this thread when allowed; False when it must take a trip."""
        if not (self.here and self.idle):
            return False
        try:
            await_(_at_once(function))
        except _WouldWait:
            return False
        except Exception as error:
            self.in_transaction = True  # unknown: a rollback will tell
            self._handle_exception(error)
        return True

    def on_thread(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` in the driver's thread: one trip. Until it has run there (even if
        the caller is cancelled meanwhile) the connection is not ``idle``."""
        self.dbapi.trips += 1
        self.idle = False

        def run() -> Any:
            try:
                return function()
            finally:
                self.idle = True

        return await_(_on_driver(self._connection, run))

    def _trip(self, function: Any) -> None:
        try:
            self.on_thread(function)
        except Exception as error:
            self.in_transaction = True  # unknown: a rollback will tell
            self._handle_exception(error)


class _OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module SQLAlchemy's SQLite dialect is given: ``_OneTripConnection``s, and
    the number of trips to the driver's threads (the benchmark shows it per update)."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)
        self.trips = 0

    def connect(self, *arg: Any, **kw: Any) -> _OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins and how.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # No checkpoint inside an update's commit: the tick runs them (Database.checkpoint).
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        write = options.get(_WRITE_OPTION, False)
        sql = None if options.get(_BARE_OPTION) else "BEGIN IMMEDIATE" if write else "BEGIN"
        dbapi_connection = conn.connection.dbapi_connection
        if isinstance(dbapi_connection, _OneTripConnection):
            dbapi_connection.begin(sql, wait_for_commit=write)
        elif sql is not None:
            conn.exec_driver_sql(sql)


# ------------------------------------------------------------------ units of work
Deferred = tuple[Executable, dict[str, Any] | None]


@dataclass(eq=False)
class _Unit:
    """Statements deferred in one unit of work (one update) and not yet committed."""

    statements: list[Deferred] = field(default_factory=list)
    open: bool = True


_UNIT: ContextVar[_Unit | None] = ContextVar("fuyuan_unit", default=None)


class Database:
    """Owns the engine; hands out read and write transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self._dbapi = _OneTripDBAPI() if parsed.get_driver_name() == "aiosqlite" else None
        extra: dict[str, Any] = {}
        if self._dbapi is not None:
            # An update's write transactions run on the event loop's thread (see
            # _OneTripConnection), the rest in the driver's thread: never both at once.
            extra = {"module": self._dbapi, "connect_args": {"check_same_thread": False}}
        # hide_parameters: a database error's message (logged with its traceback) names the
        # statement, never the values it carried (names, texts, tokens).
        self.engine: AsyncEngine = create_async_engine(url, hide_parameters=True, **extra)
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine)
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._bare_engine = self.engine.execution_options(**{_BARE_OPTION: True})
        self._writer = asyncio.Lock()
        self._writing: asyncio.Task[Any] | None = None
        # Prebuilt statements deferred with parameters, compiled once: (statement, SQL,
        # parameter names in order, their converters).
        self._compiled: dict[int, tuple[Executable, str, list[str], list[Any]]] = {}

    @property
    def trips(self) -> int:
        """Trips to the SQLite driver's threads so far (0 on other databases)."""
        return self._dbapi.trips if self._dbapi is not None else 0

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that may write: all or nothing, never 'database is locked' at once.
        One at a time in this process; a write opened inside another would wait for itself,
        so it is refused loudly instead. The first one of a unit of work also commits what
        the unit deferred; inside a unit (an update) it runs on the event loop's thread."""
        async with self._write(_UNIT.get()) as conn:
            yield conn

    @asynccontextmanager
    async def _write(self, unit: _Unit | None) -> AsyncIterator[AsyncConnection]:
        task = asyncio.current_task()
        if task is not None and task is self._writing:
            raise RuntimeError("a write transaction inside another one")
        async with self._writer:
            self._writing = task
            try:
                async with self._write_engine.connect() as conn:
                    raw = (await conn.get_raw_connection()).dbapi_connection
                    here = raw if unit is not None and isinstance(raw, _OneTripConnection) else None
                    if here is not None:
                        # An update's writes are short: no trips (see _OneTripConnection).
                        here.here = True
                    try:
                        owed = list(unit.statements) if unit is not None else []
                        async with conn.begin():
                            if owed:
                                await self._defer(conn, owed)
                            yield conn
                        if owed and unit is not None:
                            del unit.statements[: len(owed)]  # committed
                    finally:
                        if here is not None:
                            here.here = False
            finally:
                self._writing = None

    async def _defer(self, conn: AsyncConnection, statements: list[Deferred]) -> None:
        """Run statements at the start of the transaction. On SQLite they travel with its
        next trip (nobody reads their results), prebuilt ones without SQLAlchemy's execution
        machinery (compiled once, their parameters converted here)."""
        raw = (await conn.get_raw_connection()).dbapi_connection
        rest = list(statements)
        while rest and isinstance(raw, _OneTripConnection) and rest[0][1] is not None:
            statement, params = rest[0]
            compiled = self._compile(statement)
            if compiled is None or params is None:
                break
            sql, names, converters = compiled
            values = tuple(
                convert(params[name]) if convert is not None else params[name]
                for name, convert in zip(names, converters, strict=True)
            )
            raw.owed.append((sql, values))
            del rest[0]
        if not rest:
            return

        def _run(sync_conn: Connection) -> None:
            if isinstance(raw, _OneTripConnection):
                raw.defer_statements = True
            try:
                for statement, params in rest:
                    sync_conn.execute(statement, params)
            finally:
                if isinstance(raw, _OneTripConnection):
                    raw.defer_statements = False

        await conn.run_sync(_run)

    def _compile(self, statement: Executable) -> tuple[str, list[str], list[Any]] | None:
        """SQL and parameter converters of a prebuilt SQLite statement whose every parameter
        is given by name (None when SQLAlchemy must execute it)."""
        known = self._compiled.get(id(statement))
        if known is not None and known[0] is statement:
            return known[1:]
        if not isinstance(statement, ClauseElement):
            return None
        compiled: Any = statement.compile(dialect=self.engine.dialect)
        names = list(compiled.positiontup or ())
        if "POSTCOMPILE" in compiled.string or any(
            compiled.binds[name].value is not None or compiled.binds[name].callable
            for name in names
        ):
            return None
        dialect = self.engine.dialect
        converters = [compiled.binds[name].type.bind_processor(dialect) for name in names]
        self._compiled[id(statement)] = (statement, compiled.string, names, converters)
        return compiled.string, names, converters

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """One unit of work (an update): what it defers (``defer``) commits with its first
        write transaction, or in one write transaction of its own when it ends. The unit's
        work is done by then, so a failure of that last write is logged, not raised."""
        unit = _Unit()
        token = _UNIT.set(unit)
        try:
            yield
        finally:
            _UNIT.reset(token)
            unit.open = False  # a task it started that defers later writes at once
            if unit.statements:
                try:
                    async with self._write(unit):
                        pass
                except Exception:
                    logger.exception("could not write what a unit of work deferred")

    async def defer(self, statement: Executable, params: dict[str, Any] | None = None) -> None:
        """Write ``statement`` with the current unit of work's first write transaction (or at
        its end); outside a unit, now. For statements whose result nobody needs. A statement
        built once with ``bindparam``s and given ``params`` costs the least."""
        unit = _UNIT.get()
        if unit is not None and unit.open:
            unit.statements.append((statement, params))
            return
        async with self.write() as conn:
            await conn.execute(statement, params)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only snapshot."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def checkpoint(self) -> None:
        """Copy SQLite's write-ahead log back into the database without blocking anyone
        (PASSIVE); the periodic tick calls this, so no update's commit ever pays for it."""
        if not self.is_sqlite:
            return
        async with self._bare_engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    async def migrate(self) -> None:
        """Apply Alembic migrations up to head on this engine's database."""
        cfg = alembic_config(self.url)

        def _upgrade(sync_conn: Connection) -> None:
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, "head")

        async with self.write() as conn:
            await conn.run_sync(_upgrade)
        logger.info("database schema is at the latest revision")

    async def dispose(self) -> None:
        await self.engine.dispose()
