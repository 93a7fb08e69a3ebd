"""A large database, fast: ``n`` matters with their addressees and audit events.

The schema is built by the migrations; the rows are written straight through the ``sqlite3``
module (``executemany`` of tuples, in chunks, one transaction, no journal), with the
secondary indexes dropped while the rows go in and built afterwards from sorted data. Values
are stored exactly as SQLAlchemy binds them (UTC ``YYYY-MM-DD HH:MM:SS.ffffff``, ISO dates,
``json.dumps``), so the bot reads them as its own. A million matters take well under a minute.

Matters spread over two years, each with one addressee: ~95 % closed (20 % of those returned,
the rest acknowledged and resolved), ~5 % open with deadlines such that a few hundred per
hundred thousand are due soon or overdue today.

``cached`` keeps a seeded file per version of the seeding, schema head, size and seed value
(``SEED_VERSION``), so repeated runs of the mix copy it instead of seeding again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import ADMIN_ID, SHANGHAI, committee
from bot.domain import rules
from bot.domain.mechanisms import default_registry
from bot.domain.models import Role
from bot.domain.workdays import CalendarOverrides, WorkingCalendar

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
# Raise when what ``seed`` writes changes in a way its source and the committee file do not
# show (they are part of the cache key too).
SEED_VERSION = 1
CACHE_ENV = "FUYUAN_BENCH_CACHE"
CHUNK = 20_000
HORIZON_DAYS = 730

SUBMITTED = "submitted"
ACKNOWLEDGED = "acknowledged"
RETURNED = "returned"
RESOLVED = "resolved"
TABLES = ("cases", "assignments", "events")
Person = tuple[int, str, str, Role]


@dataclass(frozen=True, slots=True)
class Seeded:
    cases: int
    events: int
    open: int
    members: int


def cast() -> list[Person]:
    """~40 department heads across departments and zones, ~10 court staff across courts."""
    from bot.domain.committee import OrgKind

    comm = committee()
    departments = [o.code for o in comm.orgs_of_kind(OrgKind.DEPARTMENT, OrgKind.ZONE)]
    courts = [o.code for o in comm.orgs_of_kind(OrgKind.COURT)]
    surnames = "李王张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
    people: list[Person] = []
    for i in range(40):
        name = f"{surnames[i % len(surnames)]}局长{i + 1}"
        people.append((20_001 + i, name, departments[i % len(departments)], Role.DEPARTMENT_HEAD))
    for i in range(10):
        name = f"{surnames[(i * 7) % len(surnames)]}法官{i + 1}"
        people.append((30_001 + i, name, courts[i % len(courts)], Role.COURT_STAFF))
    return people


def stamp(moment: datetime) -> str:
    """A moment as SQLAlchemy stores ``UTCDateTime`` on SQLite."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"


def _back(calendar: WorkingCalendar, day: date, n: int) -> date:
    """The day ``n`` working days before ``day``."""
    while n:
        day -= timedelta(days=1)
        if calendar.is_working_day(day):
            n -= 1
    return day


def migrate(path: Path) -> None:
    from bot.storage.db import Database

    async def _migrate() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.migrate()
        await db.dispose()

    asyncio.run(_migrate())


def cache_dir() -> Path:
    """Where seeded files are kept between runs: ``$FUYUAN_BENCH_CACHE``, else the user's
    cache directory."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fuyuan-bench"


def cache_key(n: int, *, seed_value: int = 7, now: datetime = NOW) -> str:
    """What a seeded file depends on: the seeding's version and source, the committee file,
    the schema's head revision, the size, the seed value and the moment it is seeded as."""
    from bot.storage.db import schema_head

    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for source in (Path(__file__), root / "committee.example.toml"):
        digest.update(source.read_bytes())
    digest.update(f"{SEED_VERSION}|{schema_head()}|{n}|{seed_value}|{now.isoformat()}".encode())
    return f"seeded-v{SEED_VERSION}-{n}-{digest.hexdigest()[:16]}"


