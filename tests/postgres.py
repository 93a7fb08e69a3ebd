"""Throw-away PostgreSQL databases for the tests, on the server of ``TEST_DATABASE_URL``.

Each test gets a database of its own: created from a template that was migrated once per
session (``CREATE DATABASE … TEMPLATE`` copies files: a few tens of milliseconds), dropped after
the test. Names carry the pytest process's id, so several test runs can share one server and a
run that was killed leaves nothing behind for long: the next run drops what dead processes left.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, MetaData
from sqlalchemy.engine import URL, make_url
from sqlalchemy.sql import sqltypes

from bot.storage.db import Database, alembic_config

# CI sets it: the PostgreSQL tests must run there, never be skipped.
REQUIRE_POSTGRES = os.environ.get("FUYUAN_REQUIRE_POSTGRES", "") == "1"

T = TypeVar("T")
_NAME = re.compile(r"^fuyuan_test_(\d+)_\w+$")


def _in_thread(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to the end on an event loop of its own (the caller may be inside one)."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        async def main() -> T:
            return await make()

        try:
            result.append(asyncio.run(main()))
        except BaseException as exc:  # handed to the caller
            error.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


class PostgresServer:
    """Creates and drops the tests' databases through an administrative connection URL."""

    def __init__(self, url: str) -> None:
        self.url: URL = make_url(url)
        if self.url.get_backend_name() != "postgresql":
            raise ValueError(f"TEST_DATABASE_URL is not a PostgreSQL URL: {self.url!r}")
        self.url = self.url.set(drivername="postgresql+asyncpg")
        self._numbers = itertools.count(1)
        self._template: str | None = None

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    async def _admin(self, *statements: str) -> list[Any]:
        import asyncpg

        conn = await asyncpg.connect(
            host=self.url.host,
            port=self.url.port or 5432,
            user=self.url.username,
            password=self.url.password,
            database=self.url.database or "postgres",
        )
        try:
            return [await conn.fetch(statement) for statement in statements]
        finally:
            await conn.close()

    def _new_name(self, what: str) -> str:
        return f"fuyuan_test_{os.getpid()}_{what}{next(self._numbers)}"

    def clear_leftovers(self) -> None:
        """Drop the databases of test runs whose process is gone (a run that was killed)."""
        if self.url.host not in ("127.0.0.1", "localhost", "::1"):
            return  # another machine's processes cannot be told apart from dead ones
        (rows,) = _in_thread(lambda: self._admin("SELECT datname FROM pg_database"))
        for (name,) in rows:
            found = _NAME.match(name)
            if found is None or _alive(int(found.group(1))):
                continue
            self.drop(name)

    def template(self) -> str:
        """A database at the latest schema revision, made once (the test databases' model)."""
        if self._template is None:
            name = self._new_name("template")
            self.create(name)

            async def migrate() -> None:
                db = Database(self.url_of(name))
                try:
                    await db.migrate()
                finally:
                    await db.dispose()

            _in_thread(migrate)
            self._template = name
        return self._template

    def create(self, name: str, template: str = "template0") -> None:
        _in_thread(lambda: self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

    def drop(self, name: str) -> None:
        """Drop a database, whoever is still connected to it.

        ``WITH (FORCE)`` ends the other sessions; an autovacuum worker that has just started on a
        freshly migrated database belongs to no role, so a role without ``pg_signal_backend``
        (``scripts/postgres.sh`` grants it; another server may not) is refused: the worker is
        gone within moments, so the drop is tried again a few times before it fails.
        """
        import asyncpg

        async def drop() -> None:
            for attempt in range(20):
                try:
                    await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    return
                except asyncpg.InsufficientPrivilegeError:
                    if attempt == 19:
                        raise
                    await asyncio.sleep(0.25)

        _in_thread(drop)

    @contextmanager
    def fresh_database(self, *, migrated: bool) -> Iterator[str]:
        """The URL of a new database (empty, or at the latest revision), dropped afterwards."""
        template = self.template() if migrated else "template0"
        name = self._new_name("db")
        self.create(name, template)
        try:
            yield self.url_of(name)
        finally:
            self.drop(name)

    def close(self) -> None:
        if self._template is not None:
            self.drop(self._template)
            self._template = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def postgres_server(url: str) -> Iterator[PostgresServer]:
    server = PostgresServer(url)
    server.clear_leftovers()
    try:
        yield server
    finally:
        server.close()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one SQL statement on the PostgreSQL database at ``url`` (a look from outside,
    as a test of the bot's process takes with sqlite3 on its file)."""
    import asyncpg

    target = make_url(url)

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(
            host=target.host,
            port=target.port or 5432,
            user=target.username,
            password=target.password,
            database=target.database,
        )
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    return _in_thread(run)


def load_sqlite_database(source: Path, url: str, revision: str) -> None:
    """Bring the database at ``url`` (empty) to ``revision`` and copy every row of the SQLite
    file ``source`` (at that revision) into it, as an office moving to PostgreSQL would with
    a data copy tool: values converted to the column types, sequences set past the copied ids."""

    async def load() -> None:
        db = Database(url)
        try:
            async with db.write() as conn:
                await conn.run_sync(partial(_load, source, url, revision))
        finally:
            await db.dispose()

    _in_thread(load)


def _load(source: Path, url: str, revision: str, sync_conn: Connection) -> None:
    from alembic import command

    cfg = alembic_config(url)
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, revision)
    tables = MetaData()
    tables.reflect(sync_conn)
    with closing(sqlite3.connect(f"file:{source}?immutable=1", uri=True)) as old:
        for table in tables.sorted_tables:
            if table.name == "alembic_version":
                continue
            cursor = old.execute(f'SELECT * FROM "{table.name}"')
            names = [d[0] for d in cursor.description]
            rows = [
                {
                    name: _value(table.c[name].type, value)
                    for name, value in zip(names, row, strict=True)
                }
                for row in cursor.fetchall()
            ]
            if rows:
                sync_conn.execute(table.insert(), rows)
    serials = sync_conn.exec_driver_sql(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
        " AND (column_default LIKE 'nextval(%%' OR is_identity = 'YES')"
    ).all()
    for table_name, column in serials:
        sync_conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('\"{table_name}\"', '{column}'),"
            f' (SELECT max("{column}") FROM "{table_name}"))'
            f' WHERE EXISTS (SELECT 1 FROM "{table_name}")'
        )


def _value(kind: Any, value: Any) -> Any:
    """A value as SQLite stored it, as the PostgreSQL column of type ``kind`` takes it."""
    if value is None:
        return None
    if isinstance(kind, sqltypes.DateTime):
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if isinstance(kind, sqltypes.Date):
        return date.fromisoformat(value)
    if isinstance(kind, sqltypes.Boolean):
        return bool(value)
    if isinstance(kind, sqltypes.JSON):
        return json.loads(value)
    return value
