"""/my's lists of an organisation are read through indexes bounded by it: no table is read
whole, a matter's nearest deadline comes from an index, not its row, and a page's raised
matters are read in the list's order, not sought one by one and sorted."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from bot.services.cases import MY_VIEWS
from bot.services.coordination import Coordination


def _plan_sql(svc: Coordination, view: str, org: str) -> list[str]:
    count, page = svc._own_page_statements(view)
    params = {
        "org": org,
        "orgs": svc._answering_addressees(org),
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
            # Only the other parts (addressed to it, shared) are grouped: once for the page's
            # candidates, once for its total.
            assert plan.count("USE TEMP B-TREE FOR GROUP BY") <= (
                2 if is_page and view != "todo" else 1
            ), (view, plan)
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
            if view in ("all", "overdue"):
                assert [p for p in plan if "ix_assignments_shared_open (addressee=?)" in p], (
                    view,
                    plan,
                )
