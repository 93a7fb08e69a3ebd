"""The Alembic migrations build exactly the schema the code declares, on SQLite and on
PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, select

from bot.storage.db import Database, alembic_config, schema_head
from bot.storage.schema import declared, invites, metadata
from tests.conftest import SQLITE
from tests.migrating import migrate_to


@pytest.mark.postgres
async def test_migrations_match_the_declared_schema(empty_db_url: str, database: str) -> None:
    db = Database(empty_db_url)
    await db.migrate()
    await db.migrate()  # applying again at the next start is a no-op

    def diff(sync_conn):  # type: ignore[no-untyped-def]
        return compare_metadata(
            MigrationContext.configure(sync_conn, opts={"include_name": declared}), metadata
        )

    async with db.read() as conn:
        assert await conn.run_sync(diff) == []
        if database == SQLITE:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            assert mode == "wal"
    await db.dispose()


@pytest.mark.postgres
async def test_invite_hashes_go_down_and_up_again(empty_db_url: str) -> None:
    """0007 can be undone (links handed out stop working: their tokens are gone) and redone."""
    db = Database(empty_db_url)
    await db.migrate()
    digest = hashlib.sha256(b"token-handed-out").hexdigest()
    moment = datetime(2026, 12, 2, tzinfo=UTC)
    async with db.write() as conn:
        await conn.execute(
            invites.insert().values(
                token_hash=digest,
                org_code="CBS-NR",
                role="department_head",
                created_by=1001,
                created_at=moment,
                expires_at=moment,
                withdrawn_at=moment,
                withdrawn_by=1001,
            )
        )

    to = partial(migrate_to, db.url)  # run_sync(to(revision))

    async with db.write() as conn:
        await conn.run_sync(to("0006"))
    async with db.read() as conn:
        row = (await conn.exec_driver_sql("SELECT token, revoked_at FROM invites")).one()
    assert row.token == digest[:32] and row.revoked_at is not None
    async with db.write() as conn:
        await conn.run_sync(to("head"))
    async with db.read() as conn:
        (after,) = (await conn.execute(select(invites))).all()
        assert await conn.run_sync(_diff) == []
    # A prefix of a hash is no token of any link: nothing opens it.
    assert after.token_hash == hashlib.sha256(digest[:32].encode()).hexdigest()
    assert after.withdrawn_at == moment and after.withdrawn_by is None
    await db.dispose()


def _diff(sync_conn: Connection) -> list[object]:
    context = MigrationContext.configure(sync_conn, opts={"include_name": declared})
    return list(compare_metadata(context, metadata))


def test_the_head_read_from_the_files_is_alembics() -> None:
    """Start-up compares the database with the head read from the migration files' text."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    assert schema_head() == scripts.get_current_head()


