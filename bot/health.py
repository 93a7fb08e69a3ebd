"""``python -m bot.health``: is the bot doing its work? For a container's HEALTHCHECK, a
systemd timer or a monitoring probe; exit code 0 healthy, 1 not, 2 cannot tell.

It opens the database read-only (the SQLite file, or PostgreSQL through asyncpg) and looks
at what the bot leaves there: when the minute tick last ran to its end
(``settings.last_tick``) and the outbox — messages due but not sent, the oldest of them, those
waiting for a retry, those given up in the last day. A process that is up but hung, or
ticking but unable to deliver, shows here; it needs no port and no access to the bot's
process. One line (or ``--json``), no SQLAlchemy: it runs every half minute and must stay
cheap.

The running bot serves the same judgement over HTTP (``serve``: GET /healthz on
``HEALTH_LISTEN``, 200 healthy, 503 not, JSON) and to the office in chat (/status): one
definition of healthy, whoever asks.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sqlite3
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import load_dotenv

from bot.backup import OperatorError, database_path

LAST_TICK = "last_tick"  # bot.services.scheduled.LAST_TICK (not imported: no SQLAlchemy here)
MAX_TICK_AGE = timedelta(minutes=5)  # the tick runs every minute
MAX_BACKLOG_AGE = timedelta(minutes=10)  # the courier runs every 5 s
_WAITING = ("pending", "retry", "sending")


@dataclass(frozen=True, slots=True)
class Health:
    healthy: bool
    problems: list[str]
    revision: str | None
    last_tick: str | None
    tick_age_s: int | None
    due: int
    oldest_due_age_s: int | None
    retrying: int
    failed_24h: int

    def line(self) -> str:
        tick = "never" if self.tick_age_s is None else f"{_ago(self.tick_age_s)} ago"
        oldest = "" if self.oldest_due_age_s is None else f", oldest {_ago(self.oldest_due_age_s)}"
        state = "ok" if self.healthy else "unhealthy: " + "; ".join(self.problems)
        return (
            f"fuyuan-bot: {state} (last tick {tick}; outbox {self.due} due{oldest}, "
            f"{self.retrying} waiting to retry, {self.failed_24h} failed in 24 h; "
            f"schema {self.revision})"
        )


def _ago(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _stored(moment: datetime) -> str:
    """A moment as SQLAlchemy stores a UTC datetime in SQLite (comparable as text)."""
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _parse_stored(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


_Facts = tuple[str | None, str | None, int, datetime | None, int, int]


def check(
    where: Path | str,
    *,
    now: datetime | None = None,
    max_tick_age: timedelta = MAX_TICK_AGE,
    max_backlog_age: timedelta = MAX_BACKLOG_AGE,
) -> Health:
    """Read the database (read-only) and judge it at ``now``: ``where`` is the SQLite file,
    or a PostgreSQL ``DATABASE_URL``."""
    now = now or datetime.now(UTC)
    facts = _read_sqlite(where, now) if isinstance(where, Path) else _read_postgres(where, now)
    revision, last_tick, due, oldest, retrying, failed = facts

    problems: list[str] = []
    tick_age: int | None = None
    if last_tick is None:
        problems.append("no tick recorded yet")
    else:
        tick_age = max(int((now - datetime.fromisoformat(last_tick)).total_seconds()), 0)
        if tick_age > max_tick_age.total_seconds():
            problems.append(f"no tick for {_ago(tick_age)}")
    oldest_age: int | None = None
    if oldest is not None:
        oldest_age = max(int((now - oldest).total_seconds()), 0)
        if oldest_age > max_backlog_age.total_seconds():
            problems.append(f"{due} message(s) due for up to {_ago(oldest_age)} and not sent")
    return Health(
        healthy=not problems,
        problems=problems,
        revision=revision,
        last_tick=last_tick,
        tick_age_s=tick_age,
        due=due,
        oldest_due_age_s=oldest_age,
        retrying=retrying,
        failed_24h=failed,
    )


def _read_sqlite(path: Path, now: datetime) -> _Facts:
    if not path.is_file():
        raise OperatorError(f"there is no database at {path} (DATABASE_URL).")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise OperatorError(f"cannot open {path}: {exc}.") from None
    try:
        revision_row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        tick_row = conn.execute("SELECT value FROM settings WHERE key = ?", (LAST_TICK,)).fetchone()
        marks = ",".join("?" * len(_WAITING))
        due, oldest = conn.execute(
            f"SELECT count(*), min(next_attempt_at) FROM outbox "
            f"WHERE status IN ({marks}) AND next_attempt_at <= ?",
            (*_WAITING, _stored(now)),
        ).fetchone()
        retrying = conn.execute(
            f"SELECT count(*) FROM outbox WHERE status IN ({marks}) AND next_attempt_at > ?",
            (*_WAITING, _stored(now)),
        ).fetchone()[0]
        failed = conn.execute(
            "SELECT count(*) FROM outbox WHERE status = 'failed' AND created_at > ?",
            (_stored(now - timedelta(days=1)),),
        ).fetchone()[0]
    except sqlite3.Error as exc:
        raise OperatorError(f"{path} cannot be read as a fuyuan-bot database: {exc}.") from None
    finally:
        conn.close()
    return (
        revision_row[0] if revision_row else None,
        tick_row[0] if tick_row else None,
        int(due),
        None if oldest is None else _parse_stored(oldest),
        int(retrying),
        int(failed),
    )


@functools.cache
def version() -> str:
    """This release's version: the installed package's, else the source tree's pyproject."""
    try:
        return metadata.version("fuyuan-bot")
    except metadata.PackageNotFoundError:
        pass
    try:
        project = Path(__file__).resolve().parent.parent / "pyproject.toml"
        return str(tomllib.loads(project.read_text("utf-8"))["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def report(path: Path | str, now: datetime | None = None) -> tuple[bool, dict[str, Any]]:
    """``check`` as the HTTP endpoint answers it: (healthy, a JSON object). A database that
    cannot be read is unhealthy too, with ``database: false`` and the reason."""
    try:
        health = check(path, now=now)
    except (OperatorError, ValueError) as exc:  # ValueError: a last tick that is no time
        return False, {
            "healthy": False,
            "problems": [str(exc)],
            "database": False,
            "version": version(),
        }
    return health.healthy, {**asdict(health), "database": True, "version": version()}


HEALTH_PATH = "/healthz"
_READ_TIMEOUT = 5.0
_MAX_HEADER_LINES = 64
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


async def serve(
    host: str, port: int, path: Path | str, now: Callable[[], datetime] | None = None
) -> asyncio.Server:
    """GET /healthz on ``host:port``, on the running event loop: a few lines of the standard
    library's asyncio server rather than a web framework, since polling mode has none. The
    database is read in a thread, so the bot's loop never waits on it."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await _respond(reader, path, now)
            reason = _REASONS.get(status, "Service Unavailable")
            data = json.dumps(body, ensure_ascii=False).encode()
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8"
                f"\r\nContent-Length: {len(data)}\r\nCache-Control: no-store\r\n"
                "Connection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):
            pass  # a client that is slow, gone or sends nonsense gets nothing more
        finally:
            writer.close()

    return await asyncio.start_server(answer, host, port)


async def _respond(
    reader: asyncio.StreamReader, path: Path | str, now: Callable[[], datetime] | None
) -> tuple[int, dict[str, Any]]:
    async with asyncio.timeout(_READ_TIMEOUT):
        request = (await reader.readline()).decode("latin-1").split()
        for _ in range(_MAX_HEADER_LINES):
            if (await reader.readline()) in (b"\r\n", b"\n", b""):
                break
        else:
            return 400, {"error": "too many header lines"}
    if len(request) != 3 or not request[2].startswith("HTTP/"):
        return 400, {"error": "not an HTTP request"}
    if urlsplit(request[1]).path != HEALTH_PATH:
        return 404, {"error": f"only {HEALTH_PATH} is served here"}
    if request[0] != "GET":
        return 405, {"error": "GET only"}
    healthy, body = await asyncio.to_thread(report, path, now() if now else None)
    return (200 if healthy else 503), body


def is_postgres_url(url: str) -> bool:
    return url.partition("://")[0].split("+", 1)[0] in ("postgresql", "postgres")


def database_of(url: str) -> Path | str:
    """What ``check`` reads for a ``DATABASE_URL``: the SQLite file, or the PostgreSQL URL."""
    return url if is_postgres_url(url) else database_path({"DATABASE_URL": url})


def _read_postgres(url: str, now: datetime) -> _Facts:
    """The same reads on PostgreSQL, with asyncpg (the bot's driver), in one snapshot."""
    import asyncpg  # type: ignore[import-untyped]

    dsn = "postgresql" + url[url.index("://") :]
    waiting = list(_WAITING)

    async def read() -> _Facts:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                revision = await conn.fetchval("SELECT version_num FROM alembic_version")
                last_tick = await conn.fetchval(
                    "SELECT value FROM settings WHERE key = $1", LAST_TICK
                )
                due, oldest = await conn.fetchrow(
                    "SELECT count(*), min(next_attempt_at) FROM outbox"
                    " WHERE status = ANY($1::text[]) AND next_attempt_at <= $2",
                    waiting,
                    now,
                )
                retrying = await conn.fetchval(
                    "SELECT count(*) FROM outbox"
                    " WHERE status = ANY($1::text[]) AND next_attempt_at > $2",
                    waiting,
                    now,
                )
                failed = await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE status = 'failed' AND created_at > $1",
                    now - timedelta(days=1),
                )
        finally:
            await conn.close()
        return revision, last_tick, int(due), oldest, int(retrying), int(failed)

    try:
        return asyncio.run(read())
    except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = url.rpartition("@")[2]  # never the password
        raise OperatorError(f"cannot read the PostgreSQL database {where}: {exc}.") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.health",
        description="Report whether the bot ticks and delivers (exit 0 healthy, 1 not).",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead")
    parser.add_argument(
        "--max-tick-age",
        type=int,
        default=int(MAX_TICK_AGE.total_seconds()),
        metavar="SECONDS",
        help="unhealthy when the last tick is older (default %(default)s)",
    )
    parser.add_argument(
        "--max-backlog-age",
        type=int,
        default=int(MAX_BACKLOG_AGE.total_seconds()),
        metavar="SECONDS",
        help="unhealthy when a due message waits longer (default %(default)s)",
    )
    args = parser.parse_args(argv)
    load_dotenv()
    try:
        url = os.environ.get("DATABASE_URL", "").strip()
        health = check(
            database_of(url),  # the default file when unset
            max_tick_age=timedelta(seconds=args.max_tick_age),
            max_backlog_age=timedelta(seconds=args.max_backlog_age),
        )
    except OperatorError as exc:
        print(f"fuyuan-bot: health: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(health), ensure_ascii=False) if args.json else health.line())
    return 0 if health.healthy else 1


if __name__ == "__main__":
    sys.exit(main())
