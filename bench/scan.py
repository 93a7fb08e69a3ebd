"""The overdue scan and the weekly digest on a large database.

A fresh SQLite file is migrated and seeded in bulk (SQLAlchemy Core executemany, one
transaction) with matters spread over two years, each with one addressee (a ``cases`` row and
its ``assignments`` row): ~95 % closed with their audit events, ~5 % open with deadlines such
that a few hundred are due soon or overdue today. A subprocess (``python -m bench.scan
<file>``) then times ``scan_deadlines`` and ``digest`` and reports its peak RSS, so the
seeding's memory does not count.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from bench.common import ADMIN_ID, ROOT, SHANGHAI, Row, committee, median
from bot.domain import rules
from bot.domain.mechanisms import default_registry
from bot.domain.models import Role
from bot.domain.workdays import CalendarOverrides, WorkingCalendar
from bot.storage import schema as t

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
RUNS = 5
CHUNK = 10_000

SUBMITTED = "submitted"
ACKNOWLEDGED = "acknowledged"
RETURNED = "returned"
RESOLVED = "resolved"


def _peak_rss_mib() -> float:
    """This process's peak resident set size, in MiB.

    On Linux ``ru_maxrss`` (KiB) survives ``execve``: a child started from a big parent
    reports the parent's peak. The kernel's ``VmHWM`` belongs to the current image, so it is
    preferred where it exists.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _back(calendar: WorkingCalendar, day: date, n: int) -> date:
    """The day ``n`` working days before ``day``."""
    while n:
        day -= timedelta(days=1)
        if calendar.is_working_day(day):
            n -= 1
    return day


def _people() -> tuple[list[int], dict[str, list[int]], list[dict[str, Any]]]:
    """Department heads, court staff by court, and the member rows for all of them."""
    from bench.mix import cast

    heads: list[int] = []
    staff: dict[str, list[int]] = {}
    members: list[dict[str, Any]] = []
    joined = NOW - timedelta(days=800)
    people = [(ADMIN_ID, "办公室管理员", "CBS-OFFICE", Role.OFFICE), *cast()]
    for user_id, name, org, role in people:
        members.append(
            {
                "user_id": user_id,
                "org_code": org,
                "role": role.value,
                "display_name": name,
                "joined_at": joined,
            }
        )
        if role is Role.DEPARTMENT_HEAD:
            heads.append(user_id)
        elif role is Role.COURT_STAFF:
            staff.setdefault(org, []).append(user_id)
    return heads, staff, members


