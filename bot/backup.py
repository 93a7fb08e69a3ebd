"""``python -m bot.backup <dest>``: a consistent copy of the bot's SQLite database, safe while
the bot runs and writes.

Copying the file is not a backup: in WAL mode the latest transactions live in ``-wal`` beside
it, and a copy taken during a write is torn. SQLite's online backup API copies one snapshot
through an ordinary read transaction, which in WAL mode never blocks the bot's writes. The
copy is checked (``PRAGMA integrity_check``), made one self-contained file (no WAL), written
under a temporary name and renamed into place, so a backup that exists is a whole one.

``dest`` is a file, or a directory in which ``fuyuan-YYYYmmdd-HHMMSS.sqlite3`` is written;
with ``--keep N`` only the newest N such files stay there (for a schedule).
``python -m bot.restore <src>`` puts a backup back (see ``restore``).

Only the standard library here (and python-dotenv for ``.env``): a scheduled backup or the
container's health check should not pay for importing the bot.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sqlite3
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dotenv import load_dotenv

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/fuyuan.sqlite3"
VERSIONS_DIR = Path(__file__).resolve().parent / "storage" / "migrations" / "versions"
BACKUP_PREFIX = "fuyuan-"
BACKUP_SUFFIX = ".sqlite3"
_BACKUP_NAME = re.compile(r"^fuyuan-\d{8}-\d{6}(-\d+)?\.sqlite3$")
_REVISION = re.compile(r"^revision(?:: [^=]+)? = [\"']([^\"']+)[\"']", re.MULTILINE)
# Tables every fuyuan-bot database has had since its first release.
CORE_TABLES = frozenset({"alembic_version", "cases", "events", "members", "outbox", "settings"})
# Where SQLite's unix VFS keeps the lock every connection to a WAL database holds while open
# (the "DMS" byte of the -shm file: 120 + 8 lock slots).
_SHM_DMS_OFFSET = 128


class OperatorError(Exception):
    """Something the operator must fix; the message says what (exit code 2)."""


def database_path(env: Mapping[str, str] | None = None) -> Path:
    """The SQLite file ``DATABASE_URL`` names (relative to the working directory, as for the
    bot); an error for another database (PostgreSQL has pg_dump)."""
    env = os.environ if env is None else env
    url = env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    scheme, sep, rest = url.partition(":///")
    if not sep or not scheme.split("+", 1)[0] == "sqlite":
        raise OperatorError(
            f"DATABASE_URL is not an SQLite file ({scheme or url}); "
            "back up other databases with their own tools (PostgreSQL: pg_dump)."
        )
    path = rest.partition("?")[0]
    if not path or path == ":memory:":
        raise OperatorError("DATABASE_URL names no database file.")
    return Path(path)


def known_revisions() -> frozenset[str]:
    """Every schema revision of this release's migrations (read from their text)."""
    found: set[str] = set()
    for path in VERSIONS_DIR.glob("*.py"):
        found.update(_REVISION.findall(path.read_text("utf-8")))
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Summary:
    """What a database holds, for the one line a command prints."""

    revision: str
    matters: int
    size: int

    def describe(self) -> str:
        return f"schema {self.revision}, {self.matters} matter(s), {_size(self.size)}"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    amount = size / 1024
    for unit in ("KB", "MB"):
        if amount < 1024:
            return f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


