"""Shared fixtures: the example committee, a migrated temporary database, a manual clock.

Every test that takes ``db_url`` runs on SQLite; those marked ``postgres`` run on PostgreSQL
too (``--all-on-postgres``: every one of them), each on a database of its own, cloned from one
migrated once per session. PostgreSQL is the server at ``TEST_DATABASE_URL`` (a role that may
create databases; ``scripts/postgres.sh`` sets one up); without it those runs are skipped,
unless ``FUYUAN_REQUIRE_POSTGRES=1`` (CI), where that is an error.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.clock import ManualClock
from bot.config import load_committee
from bot.domain.committee import Committee
from bot.services.coordination import Coordination
from bot.storage.db import Database
from tests.postgres import (
    REQUIRE_POSTGRES,
    PostgresServer,
    postgres_server,
)

# As bot.py does: python-telegram-bot's time spans as timedelta (no deprecation warnings).
os.environ.setdefault("PTB_TIMEDELTA", "1")

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
ADMIN_ID = 1001


@pytest.fixture
def committee() -> Committee:
    base = load_committee(ROOT / "committee.example.toml")
    return dataclasses.replace(base, admins=frozenset({ADMIN_ID}))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))


SQLITE = "sqlite"
POSTGRES = "postgresql"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all-on-postgres",
        action="store_true",
        help="run every test that takes a database on PostgreSQL too, not only those marked",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgres(only=False): run on PostgreSQL too, or only (TEST_DATABASE_URL)"
    )
    config.addinivalue_line(
        "markers", "sqlite_only: about SQLite itself (its file, its log): never on PostgreSQL"
    )
    if REQUIRE_POSTGRES and not os.environ.get("TEST_DATABASE_URL"):
        raise pytest.UsageError(
            "FUYUAN_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set: the PostgreSQL tests "
            "cannot run (scripts/postgres.sh sets a server up)."
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The database a test runs on, as a parameter: [sqlite], and [postgresql] when marked."""
    if "database" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("postgres")
    if metafunc.definition.get_closest_marker("sqlite_only") is not None:
        kinds = [SQLITE]
    elif marker is not None and marker.kwargs.get("only"):
        kinds = [POSTGRES]
    elif marker is not None or metafunc.config.getoption("--all-on-postgres"):
        kinds = [SQLITE, POSTGRES]
    else:
        kinds = [SQLITE]
    metafunc.parametrize("database", kinds, indirect=True)


_skipped_on_postgres: list[str] = []


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """The database kind this run of the test is on (see ``pytest_generate_tests``)."""
    kind: str = getattr(request, "param", SQLITE)
    if kind == POSTGRES and not os.environ.get("TEST_DATABASE_URL"):
        _skipped_on_postgres.append(request.node.nodeid)
        pytest.skip("PostgreSQL: TEST_DATABASE_URL is not set")
    return kind


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say it loudly once when the PostgreSQL runs were skipped (the default on a machine
    without a server): a green run then did not test PostgreSQL."""
    if _skipped_on_postgres:
        terminalreporter.write_sep(
            "!",
            f"{len(_skipped_on_postgres)} tests were NOT run on PostgreSQL: set "
            "TEST_DATABASE_URL (as root, ./scripts/test sets a server up)",
            red=True,
            bold=True,
        )


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once per session; each test copies the file (migrations take ~100 ms)."""
    import asyncio

    path = tmp_path_factory.mktemp("template") / "template.sqlite3"

    async def _migrate() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.migrate()
        await db.dispose()

    asyncio.run(_migrate())
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The PostgreSQL server of ``TEST_DATABASE_URL``; its databases are dropped at the end."""
    with postgres_server(os.environ["TEST_DATABASE_URL"]) as server:
        yield server


@pytest.fixture
def db_url(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if database == POSTGRES:
        server: PostgresServer = request.getfixturevalue("postgres")
        with server.fresh_database(migrated=True) as url:
            yield url
        return
    template: Path = request.getfixturevalue("migrated_template")
    target = tmp_path / "fuyuan.sqlite3"
    shutil.copy(template, target)
    yield f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def empty_db_url(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database that was never migrated (for the migrations' own tests)."""
    if database == POSTGRES:
        server: PostgresServer = request.getfixturevalue("postgres")
        with server.fresh_database(migrated=False) as url:
            yield url
        return
    yield f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
async def svc(db: Database, committee: Committee, clock: ManualClock) -> Coordination:
    service = Coordination(db, committee, clock, SHANGHAI)
    await service.bootstrap_admins()
    return service


# ---------------------------------------------------------------------------- secrets

TOKEN_PATTERN = re.compile(r"bot\d+:[A-Za-z0-9_-]+|\d{6,}:[A-Za-z0-9_-]{30,}")


class _SecretWatch(logging.Handler):
    """Sees every log record of the test run (DEBUG included) and keeps any that shows a
    bot token, in its message or its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if TOKEN_PATTERN.search(text):
            self.leaks.append(text[:300])


@pytest.fixture(autouse=True)
def no_token_in_logs() -> Iterator[None]:
    from bot.logs import install_redaction

    install_redaction()  # as the bot's setup_logging does, at the source of URL logs
    watch = _SecretWatch()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(watch)
    root.setLevel(logging.DEBUG)
    # As the bot's setup_logging does: httpx would log every URL (with the token) at INFO.
    # aiosqlite writes a DEBUG line per SQLite call: slow, and never a token.
    quiet = {"httpx": logging.WARNING, "httpcore": logging.WARNING, "aiosqlite": logging.INFO}
    saved = {name: logging.getLogger(name).level for name in quiet}
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(watch)
        root.setLevel(old_level)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    assert watch.leaks == [], "a bot token reached the logs"
