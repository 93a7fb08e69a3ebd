"""Database engine, transactions and migrations.

SQLite is the embedded default. Two of its behaviours shape this module:
- a deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
  another connection wrote in between, so every write transaction starts with
  ``BEGIN IMMEDIATE`` (it takes the write lock up front and waits ``busy_timeout`` for it);
- WAL lets readers proceed while one writer works.

Updates of different users are handled side by side, so write transactions are also queued
inside the process: one at a time, and ``BEGIN IMMEDIATE`` then never sleeps in the busy
timeout waiting for another connection of the same bot.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import AdaptedConnection, Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

if TYPE_CHECKING:  # Alembic is imported only when a migration is due (see Database.migrate).
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
_WRITE_OPTION = "fuyuan_write"


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
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        sql = "BEGIN IMMEDIATE" if write else "BEGIN"
        dbapi_connection = conn.connection.dbapi_connection
        if isinstance(dbapi_connection, AdaptedConnection):
            # Straight to the driver: one trip to aiosqlite's thread instead of three (cursor,
            # execute, close) plus a statement's worth of SQLAlchemy bookkeeping. Every
            # transaction of the bot starts here. execute_fetchall keeps the sqlite3 cursor
            # inside the driver's thread, where the connection lives.
            try:
                dbapi_connection.run_async(lambda driver: driver.execute_fetchall(sql))
            except sqlite3.Error as error:  # e.g. "database is locked" after busy_timeout
                raise DBAPIError.instance(sql, None, error, sqlite3.Error) from error
        else:
            conn.exec_driver_sql(sql)


class Database:
    """Owns the engine; hands out read and write transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: a database error's message (logged with its traceback) names the
        # statement, never the values it carried (names, texts, tokens).
        self.engine: AsyncEngine = create_async_engine(url, hide_parameters=True)
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine)
        self._writer = asyncio.Lock()
        self._writing: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that may write: all or nothing, never 'database is locked' at once.
        One at a time in this process; a write opened inside another would wait for itself,
        so it is refused loudly instead."""
        task = asyncio.current_task()
        if task is not None and task is self._writing:
            raise RuntimeError("a write transaction inside another one")
        async with self._writer:
            self._writing = task
            try:
                async with self.engine.connect() as conn:
                    conn = await conn.execution_options(**{_WRITE_OPTION: True})
                    async with conn.begin():
                        yield conn
            finally:
                self._writing = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only snapshot."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

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
        await self.engine.dispose()