def cached(
    n: int, *, seed_value: int = 7, now: datetime = NOW, fresh: bool = False
) -> tuple[Path, bool]:
    """A seeded file of ``n`` matters, seeded once and kept (see ``cache_key``); returns its
    path and whether it was seeded now. Callers copy it: the file itself is never opened by
    a bot. ``fresh`` seeds it again."""
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{cache_key(n, seed_value=seed_value, now=now)}.sqlite3"
    if path.exists() and not fresh:
        return path, False
    # Seeded beside it under a temporary name and renamed when complete: an interrupted
    # seeding never leaves a file that looks finished.
    fd, name = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    partial = Path(name)
    partial.unlink()
    try:
        seed(partial, n, seed_value=seed_value, now=now)
        partial.replace(path)
    finally:
        for leftover in (partial, *partial.parent.glob(partial.name + "-*")):
            leftover.unlink(missing_ok=True)
    return path, True


def seed(
    path: Path,
    n: int,
    *,
    seed_value: int = 7,
    now: datetime = NOW,
    people: list[Person] | None = None,
) -> Seeded:
    """Migrate a new SQLite file and fill it with ``n`` matters raised and answered by
    ``people`` (members as of two years ago; default: the office admin and ``cast()``)."""
    migrate(path)
    rng = random.Random(seed_value)
    comm = committee()
    kinds = default_registry()
    calendar = WorkingCalendar(comm.calendar or CalendarOverrides())
    today = now.astimezone(SHANGHAI).date()
    everyone = (
        people
        if people is not None
        else [
            (ADMIN_ID, "办公室管理员", "CBS-OFFICE", Role.OFFICE),
            *cast(),
        ]
    )
    heads = [uid for uid, _, _, role in everyone if role is Role.DEPARTMENT_HEAD]
    staff: dict[str, list[int]] = {}
    for uid, _, org, role in everyone:
        if role is Role.COURT_STAFF:
            staff.setdefault(org, []).append(uid)
    org_of = {uid: org for uid, _, org, _ in everyone}
    addressees = rules.addressee_codes(comm)
    answerers = {
        code: [u for c in sorted(comm.courts_answering(code)) for u in staff.get(c, [])]
        for code in addressees
    }
    departments = sorted({org_of[h] for h in heads})
    due_cache: dict[tuple[date, int], date] = {}

    def add_days(day: date, k: int) -> date:
        key = (day, k)
        found = due_cache.get(key)
        if found is None:
            found = due_cache[key] = calendar.add_working_days(day, k)
        return found

    # When each matter was raised, oldest first (ids grow with time, as in the bot). Open
    # ones are chosen by when they are due; the rest spread over two years.
    n_open = n // 20
    latest = now - timedelta(minutes=5)
    specs: list[tuple[float, bool, str | None]] = []  # (created, referral, open status)
    for _ in range(n_open):
        referral = rng.random() < 0.4
        status = SUBMITTED if rng.random() < 0.15 else ACKNOWLEDGED
        roll = rng.random()
        if roll < 0.04:
            due = _back(calendar, today, rng.randint(1, 12))  # overdue
        elif roll < 0.09:
            due = add_days(today, rng.randint(0, 1))  # due soon
        else:
            due = add_days(today, rng.randint(2, 30))
        code = "referral" if referral else "consultation"
        stage_days = 3 if status == SUBMITTED else kinds[code].reply_working_days
        created_day = _back(calendar, due, stage_days)
        created = datetime.combine(created_day, datetime.min.time(), SHANGHAI) + timedelta(
            hours=rng.uniform(8.5, 17.5)
        )
        specs.append((min(created, latest).timestamp(), referral, status))
    end = now.timestamp()
    for _ in range(n - n_open):
        specs.append((end - rng.uniform(3 * 86400, HORIZON_DAYS * 86400), rng.random() < 0.4, None))
    specs.sort(key=lambda s: s[0])

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-131072")  # 128 MiB
    conn.execute("BEGIN")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({', '.join('?' * len(TABLES))})",
        TABLES,
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    joined = stamp(now - timedelta(days=800))
    conn.executemany(
        "INSERT INTO users (user_id, first_name, updated_at) VALUES (?, ?, ?)",
        [(uid, name, stamp(now)) for uid, name, _, _ in everyone],
    )
    conn.executemany(
        "INSERT INTO members (user_id, org_code, role, display_name, joined_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(uid, org, role.value, name, joined) for uid, name, org, role in everyone],
    )
    counters: Counter[tuple[str, int]] = Counter()
    open_count = 0
    events_count = 0
    rows = _rows(
        specs,
        rng,
        kinds,
        add_days,
        heads,
        org_of,
        addressees,
        answerers,
        departments,
        counters,
        now,
    )
    case_sql = (
        "INSERT INTO cases (id, number, kind, year, seq, status, title, raiser_user_id, "
        "raiser_org, fields, submit_token, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    assignment_sql = (
        "INSERT INTO assignments (id, case_id, position, addressee, state, acted_by, acted_at, "
        "outcome, note, stage, due, dues, clock_started_at, paused_days, round, "
        "last_open_state, answers, updated_at, matter_status, raiser_org) "
        "VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?)"
    )
    event_sql = (
        "INSERT INTO events (case_id, actor_user_id, at, action, from_status, to_status, "
        "detail) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    for cases, assignments, events in rows:
        conn.executemany(case_sql, cases)
        conn.executemany(assignment_sql, assignments)
        conn.executemany(event_sql, events)
        open_count += sum(1 for c in cases if c[5] in (SUBMITTED, ACKNOWLEDGED))
        events_count += len(events)
    conn.executemany(
        "INSERT INTO counters (kind, year, value) VALUES (?, ?, ?)",
        [(k, y, v) for (k, y), v in sorted(counters.items())],
    )
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")  # as the bot runs it
    conn.close()  # no ANALYZE: the bot never runs one either
    return Seeded(cases=n, events=events_count, open=open_count, members=len(everyone))


def _rows(
    specs: list[tuple[float, bool, str | None]],
    rng: random.Random,
    kinds: Any,
    add_days: Any,
    heads: list[int],
    org_of: dict[int, str],
    addressees: list[str],
    answerers: dict[str, list[int]],
    departments: list[str],
    counters: Counter[tuple[str, int]],
    now: datetime,
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """The rows of ``cases``, ``assignments`` and ``events``, a chunk of matters at a time."""
    dumps = json.dumps
    referral_kind, consultation_kind = kinds["referral"], kinds["consultation"]
    latest = (now - timedelta(minutes=1)).timestamp()
    acked_latest = (now - timedelta(minutes=2)).timestamp()
    # JSON pieces encoded once (as json.dumps writes them), put together per row.
    descriptions = [dumps("基本情况、已做工作和请求事项。" * k) for k in range(2, 7)]
    quoted = {code: dumps(code) for code in [*addressees, *departments]}
    title_head, title_tail = dumps("关于")[:-1], dumps("号事项的请示")[1:]
    applicant = dumps("张三")
    returned_answers = dumps({"return": {"reason": "材料不全"}})
    resolved_json = {
        kind.code: (
            dumps({"resolve": {"outcome": kind.outcomes[0][0]}}),
            dumps({"outcome": kind.outcomes[0][0]}),
        )
        for kind in (referral_kind, consultation_kind)
    }
    cases: list[tuple[Any, ...]] = []
    assignments: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    random_ = rng.random
    epoch = datetime(1970, 1, 1)

    def at(ts: float) -> str:
        return (epoch + timedelta(seconds=ts)).isoformat(" ", "microseconds")

    for case_id, (created_ts, referral, open_status) in enumerate(specs, start=1):
        kind = referral_kind if referral else consultation_kind
        local = datetime.fromtimestamp(created_ts, SHANGHAI)
        year = local.year
        counters[(kind.code, year)] += 1
        seq = counters[(kind.code, year)]
        raiser = heads[int(random_() * len(heads))]
        addressee = addressees[int(random_() * len(addressees))]
        court_staff = answerers[addressee]
        answerer = court_staff[int(random_() * len(court_staff))] if court_staff else None
        ack_due = add_days(local.date(), kind.ack_working_days)
        reply_due = add_days(local.date(), kind.reply_working_days)
        department = departments[int(random_() * len(departments))]
        title = f"关于{department}第{seq}号事项的请示"
        json_title = f"{title_head}{quoted[department][1:-1]}\\u7b2c{seq}{title_tail}"
        fields = (
            f'{{"title": {json_title}, "description": {descriptions[int(random_() * 5)]}, '
            f'"addressee": {quoted[addressee]}, "urgency": "normal", "reply_by": null'
        )
        if referral:
            fields += f', "applicant": {applicant}, "respondent": {quoted[department]}}}'
        else:
            fields += "}"
        created = at(created_ts)
        dues = f'{{"ack": "{ack_due.isoformat()}", "reply": "{reply_due.isoformat()}"}}'
        events.append((case_id, raiser, created, "submitted", None, SUBMITTED, None))
        # (state, acted_by, acted_at, outcome, note, stage, due, last_open_state, answers)
        updated = created
        if open_status == SUBMITTED:
            state: tuple[Any, ...] = (
                SUBMITTED,
                None,
                None,
                None,
                None,
                "ack",
                ack_due.isoformat(),
                None,
                "{}",
            )
        else:
            acted_ts = created_ts + 3600 + random_() * 59 * 3600
            if open_status is None and random_() < 0.2:
                acted = at(min(acted_ts, latest))
                state = (
                    RETURNED,
                    answerer,
                    acted,
                    None,
                    "材料不全",
                    None,
                    None,
                    SUBMITTED,
                    returned_answers,
                )
                events.append((case_id, answerer, acted, "return", SUBMITTED, RETURNED, None))
                updated = acted
            elif open_status is not None:
                acted = at(min(acted_ts, acked_latest))
                state = (
                    ACKNOWLEDGED,
                    answerer,
                    acted,
                    None,
                    None,
                    "reply",
                    reply_due.isoformat(),
                    None,
                    "{}",
                )
                events.append(
                    (case_id, answerer, acted, "acknowledge", SUBMITTED, ACKNOWLEDGED, None)
                )
                updated = acted
            else:
                acted = at(acted_ts)
                outcome = kind.outcomes[0][0]
                resolved = at(min(acted_ts + 2 * 86400 + random_() * 23 * 86400, latest))
                state = (
                    RESOLVED,
                    answerer,
                    acted,
                    outcome,
                    None,
                    None,
                    None,
                    ACKNOWLEDGED,
                    resolved_json[kind.code][0],
                )
                events.append(
                    (case_id, answerer, acted, "acknowledge", SUBMITTED, ACKNOWLEDGED, None)
                )
                events.append(
                    (
                        case_id,
                        answerer,
                        resolved,
                        "resolve",
                        ACKNOWLEDGED,
                        RESOLVED,
                        resolved_json[kind.code][1],
                    )
                )
                updated = resolved
        cases.append(
            (
                case_id,
                rules.format_number(kind, year, seq),
                kind.code,
                year,
                seq,
                state[0],
                title,
                raiser,
                org_of[raiser],
                fields,
                f"s{case_id:08d}",
                created,
                updated,
            )
        )
        assignments.append(
            (
                case_id,
                case_id,
                addressee,
                state[0],
                state[1],
                state[2],
                state[3],
                state[4],
                state[5],
                state[6],
                dues,
                created,
                state[7],
                state[8],
                updated,
                state[0],  # the matter's status: its one addressee's state
                org_of[raiser],  # the matter's raiser
            )
        )
        if len(cases) >= CHUNK:
            yield cases, assignments, events
            cases, assignments, events = [], [], []
    if cases:
        yield cases, assignments, events
