"""Shared fixtures: the example committee, a migrated temporary SQLite file, a manual clock."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.clock import ManualClock
from bot.config import Committee, load_committee
from bot.db import Database
from bot.domain.service import Coordination

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
