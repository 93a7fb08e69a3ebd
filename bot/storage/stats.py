"""The rows behind /stats: every addressee of the matters raised in a period, with the steps
of their matters that the figures read (``bot.domain.stats`` computes them).

Both queries start from ``ix_cases_created_number`` (the period's matters, read from the
index alone: the kind is the number's prefix, so no matter's row with its whole form is
read), then reach the addressees through their unique (case, position) index and the steps
through ``ix_events_case``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.stats import AssignmentRow, Step
from bot.storage import schema as t

# The steps any figure reads: answers that leave a deadline's states, pauses and resumes,
# and reading a bulletin. Notes, handler changes and the like are not read.
STEP_ACTIONS: tuple[str, ...] = (
    "acknowledge",
    "return",
    "resolve",
    "reply",
    "name_official",
    "read",
    "answer",
    "request_info",
    "provide_info",
)


def period_cases(start: datetime, end: datetime) -> Select[tuple[int, str, str, str, datetime]]:
    """The matters raised in [start, end), in the order of ``ix_cases_created_number``."""
    return (
        select(
            t.cases.c.id,
            t.cases.c.number,
            t.cases.c.title,
            t.cases.c.raiser_org,
            t.cases.c.created_at,
        )
        .where(t.cases.c.created_at >= start, t.cases.c.created_at < end)
        .order_by(t.cases.c.created_at, t.cases.c.number)
    )


def assignments_query(start: datetime, end: datetime) -> Select[Any]:
    raised = period_cases(start, end).subquery("raised")
    a = t.assignments.c
    return (
        select(
            raised.c.id,
            raised.c.number,
            raised.c.title,
            raised.c.raiser_org,
            raised.c.created_at,
            a.id.label("assignment_id"),
            a.addressee,
            a.state,
            a.outcome,
            a.clock_started_at,
            a.dues,
        )
        # No ORDER BY: the matters come in the index's order, each one's addressees by
        # position (the unique index), and sorting a year's rows would cost a temporary tree.
        .select_from(raised.join(t.assignments, t.assignments.c.case_id == raised.c.id))
    )


def steps_query(start: datetime, end: datetime) -> Select[Any]:
    raised = period_cases(start, end).subquery("raised")
    e = t.events.c
    return (
        select(e.case_id, e.id, e.action, e.at, e.from_status, e.to_status, e.assignment_id)
        # Every step of the period's matters, through ix_events_case: a filter on the action
        # here would make the planner start from ix_events_action_at_case, i.e. from every
        # such step ever taken. The few others are dropped while reading.
        .select_from(raised.join(t.events, t.events.c.case_id == raised.c.id))
    )


async def assignment_rows(
    conn: AsyncConnection, start: datetime, end: datetime
) -> list[AssignmentRow]:
    """Every addressee of every matter raised in [start, end), with its matter's steps."""
    found: dict[int, list[tuple[int, Step]]] = defaultdict(list)
    wanted = frozenset(STEP_ACTIONS)
    for case_id, event_id, action, at, from_status, to_status, assignment_id in await conn.execute(
        steps_query(start, end)
    ):
        if action in wanted:
            step = Step(action, at, from_status, to_status, assignment_id)
            found[case_id].append((event_id, step))
    steps = {case_id: [s for _, s in sorted(pairs)] for case_id, pairs in found.items()}
    rows: list[AssignmentRow] = []
    frozen: dict[int, tuple[Step, ...]] = {}
    for r in await conn.execute(assignments_query(start, end)):
        case_steps = frozen.get(r.id)
        if case_steps is None:
            case_steps = frozen[r.id] = tuple(steps.get(r.id, ()))
        rows.append(
            AssignmentRow(
                case_id=r.id,
                assignment_id=r.assignment_id,
                number=r.number,
                title=r.title,
                raiser_org=r.raiser_org,
                created_at=r.created_at,
                addressee=r.addressee,
                state=r.state,
                outcome=r.outcome,
                clock_started_at=r.clock_started_at,
                dues=r.dues or {},
                steps=case_steps,
            )
        )
    return rows
