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

SQLite work happens in aiosqlite's thread; ``bot.storage.driver`` keeps the trips there few
(at most one per statement, none for an update's writes). PostgreSQL (asyncpg) goes through
the same SQLAlchemy Core layer, with SQLite's two guarantees made explicit: a read sees one
snapshot (``REPEATABLE READ``, read only), and one write transaction at a time, also across
processes (each takes one advisory lock first, as ``BEGIN IMMEDIATE`` takes the write lock).

A unit of work (one update, see ``unit``) may defer statements whose result nobody needs
(the once-only update record, a user's name): they commit with the unit's first write
transaction. A unit that wrote nothing (most reads: /my, /case) leaves them to the next write
transaction of any kind, or to one write of their own ``LEFT_OVER_WITHIN`` after it ended:
read-only updates then share a write instead of taking one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Executable, event, text
from sqlalchemy.engine import Connection, CursorResult, Dialect, RootTransaction, make_url
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncTransaction,
    create_async_engine,
)
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.util.concurrency import greenlet_spawn

from bot.storage.driver import BUSY_TIMEOUT_MS, OneTripConnection, OneTripDBAPI

if TYPE_CHECKING:  # Alembic is imported only when a migration is due (see Database.migrate).
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_WRITE_OPTION = "fuyuan_write"
_BARE_OPTION = "fuyuan_bare"  # no transaction at all (a PRAGMA that refuses to run in one)
CHECKPOINT_EVERY = 1000  # write transactions (a few MB of log)
# How long what a unit that wrote nothing deferred may wait for another write to go with
# (seconds). A crash in that time only loses the record of read-only updates: redelivered,
# one of them is answered again.
LEFT_OVER_WITHIN = 0.2
# SQLite's page cache per connection, in KiB (its default: 2,000). 512 KiB takes some 5 MiB
# off the running bot's resident size with five connections open, CPU per update unchanged.
SQLITE_CACHE_KIB = 512
# PostgreSQL: the advisory lock every write transaction holds (any fixed number; "fuyu").
WRITE_LOCK_KEY = 0x66757975


def alembic_config(url: str) -> Config:
    """An Alembic configuration that needs no ini file (the CLI uses ``alembic.ini``)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


_REVISION = re.compile(r"^revision(?:: [^=]+)? = [\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?:: [^=]+)? = [\"']([^\"']+)[\"']", re.MULTILINE)


def schema_head() -> str | None:
    """The head revision, read from the migration files' text (no Alembic import): the one
    revision no other one revises. None if that is not one revision (Alembic then decides)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text("utf-8")
        revisions.update(_REVISION.findall(source))
        revised.update(_DOWN_REVISION.findall(source))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


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
        # Each connection (one per driver thread, up to the pool's overflow) keeps its own
        # page cache; in WAL mode it is emptied whenever another connection has written, so
        # the default 2 MiB mostly held pages no read came back for (see SQLITE_CACHE_KIB).
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        write = options.get(_WRITE_OPTION, False)
        sql = None if options.get(_BARE_OPTION) else "BEGIN IMMEDIATE" if write else "BEGIN"
        dbapi_connection = conn.connection.dbapi_connection
        if isinstance(dbapi_connection, OneTripConnection):
            dbapi_connection.begin(sql, wait_for_commit=write)
        elif sql is not None:
            conn.exec_driver_sql(sql)


def _here(conn: AsyncConnection) -> OneTripConnection | None:
    """The connection's SQLite adapter if it can run statements on the event loop's thread
    (read without awaiting: the pool has already checked it out)."""
    raw = conn.sync_connection.connection.dbapi_connection if conn.sync_connection else None
    return raw if isinstance(raw, OneTripConnection) else None


class _Transaction:
    """``conn.begin()``: SQLAlchemy's transaction, begun and ended without its greenlet when
    the connection is an update's on SQLite (``here``). Its BEGIN and COMMIT then do no I/O
    that could wait (BEGIN travels with the first statement; see ``OneTripConnection``), and
    the greenlet SQLAlchemy's async layer spawns for each (with its switches) costs more CPU
    than most of an update's transactions themselves. SQLAlchemy's own bookkeeping (the
    transaction's state, its events) is kept; an end that may have to wait or take a trip to
    the driver's thread goes through the greenlet as before. (A class, not a generator: an
    async generator costs more to set up and tear down than this whole bookkeeping.)"""

    __slots__ = ("_async", "_conn", "_here", "_sync")

    def __init__(self, conn: AsyncConnection, here: OneTripConnection | None) -> None:
        self._conn = conn
        self._here = here
        self._sync: RootTransaction | None = None
        self._async: AsyncTransaction | None = None

    async def __aenter__(self) -> None:
        sync_conn = self._conn.sync_connection
        if self._here is None or sync_conn is None:
            self._async = self._conn.begin()
            await self._async.__aenter__()
        else:
            self._sync = sync_conn.begin()  # (the "begin" hook only notes the BEGIN to send)
            self._sync.__enter__()

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if self._async is not None:
            await self._async.__aexit__(type_, value, traceback)
        elif self._sync is not None and self._here is not None:
            if self._here.ends_here():
                self._sync.__exit__(type_, value, traceback)
            else:
                await greenlet_spawn(self._sync.__exit__, type_, value, traceback)


def _install_postgres_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_WRITE_OPTION, False):
            # Held until the transaction ends: writers queue here, not in a serialisation
            # failure, whichever process they are in.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")


