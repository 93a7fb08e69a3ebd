"""/stats on a large database: a year's figures for the office, as /stats answers them.

The seeded file (``bench.seed``, kept between runs like the mix's) spreads its matters over
two years, so "a year" (2026, to the seed's 25 November) holds about half of them. Timed
separately: the figures (``Coordination.stats``: a summary per addressee read through the
indexes and counted in the domain), the table's text, the chart (matplotlib, as the worker
thread draws it), and the drill-down of the busiest organisation (its first page, and a
later one). The queries' plans are checked: one that scans a whole table fails the target.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import ADMIN_ID, SHANGHAI, Row, committee
from bench.seed import NOW, cached

RUNS = 3
TARGET_S = {100_000: 0.5, 1_000_000: 3.0}  # the figures of a year, median
DRILL_TARGET_S = 0.5  # the drill-down's first page of the busiest organisation


def _target(n: int) -> float:
    return TARGET_S.get(n, 0.5 * max(1.0, n / 100_000))


async def _measure(path: Path, n: int, verbose: bool) -> list[Row]:
    from datetime import date

    from sqlalchemy import text

    from bot.clock import ManualClock
    from bot.domain.periods import parse_period
    from bot.services.coordination import Coordination
    from bot.storage import stats as storage
    from bot.storage.db import Database
    from handlers import stats as view
    from handlers.texts import Texts

    db = Database(f"sqlite+aiosqlite:///{path}")
    comm = committee()
    svc = Coordination(db, comm, ManualClock(NOW), SHANGHAI)
    texts = Texts(comm, SHANGHAI)
    office = await svc.viewer(ADMIN_ID, "办公室管理员", None)
    period = parse_period("2026", date(2026, 11, 25))
    start, end = period.bounds(SHANGHAI)
    plans: list[str] = []
    async with db.read() as conn:
        local = storage.LocalDays(conn.dialect.name, SHANGHAI, start, NOW)
        rules = svc.calculator().rules
        for stmt in (
            storage.summary_query(start, end, rules, local),
            storage.summary_query(start, end, rules, local, ["YB-IPC"]),
            storage.paused_query(start),
        ):
            compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            found = await conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            plans += [str(r[3]) for r in found.all()]
    scans = [p for p in plans if p.startswith("SCAN ")]
    times: list[float] = []
    card = None
    for _ in range(RUNS):
        started = time.perf_counter()
        card = await svc.stats(office, period)
        times.append(time.perf_counter() - started)
    assert card is not None
    started = time.perf_counter()
    view.scorecard_html(texts, "zh_CN", card)
    table_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    png = await asyncio.to_thread(view.chart_png, texts, "zh_CN", card)
    chart_s = time.perf_counter() - started
    started = time.perf_counter()
    png = await asyncio.to_thread(view.chart_png, texts, "zh_CN", card)
    chart_warm_s = time.perf_counter() - started
    busiest = max(card.orgs, key=lambda o: o.received)
    started = time.perf_counter()
    page = await svc.stats_matters(office, period, busiest.org)
    drill_s = time.perf_counter() - started
    started = time.perf_counter()
    await svc.stats_matters(office, period, busiest.org, 5)
    drill_next_s = time.perf_counter() - started
    await db.dispose()
    median = statistics.median(times)
    target = _target(n)
    ok = median <= target and not scans
    value = (
        f"{median:.2f} s median ({max(times):.2f} s max) for {card.matters:,} matters of "
        f"{n:,}; table {table_ms:.0f} ms; chart {chart_s:.2f} s first, {chart_warm_s:.2f} s "
        f"after ({len(png or b'') // 1024} KiB)"
    )
    if scans:
        value += f"; FULL SCAN: {'; '.join(scans)}"
    if verbose:
        for line in plans:
            print(f"      {line}")
    return [
        Row(
            f"stats: a year at {n:,} matters",
            value,
            f"≤ {target:g} s, no full scan",
            ok,
            {
                "matters_total": n,
                "matters_in_year": card.matters,
                "median_s": median,
                "max_s": max(times),
                "table_ms": table_ms,
                "chart_first_s": chart_s,
                "chart_s": chart_warm_s,
                "drill_down_s": drill_s,
                "drill_down_matters": page.total,
                "plan": plans,
            },
        ),
        Row(
            f"stats: drill-down of the busiest organisation at {n:,} matters",
            f"first page {drill_s:.2f} s, sixth page {drill_next_s:.2f} s "
            f"({page.total:,} matters, {page.late:,} late)",
            f"≤ {DRILL_TARGET_S} s",
            drill_s <= DRILL_TARGET_S,
            {"first_page_s": drill_s, "later_page_s": drill_next_s, "matters": page.total},
        ),
    ]


def measure(
    *, quick: bool = False, verbose: bool = False, size: int | None = None, fresh: bool = False
) -> list[Row]:
    n = size or (20_000 if quick else 100_000)
    started = time.perf_counter()
    seeded, _ = cached(n, fresh=fresh)
    seeding = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="fuyuan-stats-") as tmp:
        path = Path(tmp) / "stats.sqlite3"
        shutil.copy(seeded, path)
        rows = asyncio.run(_measure(path, n, verbose))
    rows[0].data["seed_or_copy_s"] = seeding
    return rows
