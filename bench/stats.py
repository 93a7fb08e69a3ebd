"""/stats on a large database: a year's figures for the office, as /stats answers them.

The seeded file (``bench.seed``, kept between runs like the mix's) spreads its matters over
two years, so "a year" (2026, to the seed's 25 November) holds about half of them. Timed
separately: the figures (``Coordination.stats``: the period's rows read through the indexes
and counted in the domain), the table's text, the chart (matplotlib, as the worker thread
draws it), and the drill-down of the busiest organisation. The queries' plans are checked:
one that scans a whole table fails the target.
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
TARGET_S = {100_000: 5.0, 1_000_000: 50.0}  # the figures of a year, median


def _target(n: int) -> float:
    return TARGET_S.get(n, 5.0 * max(1.0, n / 100_000))


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
        for stmt in (storage.assignments_query(start, end), storage.steps_query(start, end)):
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
    lines = await svc.stats_matters(office, period, busiest.org)
    drill_s = time.perf_counter() - started
    await db.dispose()
    median = statistics.median(times)
    target = _target(n)
    ok = median <= target and not scans
    value = (
        f"{median:.2f} s median ({max(times):.2f} s max) for {card.matters:,} matters of "
        f"{n:,}; table {table_ms:.0f} ms; chart {chart_s:.2f} s first, {chart_warm_s:.2f} s "
        f"after ({len(png or b'') // 1024} KiB); drill-down of {len(lines):,} matters "
        f"{drill_s:.2f} s"
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
            f"≤ {target:.0f} s, no full scan",
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
                "drill_down_matters": len(lines),
                "plan": plans,
            },
        )
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