def seed(path: Path, n: int, seed_value: int = 7) -> dict[str, int]:
    """Migrate a new SQLite file and fill it with ``n`` matters; returns what was written."""
    from bot.storage.db import Database

    async def _migrate() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.migrate()
        await db.dispose()

    asyncio.run(_migrate())

    rng = random.Random(seed_value)
    comm = committee()
    kinds = default_registry()
    calendar = WorkingCalendar(comm.calendar or CalendarOverrides())
    today = NOW.date()
    horizon_days = 730
    heads, staff, members = _people()
    org_of = {m["user_id"]: m["org_code"] for m in members}
    addressees = rules.addressee_codes(comm)
    departments = sorted({org_of[h] for h in heads})

    # Open matters are chosen by when they are due; the rest spread over two years.
    n_open = n // 20
    specs: list[tuple[datetime, str, str | None, date | None]] = []  # (created, kind, status...)
    due_cache: dict[tuple[date, int], date] = {}

    def add_days(day: date, k: int) -> date:
        key = (day, k)
        if key not in due_cache:
            due_cache[key] = calendar.add_working_days(day, k)
        return due_cache[key]

    for _ in range(n_open):
        code = "referral" if rng.random() < 0.4 else "consultation"
        status = SUBMITTED if rng.random() < 0.15 else ACKNOWLEDGED
        roll = rng.random()
        if roll < 0.04:
            due = _back(calendar, today, rng.randint(1, 12))  # overdue
        elif roll < 0.09:
            due = add_days(today, rng.randint(0, 1))  # due soon
        else:
            due = add_days(today, rng.randint(2, 30))
        stage_days = 3 if status == SUBMITTED else kinds[code].reply_working_days
        created_day = _back(calendar, due, stage_days)
        created = datetime.combine(created_day, datetime.min.time(), SHANGHAI) + timedelta(
            hours=rng.uniform(8.5, 17.5)
        )
        specs.append((min(created, NOW - timedelta(minutes=5)), code, status, None))
    span = timedelta(days=horizon_days).total_seconds()
    for _ in range(n - n_open):
        code = "referral" if rng.random() < 0.4 else "consultation"
        created = NOW - timedelta(seconds=rng.uniform(3 * 86400, span))
        specs.append((created, code, None, None))
    specs.sort(key=lambda s: s[0])

    counters: Counter[tuple[str, int]] = Counter()
    cases: list[dict[str, Any]] = []
    assignments: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    now_utc = NOW.astimezone(UTC)
    for case_id, (created, kind_code, open_status, _) in enumerate(specs, start=1):
        kind = kinds[kind_code]
        local = created.astimezone(SHANGHAI)
        year = local.year
        counters[(kind_code, year)] += 1
        seq = counters[(kind_code, year)]
        number = rules.format_number(kind, year, seq)
        raiser = rng.choice(heads)
        addressee = rng.choice(addressees)
        court_staff = [u for c in comm.courts_answering(addressee) for u in staff.get(c, [])]
        answerer = rng.choice(court_staff) if court_staff else None
        ack_due = add_days(local.date(), kind.ack_working_days)
        reply_due = add_days(local.date(), kind.reply_working_days)
        title = f"关于{rng.choice(departments)}第{seq}号事项的请示"
        fields: dict[str, Any] = {
            "title": title,
            "description": "基本情况、已做工作和请求事项。" * rng.randint(2, 6),
            "addressee": addressee,
            "urgency": "normal",
            "reply_by": None,
        }
        if kind_code == "referral":
            fields.update(applicant="张三", respondent=rng.choice(departments))
        row: dict[str, Any] = {
            "id": case_id,
            "number": number,
            "kind": kind_code,
            "year": year,
            "seq": seq,
            "title": title,
            "raiser_user_id": raiser,
            "raiser_org": org_of[raiser],
            "fields": fields,
            "submit_token": f"s{case_id:08d}",
            "created_at": created,
        }
        # Its one addressee (position 1); its id is the matter's, and its events name none.
        assignment: dict[str, Any] = {
            "id": case_id,
            "case_id": case_id,
            "position": 1,
            "addressee": addressee,
            "acted_by": None,
            "acted_at": None,
            "outcome": None,
            "note": None,
            "stage": None,
            "due": None,
            "dues": {"ack": ack_due.isoformat(), "reply": reply_due.isoformat()},
            "clock_started_at": created,
            "paused_days": 0,
            "round": 0,
            "last_open_state": None,
            "answers": {},
        }
        events.append(_event(case_id, raiser, created, "submitted", None, "submitted"))
        updated = created
        if open_status == SUBMITTED:
            status = SUBMITTED
            assignment.update(stage="ack", due=ack_due)
        else:
            acted = created + timedelta(hours=rng.uniform(1, 60))
            if open_status is None and rng.random() < 0.2:
                acted = min(acted, now_utc - timedelta(minutes=1))
                reason = "材料不全"
                status = RETURNED
                assignment.update(
                    acted_by=answerer,
                    acted_at=acted,
                    note=reason,
                    last_open_state=SUBMITTED,
                    answers={"return": {"reason": reason}},
                )
                events.append(_event(case_id, answerer, acted, "return", SUBMITTED, RETURNED))
                updated = acted
            else:
                if open_status is not None:
                    acted = min(acted, now_utc - timedelta(minutes=2))
                status = ACKNOWLEDGED
                assignment.update(acted_by=answerer, acted_at=acted, stage="reply", due=reply_due)
                events.append(
                    _event(case_id, answerer, acted, "acknowledge", SUBMITTED, ACKNOWLEDGED)
                )
                updated = acted
                if open_status is None:
                    resolved = min(
                        acted + timedelta(days=rng.uniform(2, 25)), now_utc - timedelta(minutes=1)
                    )
                    outcome = kind.outcomes[0][0]
                    status = RESOLVED
                    assignment.update(
                        outcome=outcome,
                        stage=None,
                        due=None,
                        last_open_state=ACKNOWLEDGED,
                        answers={"resolve": {"outcome": outcome}},
                    )
                    events.append(
                        _event(
                            case_id,
                            answerer,
                            resolved,
                            "resolve",
                            ACKNOWLEDGED,
                            RESOLVED,
                            {"outcome": outcome},
                        )
                    )
                    updated = resolved
        row.update(status=status, updated_at=updated)
        assignment.update(state=status, updated_at=updated)
        cases.append(row)
        assignments.append(assignment)

    users = [
        {"user_id": m["user_id"], "first_name": m["display_name"], "updated_at": NOW}
        for m in members
    ]
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(t.users.insert(), users)
        conn.execute(t.members.insert(), members)
        for i in range(0, len(cases), CHUNK):
            conn.execute(t.cases.insert(), cases[i : i + CHUNK])
        for i in range(0, len(assignments), CHUNK):
            conn.execute(t.assignments.insert(), assignments[i : i + CHUNK])
        for i in range(0, len(events), CHUNK):
            conn.execute(t.events.insert(), events[i : i + CHUNK])
        conn.execute(
            t.counters.insert(),
            [{"kind": k, "year": y, "value": v} for (k, y), v in counters.items()],
        )
    with engine.connect() as conn:  # no ANALYZE: the bot never runs one either
        open_count = conn.execute(
            select(func.count()).where(t.cases.c.status.in_([SUBMITTED, ACKNOWLEDGED]))
        ).scalar_one()
    engine.dispose()
    return {"cases": len(cases), "events": len(events), "open": open_count}


def _event(
    case_id: int,
    actor: int | None,
    at: datetime,
    action: str,
    from_status: str | None,
    to_status: str,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "actor_user_id": actor,
        "at": at,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "detail": detail,
    }


