"""``python -m bot.health``: what a container's health check sees of a running bot — the last
tick and the outbox backlog, read from the database alone."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.health import Health, check, serve, version
from bot.storage.db import schema_head
from tests.conftest import ROOT
from tests.flows import LI, ZHAO, member, seed_case
from tests.scenario import running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


def path_of(db_url: str) -> Path | str:
    """What ``check`` reads: the SQLite file, or the PostgreSQL URL itself."""
    return db_url if db_url.startswith("postgresql") else Path(db_url.split("///", 1)[1])


async def health(where: Path | str, now: datetime) -> Health:
    """The check as the command runs it: a process of its own, here a thread of its own."""
    return await asyncio.to_thread(check, where, now=now)


async def test_health_follows_the_tick_and_the_outbox(committee: Committee, db_url: str) -> None:
    db = path_of(db_url)
    async with running_bot(committee, db_url) as bot:
        start = bot.clock.now()
        first = await health(db, start)
        assert not first.healthy and first.problems == ["no tick recorded yet"]

        await bot.tick()
        ok = await health(db, start)
        assert ok.healthy and ok.tick_age_s == 0 and ok.due == 0
        assert ok.revision == schema_head()
        assert ok.line().startswith("fuyuan-bot: ok (last tick 0 s ago; outbox 0 due, ")

        # A matter's notice to the court is queued; the bot then stops ticking (hung).
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        case = await seed_case(bot, LI, "李明", "林地权属争议")
        later = start + timedelta(minutes=11)
        stuck = await health(db, later)
        assert not stuck.healthy
        assert stuck.due >= 1 and stuck.oldest_due_age_s is not None
        assert stuck.problems == [
            "no tick for 11 min",
            f"{stuck.due} message(s) due for up to {stuck.oldest_due_age_s // 60} min and not sent",
        ]
        assert not any(case.number in text for text in bot.fake.texts_to(zhao))

        # Ticking again delivers the backlog: healthy, and the court has its notice.
        await bot.tick(later)
        again = await health(db, later)
        assert again.healthy and again.due == 0 and again.tick_age_s == 0
        assert any(case.number in text for text in bot.fake.texts_to(zhao))


def test_the_command_prints_one_line_and_exits_1_when_unhealthy(
    db_url: str, tmp_path: Path
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": db_url,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.health", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    result = run()
    assert result.returncode == 1
    assert result.stdout.strip() == (
        "fuyuan-bot: unhealthy: no tick recorded yet (last tick never; outbox 0 due, "
        f"0 waiting to retry, 0 failed in 24 h; schema {schema_head()})"
    )
    report = json.loads(run("--json").stdout)
    assert report["healthy"] is False and report["due"] == 0

    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'none.sqlite3'}"
    missing = run()
    assert missing.returncode == 2
    assert "there is no database at" in missing.stderr
    assert not (tmp_path / "none.sqlite3").exists()  # looking never creates it

    if db_url.startswith("postgresql"):
        # A PostgreSQL database it cannot read: it cannot tell, and says where, not the password.
        url = make_url(db_url)
        env["DATABASE_URL"] = url.set(database="no_such_database").render_as_string(False)
        unreadable = run()
        assert unreadable.returncode == 2
        assert "cannot read the PostgreSQL database" in unreadable.stderr
        assert "no_such_database" in unreadable.stderr
        assert url.password and url.password not in unreadable.stderr


async def raw_request(port: int, data: bytes) -> tuple[int, dict[str, object]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert b"Content-Type: application/json" in head and b"Connection: close" in head
    return status, json.loads(body)


async def test_the_endpoint_answers_healthz_only(committee: Committee, db_url: str) -> None:
    db = path_of(db_url)
    async with running_bot(committee, db_url) as bot:
        now = bot.clock.now
        server = await serve("127.0.0.1", 0, db, now=now)
        port = server.sockets[0].getsockname()[1]
        try:
            status, body = await raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status == 503 and body["problems"] == ["no tick recorded yet"]
            await bot.tick()
            status, body = await raw_request(port, b"GET /healthz?x=1 HTTP/1.0\r\n\r\n")
            assert status == 200 and body["healthy"] is True and body["database"] is True
            assert body["revision"] == schema_head() and body["version"] == version()
            health = await asyncio.to_thread(check, db, now=now())
            assert body == {**asdict(health), "database": True, "version": version()}
            assert (await raw_request(port, b"POST /healthz HTTP/1.1\r\n\r\n"))[0] == 405
            assert (await raw_request(port, b"GET / HTTP/1.1\r\n\r\n"))[0] == 404
            assert (await raw_request(port, b"hello\r\n\r\n"))[0] == 400
        finally:
            server.close()
            await server.wait_closed()


async def test_the_endpoint_says_503_without_a_database(tmp_path: Path) -> None:
    server = await serve("127.0.0.1", 0, tmp_path / "none.sqlite3")
    try:
        port = server.sockets[0].getsockname()[1]
        status, body = await raw_request(port, b"GET /healthz HTTP/1.1\r\n\r\n")
    finally:
        server.close()
        await server.wait_closed()
    assert status == 503 and body["database"] is False and body["healthy"] is False
    assert "there is no database at" in str(body["problems"])
