"""Shared fixtures: the example committee, a migrated temporary SQLite file, a manual clock."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.clock import ManualClock
from bot.config import load_committee
from bot.domain.committee import Committee
from bot.services.coordination import Coordination
from bot.storage.db import Database

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


@pytest.fixture
def db_url(tmp_path: Path, migrated_template: Path) -> str:
    target = tmp_path / "fuyuan.sqlite3"
    shutil.copy(migrated_template, target)
    return f"sqlite+aiosqlite:///{target}"


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
