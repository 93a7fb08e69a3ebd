"""The rows behind /stats: every addressee of the matters raised in a period, with the steps
of their matters that the figures read (``bot.domain.stats`` computes them).

Both queries start from ``ix_cases_created_number`` (the period's matters, read from the
index alone: the kind is the number's prefix, so no matter's row with its whole form is
read), then reach the addressees through their unique (case, position) index and the steps
through ``ix_events_case``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, String, exists, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.stats import AssignmentRow, Step
from bot.storage import schema as t

# The steps any figure reads: answers that leave a deadline's states, pauses and resumes,
# and reading a bulletin. Notes, handler changes and the like are not read.
DUES = ("ack", "reply")
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


def period_cases(start: datetime, end: datetime) -> Select[tuple[int, str, str, str]]:
    """The matters raised in [start, end), in the order of ``ix_cases_created_number``."""
    return (
        select(t.cases.c.id, t.cases.c.number, t.cases.c.title, t.cases.c.raiser_org)
        .where(t.cases.c.created_at >= start, t.cases.c.created_at < end)
        .order_by(t.cases.c.created_at, t.cases.c.number)
    )


def assignments_query(
    start: datetime, end: datetime, addressees: Sequence[str] | None = None
) -> Select[Any]:
    """The addressees of the matters raised in [start, end) (of ``addressees`` only, when
    given: one organisation's drill-down)."""
    raised = period_cases(start, end).subquery("raised")
    a = t.assignments.c
    query = (
        select(
            raised.c.id,
            raised.c.number,
            raised.c.title,
            raised.c.raiser_org,
            a.id.label("assignment_id"),
            a.addressee,
            a.state,
            a.outcome,
            # Read as stored and made into moments here (``_moment``): SQLAlchemy's own
            # conversion of a year's timestamps costs more than reading them.
            type_coerce(a.clock_started_at, String).label("clock_started_at"),
            # The two due days the figures compare with, taken out of the JSON by the database.
            *(a.dues[name].as_string().label(name) for name in DUES),
        )
        # No ORDER BY: the matters come in the index's order, each one's addressees by
        # position (the unique index), and sorting a year's rows would cost a temporary tree.
        .select_from(raised.join(t.assignments, t.assignments.c.case_id == raised.c.id))
    )
    if addressees is not None:
        # ``|| ''`` as in ``steps_query``: from the period's matters, not from every matter
        # ever addressed to the organisation.
        query = query.where((a.addressee + "").in_(list(addressees)))
    return query


def steps_query(
    start: datetime, end: datetime, addressees: Sequence[str] | None = None
) -> Select[Any]:
    """The steps the figures read of the matters raised in [start, end) (with an addressee
    among ``addressees``, when given)."""
    raised = period_cases(start, end).subquery("raised")
    e = t.events.c
    query = (
        select(
            e.case_id,
            e.id,
            e.action,
            type_coerce(e.at, String).label("at"),
            e.from_status,
            e.to_status,
            e.assignment_id,
        )
        .select_from(raised.join(t.events, t.events.c.case_id == raised.c.id))
        # ``action || ''``: filtered on the action itself, the planner would start from
        # ix_events_action_at_case, i.e. from every such step ever taken, instead of the
        # period's matters' steps through ix_events_case.
        .where((e.action + "").in_(STEP_ACTIONS))
    )
    if addressees is not None:
        a = t.assignments.c
        query = query.where(
            exists().where(a.case_id == raised.c.id, a.addressee.in_(list(addressees)))
        )
    return query


def _moment(value: str | datetime) -> datetime:
    """A stored UTC moment as an aware datetime: SQLite keeps ISO text without a zone (see
    ``schema.UTCDateTime``), PostgreSQL's driver hands over datetimes."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value + "+00:00")  # several times faster than .replace()


@dataclass(frozen=True, slots=True)
class Fetched:
    """The period's rows as the database returned them; ``rows()`` makes them into the
    domain's records (CPU work: the caller may do it in a worker thread)."""

    steps: Sequence[Any]
    assignments: Sequence[Any]

    def rows(self) -> list[AssignmentRow]:
        found: dict[int, list[tuple[int, Step]]] = defaultdict(list)
        for case_id, event_id, action, at, from_status, to_status, assignment_id in self.steps:
            step = Step(action, _moment(at), from_status, to_status, assignment_id)
            found[case_id].append((event_id, step))
        steps = {case_id: tuple(s for _, s in sorted(pairs)) for case_id, pairs in found.items()}
        rows: list[AssignmentRow] = []
        for (
            case_id,
            number,
            title,
            raiser_org,
            assignment_id,
            addressee,
            state,
            outcome,
            started,
            ack_due,
            reply_due,
        ) in self.assignments:
            dues = {}
            if ack_due:
                dues["ack"] = ack_due
            if reply_due:
                dues["reply"] = reply_due
            rows.append(
                AssignmentRow(
                    case_id=case_id,
                    assignment_id=assignment_id,
                    number=number,
                    title=title,
                    raiser_org=raiser_org,
                    addressee=addressee,
                    state=state,
                    outcome=outcome,
                    clock_started_at=_moment(started),
                    dues=dues,
                    steps=steps.get(case_id, ()),
                )
            )
        return rows


async def fetch(
    conn: AsyncConnection,
    start: datetime,
    end: datetime,
    addressees: Sequence[str] | None = None,
) -> Fetched:
    """Every addressee of every matter raised in [start, end) (of ``addressees`` only, when
    given), and its matter's steps; ``.all()``: each in one list, not fetched row by row."""
    steps = (await conn.execute(steps_query(start, end, addressees))).all()
    assignments = (await conn.execute(assignments_query(start, end, addressees))).all()
    return Fetched(steps, assignments)
