"""SQLite's DB-API adapter for SQLAlchemy's async engine: few trips to aiosqlite's thread.

SQLite work happens in the driver's own thread, and each trip there and back costs more than
most statements (a thread wake-up, a future, an event-loop wake-up). SQLAlchemy's aiosqlite
adapter makes three or four trips per statement (cursor, execute, fetch, close) and more per
transaction (BEGIN, COMMIT, the pool's reset). ``OneTripConnection`` keeps that adapter's
interface and makes at most one: the transaction's ``BEGIN`` and any statements deferred to it
travel with its first statement, a read's ``COMMIT`` (it only releases a snapshot) runs on the
event loop's thread, a rollback with no transaction open costs nothing, and an update's
transactions (``here``: its writes, and its reads, which are short lookups) run on the event
loop's thread altogether.

It relies on aiosqlite's and SQLAlchemy's adapter internals (both pinned in requirements.txt);
``tests/test_storage.py`` counts the trips.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000

Prefix = list[tuple[str, Any]]
_Outcome = tuple[Any, list[Any], int, int | None, bool]


_BEGIN_WRITE = "BEGIN IMMEDIATE"
BEGIN_READ = "BEGIN"


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
    all its rows: in the driver's thread, or ``here`` (see ``OneTripConnection``)."""
    raw = driver._conn
    if here and prefix and prefix[0][0] == BEGIN_READ:
        return _read_at_once(driver, prefix, operation, parameters, many)
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


def _read_at_once(
    driver: aiosqlite.Connection, prefix: Prefix, operation: str, parameters: Any, many: bool
) -> _Outcome:
    """A read transaction's first statement on the event loop's thread. It takes the read
    snapshot, which with the write-ahead log waits only in rare moments (another process
    recovering the log): then it does not wait here but in the driver's thread, from the
    start (nothing it ran is kept)."""
    raw = driver._conn
    raw.execute("PRAGMA busy_timeout=0").close()
    try:
        return _run_statement(driver, prefix, operation, parameters, many)
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            if raw.in_transaction:
                raw.rollback()
            raise _WouldWait from error
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}").close()


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


def _end_read(driver: aiosqlite.Connection, adapt: OneTripConnection) -> None:
    """A read transaction's COMMIT, which nobody waits for: it only releases the snapshot."""
    try:
        driver._conn.commit()
    except Exception:
        logger.exception("could not end a read transaction")
    finally:
        adapt.idle = True


async def _at_once(function: Callable[[], Any]) -> Any:
    """Run ``function`` on the event loop's thread, as an awaitable that never suspends
    (SQLAlchemy's async layer requires every statement's execution to await something)."""
    return function()


async def _on_driver(driver: aiosqlite.Connection, function: Callable[[], Any]) -> Any:
    """Run ``function`` in the driver's thread (one trip there and back)."""
    return await driver._execute(function)  # type: ignore[no-untyped-call]


class OneTripCursor:
    """A DB-API cursor whose statement costs one trip to the driver's thread: it runs there
    with everything the transaction still owes, and its rows come back with it."""

    server_side = False
    arraysize = 1

    def __init__(self, adapt: OneTripConnection) -> None:
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


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite adapter, with one trip per statement (see the module's notes).

    With ``here`` set (an update's transaction, see ``Database.write`` and ``read``)
    statements run on the event loop's thread and cost no trip at all: a write transaction
    holds the write lock, a read one its snapshot, their statements are short and never wait
    (``BEGIN IMMEDIATE`` and a read's first statement are tried without waiting; when
    another process holds the lock, the trip waits for it instead). ``idle``
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
    dbapi: OneTripDBAPI
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
        return OneTripCursor(self)

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
            _end(driver, [], True)
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
            function()
        except _WouldWait:
            return False
        except Exception as error:
            self.in_transaction = True  # unknown: a rollback will tell
            self._handle_exception(error)
        return True

    def ends_here(self) -> bool:
        """Whether a COMMIT or ROLLBACK now runs on this thread at once, never taking a trip
        nor waiting for a lock: nothing is owed (a deferred statement's ``BEGIN IMMEDIATE``
        may have to wait), and the connection is the event loop's (``here``) and ``idle``.
        ``bot.storage.db`` then ends the transaction without SQLAlchemy's greenlet."""
        return self.here and self.idle and not self.owed

    def on_thread(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` in the driver's thread: one trip (from SQLAlchemy's side)."""
        return await_(self.trip(function))

    async def trip(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` in the driver's thread: one trip. Until it has run there (even if
        the caller is cancelled meanwhile) the connection is not ``idle``."""
        self.dbapi.trips += 1
        self.idle = False

        def run() -> Any:
            try:
                return function()
            finally:
                self.idle = True

        return await _on_driver(self._connection, run)

    async def run_prepared(self, operation: str, parameters: Any, many: bool = False) -> _Outcome:
        """One statement already compiled, outside SQLAlchemy's execution machinery (see
        ``bot.storage.db.execute``): what ``OneTripCursor`` does, awaited directly. Raises the
        driver's own exceptions; the transaction is then in an unknown state (a rollback
        will tell)."""
        prefix = self.take_owed()
        driver = self._connection
        self.in_transaction = True  # unknown until the statement returns
        outcome: _Outcome | None = None
        if self.here and self.idle:
            with suppress(_WouldWait):  # if raised, nothing ran: the trip waits for the lock
                outcome = _run_statement(driver, prefix, operation, parameters, many, True)
        if outcome is None:
            outcome = await self.trip(
                partial(_run_statement, driver, prefix, operation, parameters, many)
            )
        self.in_transaction = outcome[4]
        return outcome

    def _trip(self, function: Any) -> None:
        try:
            self.on_thread(function)
        except Exception as error:
            self.in_transaction = True  # unknown: a rollback will tell
            self._handle_exception(error)


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module SQLAlchemy's SQLite dialect is given: ``OneTripConnection``s, and
    the number of trips to the driver's threads (the benchmark shows it per update)."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)
        self.trips = 0

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)
