"""/my's lists of an organisation are read through indexes bounded by it: no table is read
whole, a matter's nearest deadline comes from an index, not its row, and a page's raised
and addressed matters are read in the list's order, not sought one by one and sorted."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import text

from bot.clock import ManualClock
from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.services.cases import MY_VIEWS
from bot.services.coordination import Coordination
from bot.storage import schema as t
from tests.conftest import SHANGHAI
from tests.flows import LI, ZHAO, admin, member, rows, seed_case
from tests.scenario import running_bot


def _plan_sql(svc: Coordination, view: str, org: str) -> list[str]:
    orgs = svc._answering_addressees(org)
    count, page = svc._own_page_statements(view, len(orgs))
    params = {
        "org": org,
        **{f"orgs_{i}": o for i, o in enumerate(orgs)},
        "user": 1,
        "today": date(2026, 11, 30),
        "offset": 0,
        "limit": 5,
    }
    return [
        str(stmt.params(**params).compile(compile_kwargs={"literal_binds": True}))
        for stmt in (count, page)
    ]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("org", ["CBS-ADMIN", "YB-IPC"])
async def test_an_organisations_lists_read_no_table_whole(svc: Coordination, org: str) -> None:
    for view in MY_VIEWS:
        for sql, is_page in zip(_plan_sql(svc, view, org), (False, True), strict=True):
            async with svc.db.read() as conn:
                plan = [str(r[3]) for r in await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
            # No table read whole ("SCAN CONSTANT ROW" is a count's row of no table).
            scans = [p for p in plan if p.startswith("SCAN") and " anon_" not in p]
            assert not [p for p in scans if "subquery" not in p and "CONSTANT ROW" not in p], (
                view,
                plan,
            )
            # A matter's nearest deadline (and whether it waits for the raiser) from the
            # covering index, never from the assignment's row.
            mine = [p for p in plan if p.startswith("SEARCH mine")]
            assert mine or not is_page, (view, plan)
            assert all("ix_assignments_case_due_paused" in p for p in mine), (view, plan)
            # Only the page's few candidates are grouped; the total groups nothing.
            assert plan.count("USE TEMP B-TREE FOR GROUP BY") == (1 if is_page else 0), (
                view,
                plan,
            )
            if view != "raised":
                # The matters addressed to it (to each center it staffs too) come in the
                # page's order from the running deadlines' index by addressee, one addressee
                # after another; the total is counted over its rows in the addressees'
                # indexes, never from the matters' rows.
                by_addressee = [p for p in plan if "ix_assignments_addressee_due (addressee=?" in p]
                if is_page:
                    assert len(by_addressee) >= len(svc._answering_addressees(org)), (view, plan)
                counted = (
                    "ix_assignments_addressee_due"
                    if view == "overdue"
                    else "ix_assignments_addressee_open"
                )
                assert [p for p in plan if f"COVERING INDEX {counted} (addressee=?" in p], (
                    view,
                    plan,
                )
            if view == "todo":
                # Its raised matters waiting for its more come from its paused rows, not from
                # going through all it raised.
                assert [p for p in plan if "ix_assignments_raiser_paused (raiser_org=?)" in p], (
                    view,
                    plan,
                )
                assert not [p for p in plan if "ix_cases_raiser_org_status_created" in p], (
                    view,
                    plan,
                )
                continue
            by_deadline = [p for p in plan if "ix_assignments_raiser_due" in p]
            raised_index = [p for p in plan if "ix_cases_raiser_org_status_created" in p]
            if is_page:
                # The raised matters with a deadline running come in the page's order from
                # the running deadlines' index by raiser, nearest first: no per-matter seek
                # for the others, no sort of them all.
                assert [p for p in by_deadline if "(raiser_org=?" in p], (view, plan)
                if view == "overdue":
                    # None without a deadline is late: its raised matters are not gone through.
                    assert not raised_index, (view, plan)
            if view == "overdue":
                # Its late raised matters are counted from the running deadlines' index.
                assert [p for p in by_deadline if "(raiser_org=? AND due" in p], (view, plan)
            elif not is_page:
                # Its raised matters are counted from the matters' index alone: no deadline
                # sought for the count.
                assert raised_index and not mine, (view, plan)
            # Its shared matters still open come from its own rows, never from going
            # through every open matter.
            assert not [p for p in plan if "ix_cases_status_created" in p], (view, plan)


@pytest.mark.sqlite_only
async def test_a_courts_my_is_read_on_the_loops_thread(committee: Committee, db_url: str) -> None:
    """A court's lists read a page's rows and count its own index entries, and the office's
    whole list counts one index's entries of the open matters: /my is read in the update's
    unit of work, with no trip to the driver's thread."""
    clock = ManualClock(datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, db_url, clock) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目土地租赁模式法律风险")
        db = bot.svc.db
        await bot.say(zhao, "/my")  # its connection set up once
        trips = db.trips
        await bot.say(zhao, "/my")
        assert db.trips == trips
        shown = bot.fake.last_message_to(zhao)["text"]
        assert case.number in shown and "滑雪场扩建项目土地租赁模式法律风险" in shown
        office = admin(bot)
        await bot.say(office, "/my")  # its connection set up once
        trips = db.trips
        await bot.say(office, "/my")
        assert db.trips == trips
        assert case.number in bot.fake.last_message_to(office)["text"]
        (row,) = await rows(bot, t.assignments)
    assert (row.addressee, row.raiser_org, row.matter_status) == ("YB-IPC", "CBS-NR", case.status)


async def test_my_lists_compiled_soon_after_start_leave_nothing_to_compile_on_a_members_time(
    committee: Committee, db_url: str
) -> None:
    """/my's statements are large: compiled on a member's first /my they cost milliseconds.
    The warm-up soon after start runs each list once for nobody; then a court clerk's and the
    office's lists (and their buttons) compile nothing more, and still show their matters."""
    clock = ManualClock(datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, db_url, clock) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目土地租赁模式法律风险")
        await bot.say(li, "/my")  # what every /my reads besides its list, compiled once
        compiled = bot.svc.db.engine.sync_engine._compiled_cache
        assert compiled is not None
        office = admin(bot)
        viewers = {who.id: await bot.svc.viewer(who.id, "", None) for who in (zhao, office)}
        assert await bot.svc.warm_up_lists() == len(MY_VIEWS) * 2 + 2  # one or two addressees
        after_warm_up = len(compiled)
        for who in (zhao, office):
            await bot.say(who, "/my")
            assert case.number in bot.fake.last_message_to(who)["text"]
            for view in MY_VIEWS:
                cases, _ = await bot.svc.open_cases(viewers[who.id], 0, 5, view)
                if view == "all":
                    assert [c.number for c in cases] == [case.number], who
        assert len(compiled) == after_warm_up