# ------------------------------------------------------------------ prepared statements
@dataclass(frozen=True, slots=True)
class _Fixed:
    """A parameter's value fixed in the statement (``values(x=1)``)."""

    value: Any

    def __call__(self) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A statement compiled once for SQLite's driver: its SQL, its parameters' names in
    order with their converters and fixed values, its result's columns (see
    ``execute``)."""

    sql: str
    names: list[str]
    converters: list[Callable[[Any], Any] | None]
    fixed: list[Callable[[], Any] | None]
    columns: SimpleResultMetaData | None


_PREPARED = "fuyuan_prepared"  # the dialect's attribute holding its prepared statements
# The most statements prepared per dialect. ``execute`` is for statements built once, a few
# dozen; one built per call by mistake would otherwise keep every copy (and its compiled SQL)
# alive: past this bound, new statements go through SQLAlchemy, whose cache is bounded.
PREPARED_AT_MOST = 512
# How long ``Database.prepare`` may compile before it lets the event loop run others
# (seconds): a statement takes 0.1 to 0.7 ms to compile (the first one up to 1.3 ms), so no
# stretch holds the loop for much more than 2 ms.
PREPARE_STRETCH = 0.0005


def _prepare(dialect: Dialect, statement: Executable) -> _Prepared | None:
    """A prebuilt SQLite statement compiled once for the dialect (None when SQLAlchemy must
    execute it: an expanding IN, defaults computed in Python, parameter names escaped)."""
    known: dict[int, tuple[Executable, _Prepared | None]] | None = getattr(dialect, _PREPARED, None)
    if known is None:
        known = {}
        setattr(dialect, _PREPARED, known)
    found = known.get(id(statement))
    if found is not None and found[0] is statement:
        return found[1]
    if not isinstance(statement, ClauseElement) or len(known) >= PREPARED_AT_MOST:
        return None
    compiled: Any = statement.compile(dialect=dialect)
    prepared: _Prepared | None = None
    if not (
        "POSTCOMPILE" in compiled.string
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.escaped_bind_names
        or any(bind.expanding for bind in compiled.binds.values())
    ):
        names = list(compiled.positiontup or ())
        binds = [compiled.binds[name] for name in names]
        columns = compiled._result_columns
        prepared = _Prepared(
            sql=compiled.string,
            names=names,
            converters=[bind.type._cached_bind_processor(dialect) for bind in binds],
            # A parameter neither given nor fixed (a column left to its default, a bare
            # ``insert()``'s) sends the statement to SQLAlchemy, which knows what to do.
            fixed=[
                bind.callable
                if bind.callable
                else _Fixed(bind.value)
                if bind.value is not None
                else None
                for bind in binds
            ],
            columns=(
                SimpleResultMetaData(
                    [column.keyname for column in columns],
                    _processors=[
                        column.type._cached_result_processor(dialect, None) for column in columns
                    ],
                )
                if columns
                else None
            ),
        )
    # Kept with the statement itself: an id is reused only once its object is gone.
    known[id(statement)] = (statement, prepared)
    return prepared


def _values(prepared: _Prepared, params: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """The statement's parameters in order, converted as SQLAlchemy would (None when one is
    missing: SQLAlchemy then executes it and says which)."""
    values = []
    for name, convert, fixed in zip(
        prepared.names, prepared.converters, prepared.fixed, strict=True
    ):
        if params is not None and name in params:
            value = params[name]
        elif fixed is not None:
            value = fixed()
        else:
            return None
        values.append(convert(value) if convert is not None else value)
    return tuple(values)


class Rows(IteratorResult[Any]):
    """A prepared statement's result (see ``execute``): SQLAlchemy's, with the rows counted
    as its cursor's result would count them."""

    rowcount: int


