"""/my's lists of an organisation are read through indexes bounded by it: no table is read
whole, and a raised matter's nearest deadline comes from an index, not its row."""

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
            scans = [p for p in plan if p.startswith("SCAN") and " anon_" not in p]
            assert not [p for p in scans if "subquery" not in p], (view, plan)
            # Each raised matter's nearest deadline (and whether it waits for the raiser)
            # from the covering index, never from the assignment's row.
            raised = [p for p in plan if p.startswith("SEARCH mine")]
            assert raised or not is_page, (view, plan)
            assert all("ix_assignments_case_due_paused" in p for p in raised), (view, plan)
            # Every matter raised by it is looked up once, outside the to-do list: only
            # the other parts are grouped (the whole list's page groups them once more for
            # its total, counted without deadlines).
            whole_page = view == "all" and is_page
            assert plan.count("USE TEMP B-TREE FOR GROUP BY") <= (2 if whole_page else 1), (
                view,
                plan,
            )
            if whole_page:
                # Its total seeks no deadline: each raised matter's nearest one is sought
                # once, for the page only.
                assert len(raised) == 1, (view, plan)
            # Its shared matters still open come from its own rows, never from going
            # through every open matter.
            assert not [p for p in plan if "ix_cases_status_created" in p], (view, plan)
            if view in ("all", "overdue"):
                assert [p for p in plan if "ix_assignments_shared_open (addressee=?)" in p], (
                    view,
                    plan,
                )