def test_a_start_on_a_database_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    """Importing Alembic is a good part of start-up: it is left out when nothing is due."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}"

    async def first_start() -> None:
        db = Database(url)
        await db.migrate()
        await db.dispose()

    asyncio.run(first_start())
    code = (
        "import asyncio, sys\n"
        "from bot.storage.db import Database\n"
        f"db = Database({url!r})\n"
        "asyncio.run(db.migrate())\n"
        "asyncio.run(db.dispose())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.postgres
async def test_a_database_behind_head_is_brought_up_to_it(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    await db.migrate()

    def down(sync_conn: Connection) -> None:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = sync_conn
        command.downgrade(cfg, "0006")

    async with db.write() as conn:
        await conn.run_sync(down)
    await db.migrate()
    async with db.read() as conn:
        version = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar()
        assert await conn.run_sync(_diff) == []
    assert version == schema_head()
    await db.dispose()


@pytest.mark.postgres
async def test_every_migration_goes_down_to_nothing_and_up_again(empty_db_url: str) -> None:
    """Each migration's downgrade undoes its upgrade (indexes included), so any revision can
    be gone back to and left again."""
    db = Database(empty_db_url)
    await db.migrate()

    def to(revision: str) -> Callable[[Connection], list[str]]:
        def run(sync_conn: Connection) -> list[str]:
            cfg = alembic_config(db.url)
            cfg.attributes["connection"] = sync_conn
            if revision == "head":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, revision)
            return sorted(inspect(sync_conn).get_table_names())

        return run

    async with db.write() as conn:
        assert await conn.run_sync(to("base")) == ["alembic_version"]
    async with db.write() as conn:
        await conn.run_sync(to("head"))
    async with db.read() as conn:
        assert await conn.run_sync(_diff) == []
    await db.dispose()


@pytest.mark.postgres
async def test_0013_gives_existing_addressees_their_matters_status(empty_db_url: str) -> None:
    """Rows written before 0013 get their matter's status, so /my's index of open shared
    matters holds those already there (and no closed or single-addressee one)."""
    from bot.storage.schema import assignments, cases

    db = Database(empty_db_url)
    await db.migrate()
    moment = datetime(2026, 12, 2, tzinfo=UTC)
    statuses = {1: "open", 2: "closed", 3: "submitted"}
    addressees = {1: ["CBS-NR", "CBS-ENV"], 2: ["CBS-NR", "CBS-ENV"], 3: ["CBS-NR"]}
    async with db.write() as conn:
        for case_id, status in statuses.items():
            await conn.execute(
                cases.insert().values(
                    id=case_id,
                    number=f"N{case_id}",
                    kind="bulletin",
                    year=2026,
                    seq=case_id,
                    status=status,
                    title="t",
                    raiser_user_id=1001,
                    raiser_org="CHIBEI",
                    fields={},
                    submit_token=f"s{case_id}",
                    created_at=moment,
                    updated_at=moment,
                )
            )
            for position, code in enumerate(addressees[case_id], start=1):
                await conn.execute(
                    assignments.insert().values(
                        case_id=case_id,
                        position=position,
                        addressee=code,
                        state="read",
                        dues={},
                        clock_started_at=moment,
                        answers={},
                        updated_at=moment,
                    )
                )

    to = partial(migrate_to, db.url)  # run_sync(to(revision))

    async with db.write() as conn:
        await conn.run_sync(to("0012_find_personal"))
        columns = await conn.run_sync(
            lambda c: [col["name"] for col in inspect(c).get_columns("assignments")]
        )
        assert "matter_status" not in columns
    async with db.write() as conn:
        await conn.run_sync(to("head"))
    async with db.read() as conn:
        assert await conn.run_sync(_diff) == []
        filled = {
            (r.case_id, r.addressee): r.matter_status
            for r in await conn.execute(select(assignments))
        }
        shared = (
            await conn.exec_driver_sql(
                "SELECT addressee, case_id FROM assignments WHERE matter_status = 'open' "
                "ORDER BY addressee, case_id"
            )
        ).all()
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("assignments"))
    assert filled == {
        (1, "CBS-NR"): "open",
        (1, "CBS-ENV"): "open",
        (2, "CBS-NR"): "closed",
        (2, "CBS-ENV"): "closed",
        (3, "CBS-NR"): "submitted",
    }
    assert [tuple(r) for r in shared] == [("CBS-ENV", 1), ("CBS-NR", 1)]
    by_name = {i["name"]: i["column_names"] for i in indexes}
    assert by_name["ix_assignments_shared_open"] == ["addressee", "case_id"]
    assert by_name["ix_assignments_case_due_paused"] == ["case_id", "due", "paused_since"]
    await db.dispose()


@pytest.mark.postgres
async def test_0014_gives_existing_addressees_their_matters_raiser(empty_db_url: str) -> None:
    """Rows written before 0014 get their matter's raiser, so /my's indexes of running
    deadlines and of paused clocks by raiser hold those already there (and 0015's by
    addressee are built over them); down again drops them."""
    from bot.storage.schema import assignments, cases

    db = Database(empty_db_url)
    await db.migrate()
    moment = datetime(2026, 12, 2, tzinfo=UTC)
    raisers = {1: "CHIBEI", 2: "YB-IPC", 3: "CHIBEI"}
    addressees = {1: ["CBS-NR", "CBS-ENV"], 2: ["CBS-NR"], 3: ["CBS-ENV"]}
    dues = {1: date(2026, 12, 9), 2: date(2026, 12, 4), 3: None}  # 3: its clock paused
    rows = [(case_id, position, code) for case_id in raisers for position, code in
            enumerate(addressees[case_id], start=1)]  # fmt: skip

    to = partial(migrate_to, db.url)  # run_sync(to(revision))

    async with db.write() as conn:
        await conn.run_sync(to("0013_my_raised_due"))
    async with db.write() as conn:
        for case_id, org in raisers.items():
            await conn.exec_driver_sql(
                "INSERT INTO cases (id, number, kind, year, seq, status, title, raiser_user_id, "
                "raiser_org, fields, submit_token, created_at, updated_at) VALUES "
                f"({case_id}, 'N{case_id}', 'bulletin', 2026, {case_id}, 'open', 't', 1001, "
                f"'{org}', '{{}}', 's{case_id}', '{moment.isoformat()}', '{moment.isoformat()}')"
            )
        for case_id, position, code in rows:
            due = dues[case_id]
            await conn.exec_driver_sql(
                "INSERT INTO assignments (case_id, position, addressee, state, due, "
                "paused_since, dues, clock_started_at, answers, updated_at, matter_status) "
                f"VALUES ({case_id}, {position}, '{code}', 'read', "
                f"{'NULL' if due is None else repr(due.isoformat())}, "
                f"{'NULL' if due else repr(moment.date().isoformat())}, '{{}}', "
                f"'{moment.isoformat()}', '{{}}', '{moment.isoformat()}', 'open')"
            )
    async with db.write() as conn:
        await conn.run_sync(to("head"))
    async with db.read() as conn:
        assert await conn.run_sync(_diff) == []
        filled = {
            (r.case_id, r.addressee): r.raiser_org for r in await conn.execute(select(assignments))
        }
        a = assignments.c
        running = (
            await conn.execute(
                select(a.raiser_org, a.due, a.case_id)
                .where(a.due.is_not(None))
                .order_by(a.raiser_org, a.due, a.case_id)
            )
        ).all()
        waiting = (
            await conn.execute(
                select(a.raiser_org, a.case_id)
                .where(a.paused_since.is_not(None))
                .order_by(a.raiser_org, a.case_id)
            )
        ).all()
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("assignments"))
        raised = {r.id: r.raiser_org for r in await conn.execute(select(cases))}
    assert raised == raisers
    assert filled == {
        (1, "CBS-NR"): "CHIBEI",
        (1, "CBS-ENV"): "CHIBEI",
        (2, "CBS-NR"): "YB-IPC",
        (3, "CBS-ENV"): "CHIBEI",
    }
    assert [tuple(r) for r in running] == [
        ("CHIBEI", date(2026, 12, 9), 1),
        ("CHIBEI", date(2026, 12, 9), 1),
        ("YB-IPC", date(2026, 12, 4), 2),
    ]
    assert [tuple(r) for r in waiting] == [("CHIBEI", 3)]
    by_name = {i["name"]: i["column_names"] for i in indexes}
    assert by_name["ix_assignments_raiser_due"] == ["raiser_org", "due", "case_id"]
    assert by_name["ix_assignments_raiser_paused"] == ["raiser_org", "case_id"]
    # 0015: a court's addressed matters by deadline, and its open matters' rows counted.
    assert by_name["ix_assignments_addressee_due"] == [
        "addressee",
        "due",
        "case_id",
        "state",
        "matter_status",
        "raiser_org",
        "paused_since",
        "handler_user_id",
    ]
    assert by_name["ix_assignments_addressee_open"] == [
        "addressee",
        "matter_status",
        "case_id",
        "raiser_org",
        "state",
        "due",
        "paused_since",
        "handler_user_id",
    ]
    async with db.write() as conn:
        await conn.run_sync(to("0013_my_raised_due"))
        columns = await conn.run_sync(
            lambda c: [col["name"] for col in inspect(c).get_columns("assignments")]
        )
        names = await conn.run_sync(
            lambda c: {i["name"] for i in inspect(c).get_indexes("assignments")}
        )
        kept = (await conn.exec_driver_sql("SELECT count(*) FROM assignments")).scalar_one()
    assert "raiser_org" not in columns
    assert not names & {
        "ix_assignments_raiser_due",
        "ix_assignments_raiser_paused",
        "ix_assignments_addressee_due",
        "ix_assignments_addressee_open",
    }
    assert kept == len(rows)
    async with db.write() as conn:
        await conn.run_sync(to("head"))
    async with db.read() as conn:
        assert await conn.run_sync(_diff) == []
        again = {r.raiser_org for r in await conn.execute(select(assignments))}
    assert again == {"CHIBEI", "YB-IPC"}
    await db.dispose()