@contextlib.contextmanager
def _connect(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    uri = f"{path.resolve().as_uri()}?mode={'ro' if read_only else 'rw'}"
    conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def inspect(path: Path) -> Summary:
    """Check that ``path`` is a whole fuyuan-bot database at a schema this release knows.

    Opens it read-only: the file being restored is never changed by looking at it."""
    if not path.is_file():
        raise OperatorError(f"{path} is not a file.")
    try:
        with _connect(path, read_only=True) as conn:
            check = conn.execute("PRAGMA integrity_check").fetchall()
            if check != [("ok",)]:
                raise OperatorError(f"{path} is damaged (integrity check: {check[0][0]}).")
            tables = {
                name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            missing = sorted(CORE_TABLES - tables)
            if missing:
                raise OperatorError(
                    f"{path} is not a fuyuan-bot database (no {', '.join(missing)} table)."
                )
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            matters = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise OperatorError(f"{path} is not an SQLite database ({exc}).") from None
    if len(rows) != 1:
        raise OperatorError(f"{path} has no single schema revision.")
    revision = str(rows[0][0])
    if revision not in known_revisions():
        raise OperatorError(
            f"{path} is at schema {revision!r}, which this release does not know "
            "(written by a newer release?)."
        )
    return Summary(revision, int(matters), path.stat().st_size)


def _copy(source: sqlite3.Connection, target: Path) -> None:
    """The online backup API into a new file ``target``, made self-contained and synced."""
    with contextlib.closing(sqlite3.connect(target, isolation_level=None)) as dest:
        # One step (pages=-1): one read transaction, one consistent snapshot. In steps, every
        # write of the bot's in between would restart the copy.
        source.backup(dest, pages=-1)
        dest.execute("PRAGMA journal_mode=DELETE")
        check = dest.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            raise OperatorError(f"the copy failed its integrity check: {check[0][0]}.")
    with target.open("rb") as handle:
        os.fsync(handle.fileno())


def _temporary(beside: Path) -> Path:
    return beside.with_name(f".{beside.name}.{os.getpid()}.partial")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be synced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def backup(source: Path, dest: Path, *, now: datetime | None = None) -> tuple[Path, Summary]:
    """Copy the database at ``source`` to ``dest`` (a file, or a directory for a dated name)."""
    if not source.is_file():
        raise OperatorError(f"there is no database at {source} (DATABASE_URL).")
    if dest.is_dir():
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
        target = dest / f"{BACKUP_PREFIX}{stamp}{BACKUP_SUFFIX}"
        n = 1
        while target.exists():
            n += 1
            target = dest / f"{BACKUP_PREFIX}{stamp}-{n}{BACKUP_SUFFIX}"
    else:
        if not dest.parent.is_dir():
            raise OperatorError(f"{dest.parent} is not a directory.")
        target = dest
    if target.resolve() == source.resolve():
        raise OperatorError("the backup cannot replace the database itself.")
    partial = _temporary(target)
    partial.unlink(missing_ok=True)
    try:
        with _connect(source) as conn:
            _copy(conn, partial)
        summary = inspect(partial)
        partial.replace(target)
        _fsync_dir(target.parent)
    finally:
        partial.unlink(missing_ok=True)
    return target, Summary(summary.revision, summary.matters, target.stat().st_size)


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups this command wrote in ``directory``."""
    ours = sorted(
        (p for p in directory.iterdir() if _BACKUP_NAME.match(p.name) and p.is_file()),
        key=lambda p: (p.stat().st_mtime, p.name),
    )
    old = ours[: max(len(ours) - keep, 0)]
    for path in old:
        path.unlink()
    return old


def in_use(path: Path) -> bool:
    """Whether another process has the database open.

    Every connection to a WAL database holds a shared lock on one byte of its ``-shm`` file
    for as long as it is open (SQLite checks it to know whether it is the last one); the bot
    keeps its connections open while it runs. If that byte can be locked exclusively, nobody
    has the database open. Must not be called by a process that opened ``path`` itself (POSIX
    locks belong to the process: they would not conflict, and closing would drop SQLite's).
    """
    import fcntl

    shm = path.with_name(path.name + "-shm")
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_OFFSET)
        except OSError:
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _SHM_DMS_OFFSET)
        return False
    finally:
        os.close(fd)


def restore(
    source: Path, target: Path, *, now: datetime | None = None
) -> tuple[Path | None, Summary]:
    """Put the backup at ``source`` in place of the database at ``target``.

    Refuses if ``source`` is not a whole fuyuan-bot database at a schema this release knows
    (an older one is fine: the bot upgrades it when it starts), or while anything has
    ``target`` open. The database it replaces (with its write-ahead log) is kept beside it as
    ``<name>.before-restore-<time>``, whose path is returned (None if there was none)."""
    summary = inspect(source)
    if target.exists() and source.resolve() == target.resolve():
        raise OperatorError("the backup is the database itself.")
    if in_use(target):
        raise OperatorError(
            f"{target} is in use: stop the bot (and anything else using the database) first."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = _temporary(target)
    partial.unlink(missing_ok=True)
    kept: Path | None = None
    try:
        with _connect(source, read_only=True) as conn:
            _copy(conn, partial)
        if target.exists():
            stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
            kept = target.with_name(f"{target.name}.before-restore-{stamp}")
            target.replace(kept)
            # The log goes with its database: SQLite finds "<name>-wal" beside "<name>".
            for suffix in ("-wal", "-shm"):
                side = target.with_name(target.name + suffix)
                if side.exists():
                    side.replace(kept.with_name(kept.name + suffix))
        partial.replace(target)
        _fsync_dir(target.parent)
    finally:
        partial.unlink(missing_ok=True)
    return kept, summary


def _run(main: str, argv: Sequence[str] | None) -> int:
    load_dotenv()
    try:
        if main == "backup":
            return _backup_main(argv)
        return _restore_main(argv)
    except OperatorError as exc:
        print(f"fuyuan-bot: {main}: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as exc:
        print(f"fuyuan-bot: {main} failed: {exc}", file=sys.stderr)
        return 1


def _backup_main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.backup",
        description="Copy the bot's SQLite database (DATABASE_URL) safely while it runs.",
    )
    parser.add_argument("dest", type=Path, help="a file, or a directory for a dated file")
    parser.add_argument(
        "--keep",
        type=int,
        metavar="N",
        help="with a directory: keep only the newest N backups made there",
    )
    args = parser.parse_args(argv)
    if args.keep is not None and (args.keep < 1 or not args.dest.is_dir()):
        raise OperatorError("--keep needs a number from 1 and a directory as the destination.")
    target, summary = backup(database_path(), args.dest)
    print(f"fuyuan-bot: backed up {database_path()} to {target} ({summary.describe()}).")
    if args.keep is not None:
        for old in prune(args.dest, args.keep):
            print(f"fuyuan-bot: removed the older backup {old}.")
    return 0


def _restore_main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.restore",
        description=(
            "Replace the bot's SQLite database (DATABASE_URL) with a backup; the bot must be "
            "stopped. The replaced database is kept beside it."
        ),
    )
    parser.add_argument("src", type=Path, help="a backup made by python -m bot.backup")
    args = parser.parse_args(argv)
    target = database_path()
    kept, summary = restore(args.src, target)
    line = f"fuyuan-bot: restored {target} from {args.src} ({summary.describe()})"
    if kept is not None:
        line += f"; the previous database is kept as {kept}"
    print(line + ".")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return _run("backup", argv)


def restore_main(argv: Sequence[str] | None = None) -> int:
    return _run("restore", argv)


if __name__ == "__main__":
    sys.exit(main())