async def execute(
    conn: AsyncConnection,
    statement: Executable,
    params: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
) -> Rows | CursorResult[Any]:
    """``conn.execute(statement, params)`` for a statement built once (module-level, with
    ``bindparam``s). On SQLite it runs through the driver directly, compiled once, without
    SQLAlchemy's per-execution machinery (cache key, execution context, result set-up), which
    costs several times what SQLite itself does for an update's short statements; its rows
    come back as SQLAlchemy's, their values converted by the same types, and the engine's
    ``before_cursor_execute`` listeners still see it. A list of parameter sets is run as one
    ``executemany`` (no rows; ``rowcount`` counts the rows changed). Anything else (another
    database, a statement this cannot run) goes through SQLAlchemy."""
    raw = _here(conn)
    prepared = _prepare(conn.dialect, statement) if raw is not None else None
    many = not (params is None or isinstance(params, dict))
    values: Any = None
    if prepared is not None and isinstance(params, dict | None):
        values = _values(prepared, params)
    elif prepared is not None and params and prepared.columns is None:
        values = [_values(prepared, one) for one in cast(Sequence[dict[str, Any]], params)]
        if None in values:
            values = None
    sync_conn = conn.sync_connection
    if (
        raw is None
        or prepared is None
        or values is None
        or raw.defer_statements
        or sync_conn is None
        or not sync_conn.in_transaction()  # (SQLAlchemy would begin one)
    ):
        return await conn.execute(statement, params)
    if sync_conn.dispatch.before_cursor_execute:
        sync_conn.dispatch.before_cursor_execute(sync_conn, None, prepared.sql, values, None, many)
    error_class = conn.dialect.loaded_dbapi.Error
    try:
        description, rows, rowcount, _, _ = await raw.run_prepared(prepared.sql, values, many)
    except error_class as error:
        raise DBAPIError.instance(
            prepared.sql, values, error, error_class, hide_parameters=True, dialect=conn.dialect
        ) from error
    if prepared.columns is None or description is None:
        result = Rows(SimpleResultMetaData([]), iter(()))
        result._soft_close()
    else:
        result = Rows(prepared.columns, iter(rows))
    result.rowcount = rowcount
    return result


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
        self._dbapi = OneTripDBAPI() if parsed.get_driver_name() == "aiosqlite" else None
        extra: dict[str, Any] = {}
        if self._dbapi is not None:
            # An update's write transactions run on the event loop's thread (see
            # OneTripConnection), the rest in the driver's thread: never both at once.
            extra = {"module": self._dbapi, "connect_args": {"check_same_thread": False}}
        # hide_parameters: a database error's message (logged with its traceback) names the
        # statement, never the values it carried (names, texts, tokens).
        self.engine: AsyncEngine = create_async_engine(url, hide_parameters=True, **extra)
        self._read_engine = self.engine
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine)
        elif parsed.get_backend_name() == "postgresql":
            _install_postgres_hooks(self.engine)
            # Set as the transaction begins (no extra trip to the server).
            self._read_engine = self.engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._bare_engine = self.engine.execution_options(**{_BARE_OPTION: True})
        self._writer = asyncio.Lock()
        # Connections kept for an update's transactions (see ``_connect``), by write or not.
        self._held: dict[bool, AsyncConnection] = {}
        self._busy: set[bool] = set()
        self._writing: asyncio.Task[Any] | None = None
        self._written = 0  # write transactions since the last checkpoint
        self._checkpointing: asyncio.Task[None] | None = None
        # Statements deferred by units that ended without writing (see ``unit``).
        self._left_over: list[Deferred] = []
        self._left_over_task: asyncio.Task[None] | None = None
        self.left_over_within = LEFT_OVER_WITHIN  # (tests wait longer)

    @asynccontextmanager
    async def _connect(self, *, write: bool, held: bool) -> AsyncIterator[AsyncConnection]:
        """A connection for one transaction. An update's (``held``) use one kept checked out
        for its kind, reads or writes, while nobody else uses it: checking one out of the
        pool and returning it (events, reset, bookkeeping) costs more CPU than most of an
        update's transactions. Others, and a second one at the same time, use the pool. A
        transaction that fails gives its connection back (the next one takes a fresh one)."""
        engine = self._write_engine if write else self._read_engine
        if not held or write in self._busy:
            async with engine.connect() as conn:
                yield conn
            return
        kept = self._held.get(write)
        conn = kept if kept is not None else await engine.connect()
        self._held[write] = conn
        self._busy.add(write)
        clean = False
        try:
            yield conn
            clean = True
        finally:
            self._busy.discard(write)
            if not clean:
                if self._held.get(write) is conn:
                    del self._held[write]
                await conn.close()

    async def prepare(
        self, statements: Iterable[Executable], *, stretch: float = PREPARE_STRETCH
    ) -> int:
        """Compile prebuilt statements now, as ``execute`` would on their first run, so that
        no update pays for it (a fraction of a millisecond each), letting the event loop run
        others whenever ``stretch`` seconds have gone by (``statements`` may be built as they
        are taken: that time counts too). Only on SQLite through this module's driver
        (elsewhere ``execute`` prepares nothing); returns how many it compiled. Stops at
        ``PREPARED_AT_MOST``: the rest are compiled on their first run, as before, or go
        through SQLAlchemy once the bound is reached."""
        if self._dbapi is None:
            return 0
        dialect = self.engine.dialect

        def known() -> int:
            return len(getattr(dialect, _PREPARED, None) or ())

        before = known()
        started = time.perf_counter()
        for statement in statements:
            if known() >= PREPARED_AT_MOST:
                logger.warning("%s statements prepared, the bound: not all warmed", known())
                break
            _prepare(dialect, statement)  # a statement already there is only looked up
            if time.perf_counter() - started >= stretch:
                await asyncio.sleep(0)
                started = time.perf_counter()
        return known() - before

    @property
    def trips(self) -> int:
        """Trips to the SQLite driver's threads so far (0 on other databases)."""
        return self._dbapi.trips if self._dbapi is not None else 0

    @asynccontextmanager
    async def write(self, *, scan: bool = False) -> AsyncIterator[AsyncConnection]:
        """A transaction that may write: all or nothing, never 'database is locked' at once.
        One at a time in this process; a write opened inside another would wait for itself,
        so it is refused loudly instead. The first one of a unit of work also commits what
        the unit deferred; inside a unit (an update) it runs on the event loop's thread,
        unless it may go through many rows (``scan``: a new holiday calendar recounting
        every open deadline), which stay in the driver's thread as ``read(scan=True)``'s do."""
        async with self._write(_UNIT.get(), scan=scan) as conn:
            yield conn

    @asynccontextmanager
    async def _write(
        self, unit: _Unit | None, *, scan: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        task = asyncio.current_task()
        if task is not None and task is self._writing:
            raise RuntimeError("a write transaction inside another one")
        async with self._writer:
            self._writing = task
            try:
                quick = unit is not None and not scan and self._dbapi is not None
                async with self._connect(write=True, held=quick) as conn:
                    here = _here(conn) if quick else None
                    if here is not None:
                        # An update's writes are short: no trips (see OneTripConnection).
                        here.here = True
                    try:
                        own = list(unit.statements) if unit is not None else []
                        left = len(self._left_over)
                        owed = own + self._left_over[:left]
                        async with _Transaction(conn, here):
                            if owed:
                                await self._defer(conn, owed)
                            yield conn
                        if own and unit is not None:
                            del unit.statements[: len(own)]  # committed
                        del self._left_over[:left]  # (appended to only, never taken elsewhere)
                    finally:
                        if here is not None:
                            here.here = False
            finally:
                self._writing = None
        self._written += 1
        if self._written >= CHECKPOINT_EVERY and self.is_sqlite and self._checkpointing is None:
            # Between ticks (or without them, e.g. a bulk import) the log stays bounded; the
            # checkpoint runs in the background, in the driver's thread.
            self._checkpointing = asyncio.get_running_loop().create_task(self._checkpoint_now())

    async def _defer(self, conn: AsyncConnection, statements: list[Deferred]) -> None:
        """Run statements at the start of the transaction. On SQLite they travel with its
        next trip (nobody reads their results), prebuilt ones without SQLAlchemy's execution
        machinery (compiled once, their parameters converted here)."""
        raw = _here(conn) if self._dbapi is not None else None
        rest = list(statements)
        while rest and isinstance(raw, OneTripConnection) and rest[0][1] is not None:
            statement, params = rest[0]
            prepared = _prepare(conn.dialect, statement)
            values = _values(prepared, params) if prepared is not None else None
            if prepared is None or values is None:
                break
            raw.owed.append((prepared.sql, values))
            del rest[0]
        if not rest:
            return

        def _run(sync_conn: Connection) -> None:
            if isinstance(raw, OneTripConnection):
                raw.defer_statements = True
            try:
                for statement, params in rest:
                    sync_conn.execute(statement, params)
            finally:
                if isinstance(raw, OneTripConnection):
                    raw.defer_statements = False

        await conn.run_sync(_run)

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
                # Written with the next write transaction, or on their own a moment later.
                self._left_over.extend(unit.statements)
                unit.statements.clear()
                if self._left_over_task is None:
                    loop = asyncio.get_running_loop()
                    delay = self.left_over_within
                    self._left_over_task = loop.create_task(self._write_left_over(delay))

    async def _write_left_over(self, delay: float) -> None:
        """Commit what units that wrote nothing deferred, unless another write took it."""
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            if self._left_over:
                async with self._write(None):
                    pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("could not write what units of work deferred")
        finally:
            self._left_over_task = None

    async def write_left_over(self) -> None:
        """Commit now what units that wrote nothing deferred (before closing, and in tests)."""
        task = self._left_over_task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._left_over_task = None
        if self._left_over:
            try:
                async with self._write(None):
                    pass
            except Exception:
                logger.exception("could not write what units of work deferred")

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
    async def read(self, *, scan: bool = False) -> AsyncIterator[AsyncConnection]:
        """A read-only snapshot. Inside a unit of work (an update) on SQLite it is read on the
        event loop's thread: an update's reads are short lookups, and a trip to the driver's
        thread would cost more CPU than most of them (see ``OneTripConnection``). A read that
        may go through many rows (``scan``: a digest, a page of /my) stays in the driver's
        thread, where SQLite lets the bot go on with other updates meanwhile."""
        quick = not scan and self._dbapi is not None and _UNIT.get() is not None
        async with self._connect(write=False, held=quick) as conn:
            here = _here(conn) if quick else None
            if here is not None:
                here.here = True
            try:
                async with _Transaction(conn, here):
                    yield conn
            finally:
                if here is not None:
                    here.here = False

    async def checkpoint(self) -> None:
        """Copy SQLite's write-ahead log back into the database without blocking anyone
        (PASSIVE); the periodic tick calls this (and every ``CHECKPOINT_EVERY`` write
        transactions start one in the background), so no update's commit ever pays for it."""
        if not self.is_sqlite:
            return
        self._written = 0
        async with self._bare_engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    async def _checkpoint_now(self) -> None:
        try:
            await self.checkpoint()
        except Exception:
            logger.exception("could not checkpoint the database's write-ahead log")
        finally:
            self._checkpointing = None

    async def _revision(self) -> str | None:
        """The revision the database is at (None for a new database), in one query."""
        try:
            async with self.read() as conn:
                rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        except DBAPIError:  # no such table: nothing was ever migrated here
            return None
        return rows[0][0] if len(rows) == 1 else None

    async def migrate(self) -> None:
        """Apply Alembic migrations up to head on this engine's database.

        Importing Alembic costs a tenth of a second and more of start-up: on a database
        already at head (every start but the first after an upgrade) it is not imported."""
        head = schema_head()
        if head is not None and await self._revision() == head:
            logger.info("database schema is at the latest revision")
            return
        from alembic import command

        cfg = alembic_config(self.url)

        def _upgrade(sync_conn: Connection) -> None:
            cfg.attributes["connection"] = sync_conn
            command.upgrade(cfg, "head")

        async with self.write() as conn:
            await conn.run_sync(_upgrade)
        logger.info("database schema is at the latest revision")

    async def dispose(self) -> None:
        await self.write_left_over()
        if self._checkpointing is not None:
            await self._checkpointing
        while self._held:
            await self._held.popitem()[1].close()
        await self.engine.dispose()
