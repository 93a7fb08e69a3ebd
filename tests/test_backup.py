"""Backups and restores of the SQLite database: ``python -m bot.backup`` while the bot writes,
``python -m bot.restore`` refusing what it must."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.backup import backup, known_revisions
from bot.domain.committee import Committee
from bot.domain.errors import DomainError
from bot.domain.models import Role
from bot.storage.db import schema_head
from tests.flows import LI, member, seed_case
from tests.scenario import running_bot

# The SQLite file itself (PostgreSQL has pg_dump).
pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parent.parent


def path_of(db_url: str) -> Path:
    return Path(db_url.split("///", 1)[1])


def writer(path: Path) -> sqlite3.Connection:
    """Another connection, as the bot opens them: WAL, no automatic checkpoint."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def write_pair(conn: sqlite3.Connection, i: int) -> None:
    """One transaction writing two tables: a consistent copy has both rows or neither."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO settings (key, value) VALUES (?, ?)", (f"w{i}", "x" * 500))
    conn.execute("INSERT INTO counters (kind, year, value) VALUES ('w', ?, ?)", (i, i))
    conn.execute("COMMIT")


def pairs(path: Path) -> tuple[set[int], set[int]]:
    with sqlite3.connect(path) as conn:
        keys = {int(k[1:]) for (k,) in conn.execute("SELECT key FROM settings WHERE key LIKE 'w%'")}
        years = {y for (y,) in conn.execute("SELECT year FROM counters WHERE kind = 'w'")}
    return keys, years


def run(module: str, *args: str, db: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cwd),
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
    }
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_backup_taken_while_another_connection_writes_is_whole_and_consistent(
    db_url: str, tmp_path: Path
) -> None:
    source = path_of(db_url)
    conn = writer(source)
    for i in range(2000):  # about a megabyte, all of it still in the write-ahead log
        write_pair(conn, i)
    # Copying the file is not a backup: the committed rows are in fuyuan.sqlite3-wal.
    shutil.copy(source, tmp_path / "copied.sqlite3")
    assert pairs(tmp_path / "copied.sqlite3") == (set(), set())

    # A transaction of the bot's is open (write lock held, rows not committed) throughout.
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO settings (key, value) VALUES ('open-txn', 'not committed')")
    # Meanwhile another connection keeps committing, as the bot's courier would.
    other = writer(source)
    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:
        i = 10_000
        while not stop.is_set():
            write_pair(other, i)  # waits for the open transaction, then goes on
            written.append(i)
            i += 1

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        target, summary = backup(source, tmp_path / "backup.sqlite3")
        conn.execute("COMMIT")  # the backup never held the writer up
        while len(written) < 20:  # and writes go on after it
            threading.Event().wait(0.01)
    finally:
        stop.set()
        thread.join()
        conn.close()
        other.close()

    assert target == tmp_path / "backup.sqlite3"
    assert summary.revision == schema_head()
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file
        assert copy.execute("SELECT count(*) FROM settings WHERE key = 'open-txn'").fetchone() == (
            0,
        )
    keys, years = pairs(target)
    assert keys == years  # every transaction whole or absent
    assert set(range(2000)) <= keys  # everything committed before the backup began
    assert not list(tmp_path.glob(".*partial"))  # no temporary file left behind


def test_backup_to_a_directory_keeps_the_newest(db_url: str, tmp_path: Path) -> None:
    db = path_of(db_url)
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "notes.txt").write_text("not ours")
    printed = []
    for _ in range(3):
        result = run("bot.backup", str(backups), "--keep", "2", db=db, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        printed.append(result.stdout)
    names = sorted(p.name for p in backups.iterdir())
    assert len(names) == 3 and "notes.txt" in names
    assert all(
        re.fullmatch(r"fuyuan-\d{8}-\d{6}(-\d+)?\.sqlite3", n) for n in names if n != "notes.txt"
    )
    assert f"backed up {db} to {backups}/fuyuan-" in printed[0]
    assert f"(schema {schema_head()}, 0 matter(s), " in printed[0]
    assert "removed the older backup" in printed[2]


def test_backup_refuses_postgresql_and_a_missing_database(tmp_path: Path) -> None:
    missing = run("bot.backup", str(tmp_path), db=tmp_path / "none.sqlite3", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f"fuyuan-bot: backup: there is no database at {tmp_path / 'none.sqlite3'} (DATABASE_URL)."
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    env["DATABASE_URL"] = "postgresql+asyncpg://bot@db/fuyuan"
    pg = subprocess.run(
        [sys.executable, "-m", "bot.backup", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert pg.returncode == 2 and "pg_dump" in pg.stderr


def not_fuyuan(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: not_fuyuan(p), "is not a fuyuan-bot database (no alembic_version, cases"),
        (lambda p: p.write_text("just text " * 100) and p, "is not an SQLite database"),
    ],
)
def test_restore_refuses_what_is_not_a_fuyuan_bot_database(
    db_url: str, tmp_path: Path, make: object, message: str
) -> None:
    db = path_of(db_url)
    before = db.read_bytes()
    source = make(tmp_path / "source.sqlite3")  # type: ignore[operator]
    result = run("bot.restore", str(source), db=db, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.splitlines()) == 1
    assert db.read_bytes() == before


def test_restore_refuses_a_schema_this_release_does_not_know(db_url: str, tmp_path: Path) -> None:
    db = path_of(db_url)
    source = tmp_path / "newer.sqlite3"
    shutil.copy(db, source)
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0042_future'")
    assert "0042_future" not in known_revisions()
    result = run("bot.restore", str(source), db=db, cwd=tmp_path)
    assert result.returncode == 2
    assert "at schema '0042_future', which this release does not know" in result.stderr


async def test_restore_refuses_while_the_bot_runs_then_restores_and_keeps_the_old(
    committee: Committee, db_url: str, tmp_path: Path
) -> None:
    db = path_of(db_url)
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        first = await seed_case(bot, LI, "李明", "林地权属争议")
        saved = run("bot.backup", str(tmp_path / "saved.sqlite3"), db=db, cwd=tmp_path)
        assert saved.returncode == 0, saved.stderr
        assert "1 matter(s)" in saved.stdout
        second = await seed_case(bot, LI, "李明", "征收补偿争议")  # after the backup

        refused = run("bot.restore", str(tmp_path / "saved.sqlite3"), db=db, cwd=tmp_path)
        assert refused.returncode == 2
        assert refused.stderr.strip() == (
            f"fuyuan-bot: restore: {db} is in use: stop the bot "
            "(and anything else using the database) first."
        )
        assert await bot.svc.get_case(second.id)  # the running bot's database is untouched

    result = run("bot.restore", str(tmp_path / "saved.sqlite3"), db=db, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    kept = re.search(r"the previous database is kept as (\S+)\.$", result.stdout.strip())
    assert kept is not None, result.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT number FROM cases").fetchall() == [(first.number,)]
    with sqlite3.connect(kept.group(1)) as conn:
        numbers = {n for (n,) in conn.execute("SELECT number FROM cases")}
    assert numbers == {first.number, second.number}

    # The bot starts on the restored database and carries on from it.
    async with running_bot(committee, db_url) as bot:
        assert (await bot.svc.get_case(first.id)).title == "林地权属争议"
        with pytest.raises(DomainError):
            await bot.svc.find_case(second.number)
