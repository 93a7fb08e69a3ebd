"""/find on a large database: the service's search for the office, a department head and a
court clerk, with words that match every matter, some, or none.

A fresh SQLite file is seeded in bulk (``bench.seed``, which writes rows straight past the
services) and then indexed as migration 0010_find indexes a database it upgrades
(``bot.storage.search.index_all``); the indexing time is reported too. Each search is timed
through ``Coordination.find`` (the ranked ids and the first page's matters, as /find shows
them); every query's statements are run through ``EXPLAIN QUERY PLAN``, and a plan that scans
a whole table (rather than searching an index) fails the target.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ADMIN_ID, SHANGHAI, Row, committee
from bench.seed import NOW, cast, seed

RUNS = 5
TARGET_MS = 100.0  # a search's median, at any size, for every viewer

# (label, words): every matter (a two-character word, and a longer one), a title word of a
# few hundred matters, a number, a word no matter has, two words of both kinds.
QUERIES: tuple[tuple[str, str], ...] = (
    ("2-char word in every matter", "请示"),
    ("long word in every matter", "请求事项"),
    ("2-char + long word", "请示 已做工作"),
    ("organisation name", "自然资源局"),
    ("number", "协调〔2026〕120号"),
    ("rare title word", "第4321号"),
    ("no match", "征收补偿"),
)


def _index(path: Path) -> tuple[int, float]:
    from sqlalchemy import create_engine

    from bot.domain.mechanisms import default_registry
    from bot.storage.search import index_all

    engine = create_engine(f"sqlite:///{path}")
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA cache_size=-131072")
        written = index_all(conn, default_registry(), batch=5000)
    took = time.perf_counter() - started
    engine.dispose()
    return written, took


def _full_scans(plan: list[str]) -> list[str]:
    """Plan lines that read a whole table: ``SCAN t`` without an index (an FTS5 table's
    ``VIRTUAL TABLE INDEX`` is its own index search)."""
    return [
        line
        for line in plan
        if line.startswith("SCAN ") and "VIRTUAL TABLE" not in line and " USING " not in line
    ]


async def _measure(path: Path, verbose: bool) -> list[Row]:
    from bot.clock import ManualClock
    from bot.domain.search import parse_query
    from bot.services.coordination import Coordination
    from bot.storage.db import Database

    db = Database(f"sqlite+aiosqlite:///{path}")
    comm = committee()
    svc = Coordination(db, comm, ManualClock(NOW), SHANGHAI)
    people = cast()
    head = next(p for p in people if p[3].value == "department_head")
    clerk = next(p for p in people if p[3].value == "court_staff")
    viewers = {
        "office": await svc.viewer(ADMIN_ID, "办公室管理员", None),
        "department head": await svc.viewer(head[0], head[1], None),
        "court clerk": await svc.viewer(clerk[0], clerk[1], None),
    }
    rows: list[Row] = []
    for who, viewer in viewers.items():
        assert viewer.member is not None
        for label, words in QUERIES:
            query = parse_query(words, comm)
            plans: list[str] = []
            async with db.read() as conn:
                for title_only in (True, False):
                    stmt = svc.docs_statement(viewer.member, query, title_only=title_only)
                    compiled = stmt.compile(
                        dialect=conn.dialect, compile_kwargs={"literal_binds": True}
                    )
                    found = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
                    plans += [str(r[3]) for r in found.all()]
            scans = _full_scans(plans)
            times: list[float] = []
            result: Any = None
            for _ in range(RUNS):
                started = time.perf_counter()
                result = await svc.find(viewer, words, 0, 5)
                times.append((time.perf_counter() - started) * 1000)
            median = statistics.median(times)
            ok = median <= TARGET_MS and not scans
            value = (
                f"{median:.1f} ms median, {max(times):.1f} ms max; "
                f"{result.total}{'+' if result.more else ''} found"
            )
            if scans:
                value += f"; FULL SCAN: {'; '.join(scans)}"
            rows.append(
                Row(
                    f"find ({who}): {label}",
                    value,
                    f"≤ {TARGET_MS:.0f} ms, no full scan",
                    ok,
                    {
                        "median_ms": median,
                        "max_ms": max(times),
                        "found": result.total,
                        "more": result.more,
                        "plan": plans,
                    },
                )
            )
            if verbose:
                print(f"  {who} / {words}: {value}")
                for line in plans:
                    print(f"      {line}")
    await db.dispose()
    return rows


def measure(*, quick: bool = False, verbose: bool = False, size: int | None = None) -> list[Row]:
    n = size or (20_000 if quick else 100_000)
    with tempfile.TemporaryDirectory(prefix="fuyuan-find-") as tmp:
        path = Path(tmp) / "find.sqlite3"
        started = time.perf_counter()
        seeded = seed(path, n)
        seeding = time.perf_counter() - started
        written, indexing = _index(path)
        mib = path.stat().st_size / 2**20
        rows = [
            Row(
                f"find: index {seeded.cases:,} matters",
                f"{written:,} documents in {indexing:.1f} s (seeding {seeding:.1f} s); "
                f"database {mib:,.0f} MiB",
                data={
                    "matters": seeded.cases,
                    "documents": written,
                    "index_s": indexing,
                    "seed_s": seeding,
                    "database_mib": mib,
                },
            )
        ]
        rows += asyncio.run(_measure(path, verbose))
    return rows