# ---------------------------------------------------------------------------- the subprocess


async def _measure_in_process(path: Path, profile: str | None) -> dict[str, Any]:
    from bot.clock import ManualClock
    from bot.services.coordination import Coordination
    from bot.storage.db import Database

    rss_start = _peak_rss_mib()  # after the imports: the interpreter and libraries alone
    db = Database(f"sqlite+aiosqlite:///{path}")
    svc = Coordination(db, committee(), ManualClock(NOW), SHANGHAI)
    # As the running bot is by its first tick: the start-up check has resolved this year's
    # working-day calendar (importing the holiday data) and the connection pool is open.
    svc.calendar.coverage_warnings(svc.today())
    await svc.group_chat_id()
    gc.freeze()  # as bot.py does once started (bot.heap.freeze_after_start)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    queued = await svc.scan_deadlines()
    first = time.perf_counter() - start
    repeats: list[float] = []
    again = 0
    for _ in range(RUNS):
        start = time.perf_counter()
        again += await svc.scan_deadlines()
        repeats.append(time.perf_counter() - start)
    moment = svc.digest_moment()
    digests: list[float] = []
    digest = None
    for _ in range(RUNS):
        start = time.perf_counter()
        digest = await svc.digest(moment - timedelta(days=7), moment)
        digests.append(time.perf_counter() - start)
    if profiler is not None and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    # /my on the same data: the office sees every open matter, a department its own.
    pages: dict[str, float] = {}
    for label, user_id in (("office", ADMIN_ID), ("department", 20_001)):
        viewer = await svc.viewer(user_id, f"user {user_id}", None)
        runs: list[float] = []
        for _ in range(RUNS):
            start = time.perf_counter()
            await svc.open_cases(viewer, 0, 5)
            runs.append(time.perf_counter() - start)
        pages[label] = median(runs)
    await db.dispose()
    assert digest is not None
    return {
        "queued": queued,
        "queued_again": again,
        "scan_first_s": first,
        "scan_repeat_s": median(repeats),
        "digest_s": median(digests),
        "digest_raised": len(digest.raised),
        "digest_overdue": sum(n for _, n, _ in digest.overdue),
        "digest_actions": digest.acknowledged + digest.returned + digest.resolved,
        "my_office_s": pages["office"],
        "my_department_s": pages["department"],
        "rss_before_mib": rss_start,
        "peak_rss_mib": _peak_rss_mib(),
    }


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    profile = argv[1] if len(argv) > 1 else None
    result = asyncio.run(_measure_in_process(path, profile))
    print(json.dumps(result))
    return 0


def measure(*, quick: bool, verbose: bool = False, profile: Path | None = None) -> list[Row]:
    n = 20_000 if quick else 100_000
    with tempfile.TemporaryDirectory(prefix="fuyuan-bench-") as tmp:
        path = Path(tmp) / "big.sqlite3"
        start = time.perf_counter()
        seeded = seed(path, n)
        seeding = time.perf_counter() - start
        seed_rss = _peak_rss_mib()
        args = [sys.executable, "-m", "bench.scan", str(path)]
        if profile:
            args.append(str(profile))
        out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"scan subprocess failed:\n{out.stderr}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        size_mib = path.stat().st_size / 2**20
    label = f"{n // 1000}k matters"
    if verbose:
        print(f"scan/digest subprocess: {r}")
    scan_ms = r["scan_first_s"] * 1000
    repeat_ms = r["scan_repeat_s"] * 1000
    digest_ms = r["digest_s"] * 1000
    return [
        Row(
            f"seed: {seeded['cases']} matters ({seeded['open']} open), {seeded['events']} events",
            f"{seeding:.1f} s, {size_mib:.0f} MiB file, seeding peak RSS {seed_rss:.0f} MiB",
        ),
        Row(
            f"scan_deadlines, first run ({label}; queued {r['queued']} alerts)",
            f"{scan_ms:.1f} ms",
            "<= 50 ms",
            scan_ms <= 50,
        ),
        Row(
            f"scan_deadlines, all already queued ({label}; median of {RUNS}, new: "
            f"{r['queued_again']})",
            f"{repeat_ms:.1f} ms",
            "<= 50 ms",
            repeat_ms <= 50,
        ),
        Row(
            f"digest of the last week ({label}; median of {RUNS}; {r['digest_raised']} raised, "
            f"{r['digest_actions']} answers, {r['digest_overdue']} overdue)",
            f"{digest_ms:.1f} ms",
            "<= 250 ms",
            digest_ms <= 250,
        ),
        Row(
            f"/my first page (open_cases) on {label}: office / a department (median of {RUNS})",
            f"{r['my_office_s'] * 1000:.1f} ms / {r['my_department_s'] * 1000:.1f} ms",
        ),
        Row(
            "scan+digest subprocess peak RSS (after imports, before work)",
            f"{r['peak_rss_mib']:.0f} MiB ({r['rss_before_mib']:.0f} MiB)",
            "<= 150 MB",
            r["peak_rss_mib"] * 2**20 <= 150e6,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
