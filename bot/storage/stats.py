"""The rows behind /stats (``bot.domain.stats`` computes the figures from them).

At scale, a summary per addressee of the matters raised in a period (``summary_query``):
the database finds each one's answers, so no step crosses into Python. The few matters with
a request for more information, and a drill-down page's matters, are read whole: every
addressee with the steps of its matter that the figures read (``Fetched``, ``rows_of``).

Every query starts from ``ix_cases_created_number`` (the period's matters, read from the
index alone: the kind is the number's prefix, so no matter's row with its whole form is
read), then reaches the addressees through their unique (case, position) index and the steps
through ``ix_events_case``.
"""

from __future__ import annotations

import functools
import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Subquery,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.stats import (
    PAUSE,
    READ_ACTIONS,
    STEP_ACTIONS,
    AnswerRule,
    AssignmentRow,
    KindRule,
    Step,
    Summary,
)
from bot.storage import schema as t


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
    return _assignments(period_cases(start, end).subquery("raised"), addressees)


def _assignments(raised: Subquery, addressees: Sequence[str] | None = None) -> Select[Any]:
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
            # Every due day (the kind says which the figures compare with): these rows are
            # the few matters a summary cannot stand for, or one drill-down page.
            a.dues,
            a.paused_since.is_not(None).label("paused"),
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
    return _steps(period_cases(start, end).subquery("raised"), addressees)


def _steps(raised: Subquery, addressees: Sequence[str] | None = None) -> Select[Any]:
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
            dues,
            paused,
        ) in self.assignments:
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
                    dues=dues or {},
                    steps=steps.get(case_id, ()),
                    paused=bool(paused),
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


async def rows_of(conn: AsyncConnection, case_ids: Sequence[int]) -> list[AssignmentRow]:
    """Every addressee of these matters with its matter's steps (what ``Tally.add`` and
    ``Calculator.line`` read): the few matters a summary cannot stand for."""
    rows: list[AssignmentRow] = []
    for i in range(0, len(case_ids), CHUNK):
        chunk = list(case_ids[i : i + CHUNK])
        c = t.cases.c
        chosen = (
            select(c.id, c.number, c.title, c.raiser_org).where(c.id.in_(chunk)).subquery("raised")
        )
        steps = (await conn.execute(_steps(chosen))).all()
        assignments = (await conn.execute(_assignments(chosen))).all()
        rows += Fetched(steps, assignments).rows()
    return rows


CHUNK = 500  # matters per IN list (well under any driver's limit on parameters)


# ----------------------------------------------------------------------------- summaries


def _offsets(tz: ZoneInfo, first: datetime, last: datetime) -> list[tuple[datetime | None, int]]:
    """The zone's UTC offsets (seconds) over [first, last], each with the moment it starts
    (None: the first, from before ``first``). Found day by day and bisected to the second:
    SQLite knows no zones, so a local day is the UTC moment moved by the offset then."""

    def offset(moment: datetime) -> int:
        found = moment.astimezone(tz).utcoffset()
        return int(found.total_seconds()) if found is not None else 0

    found: list[tuple[datetime | None, int]] = [(None, offset(first))]
    day = first
    while day < last:
        following = min(day + timedelta(days=1), last)
        if offset(following) != found[-1][1]:
            low, high = day, following  # offset(low) is the old one, offset(high) the new
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if offset(middle) == found[-1][1]:
                    low = middle
                else:
                    high = middle
            found.append((high.replace(microsecond=0), offset(following)))
        day = following
    return found


def _stored(moment: datetime) -> str:
    """A UTC moment as SQLite holds it (``schema.UTCDateTime``: ISO text, no zone)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class LocalDays:
    """Local days (ISO text) of stored moments, worked out by the database: PostgreSQL by
    the zone itself, SQLite by the offsets the zone has over the span asked about (the
    period's start to now; one offset in a zone without daylight saving time)."""

    def __init__(self, dialect: str, tz: ZoneInfo, first: datetime, last: datetime) -> None:
        self.dialect = dialect
        self.tz = tz
        self.offsets = [] if dialect == "postgresql" else _offsets(tz, first, last)

    def _key(self) -> tuple[Any, ...]:
        return (self.dialect, self.tz.key, tuple(self.offsets))

    # Equal when they write the same SQL: a summary's statement is built once for them.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalDays) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __call__(self, column: Any) -> ColumnElement[str]:
        if self.dialect == "postgresql":
            return func.to_char(func.timezone(self.tz.key, column), "YYYY-MM-DD")
        text = type_coerce(column, String)

        def moved(seconds: int) -> ColumnElement[str]:
            return func.date(text, literal(f"{seconds:+d} seconds"))

        offsets = self.offsets
        whens = []
        # Each offset up to the moment the next one starts.
        for (_, seconds), (bound, _) in itertools.pairwise(offsets):
            assert bound is not None
            whens.append((text < _stored(bound), moved(seconds)))
        if not whens:
            return moved(offsets[0][1])
        return case(*whens, else_=moved(offsets[-1][1]))


def _prefixed(number: Any, prefix: str) -> ColumnElement[bool]:
    """A matter's number starts with the kind's prefix (协调 of 协调〔2026〕12号)."""
    marker = prefix + "〔"
    return func.substr(number, 1, len(marker)) == marker


def _first_answer(
    rule: AnswerRule, case_id: Any, assignment: Any, local: LocalDays
) -> ColumnElement[str | None]:
    """The local day of the answer (``AnswerRule``) in the clock's current round: the first
    such step (by id) since the clock started, of this addressee or of the whole matter."""
    e = t.events.alias("answer")
    a = assignment
    states = sorted(rule.states)
    return (
        select(local(e.c.at))
        .where(
            e.c.case_id == case_id,
            # ``|| ''``: through ix_events_case (this matter's steps), as ``steps_query``.
            (e.c.action + "").in_(sorted(rule.actions)),
            e.c.from_status.in_(states),
            or_(e.c.to_status.is_(None), e.c.to_status.not_in(states)),
            e.c.at >= a.clock_started_at,
            or_(e.c.assignment_id.is_(None), e.c.assignment_id == a.id),
        )
        .order_by(e.c.id)
        .limit(1)
        .scalar_subquery()
    )


def _answers(
    rules: Sequence[KindRule],
    pick: Callable[[KindRule], AnswerRule | None],
    number: Any,
    case_id: Any,
    assignment: Any,
    local: LocalDays,
) -> ColumnElement[Any]:
    """One deadline's answer day, by the matter's kind: kinds with the same rule share one
    subquery; NULL for a kind without that deadline."""
    grouped: dict[AnswerRule, list[str]] = {}
    for rule in rules:
        answer = pick(rule)
        if answer is not None:
            grouped.setdefault(answer, []).append(rule.prefix)
    if not grouped:
        return literal(None, String)
    return case(
        *[
            (
                or_(*[_prefixed(number, p) for p in prefixes]),
                _first_answer(answer, case_id, assignment, local),
            )
            for answer, prefixes in grouped.items()
        ],
        else_=None,
    )


def _due(
    rules: Sequence[KindRule], pick: Callable[[KindRule], str | None], number: Any, dues: Any
) -> ColumnElement[Any]:
    """One deadline's due day out of the addressee's ``dues``, under the name its kind keeps
    it by (``KindRule``): one lookup when every kind uses the same name."""
    grouped: dict[str, list[str]] = {}
    for rule in rules:
        key = pick(rule)
        if key is not None:
            grouped.setdefault(key, []).append(rule.prefix)
    if not grouped:
        return literal(None, String)
    if len(grouped) == 1:
        return cast(ColumnElement[Any], dues[next(iter(grouped))].as_string())
    return case(
        *[
            (or_(*[_prefixed(number, p) for p in prefixes]), dues[key].as_string())
            for key, prefixes in grouped.items()
        ],
        else_=None,
    )


def summary_query(
    start: datetime,
    end: datetime,
    rules: Sequence[KindRule],
    local: LocalDays,
    addressees: Sequence[str] | None = None,
) -> Select[Any]:
    """One row per addressee of the matters raised in [start, end) (``Summary``), its
    answers found by the database: from ix_cases_created_number, the addressees through
    their unique (case, position) index, each answer through ix_events_case. (The period
    is written in: ``summaries`` runs the statement with it as parameters.)"""
    return _summary_statement(tuple(rules), local, _addressees(addressees)).params(
        start=start, end=end
    )


def _addressees(addressees: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if addressees is None else tuple(addressees)


@functools.lru_cache(maxsize=16)
def _summary_statement(
    rules: tuple[KindRule, ...], local: LocalDays, addressees: tuple[str, ...] | None
) -> Select[Any]:
    """``summary_query`` with the period's bounds as parameters (``start``, ``end``). Built
    once for the kinds, the zone's offsets and the addressees: building it (a case per kind,
    a subquery per answer rule) cost several milliseconds, once for each month of a year's
    /stats, more than a month's rows took to read."""
    c, a = t.cases.c, t.assignments.c
    bulletins = [r.prefix for r in rules if r.bulletin]
    read: ColumnElement[Any] = literal(None, String)
    if bulletins:
        e = t.events.alias("reading")
        read = case(
            (
                or_(*[_prefixed(c.number, p) for p in bulletins]),
                exists().where(
                    e.c.case_id == c.id,
                    (e.c.action + "").in_(sorted(READ_ACTIONS)),
                    or_(e.c.assignment_id.is_(None), e.c.assignment_id == a.id),
                ),
            ),
            else_=None,
        )
    query = (
        select(
            # Labelled as ``Summary``'s fields: a row reads as one.
            c.id.label("case_id"),
            a.id.label("assignment_id"),
            case(
                *[(_prefixed(c.number, r.prefix), literal(r.code)) for r in rules], else_=None
            ).label("kind"),
            c.raiser_org,
            a.addressee,
            a.state,
            a.outcome,
            local(a.clock_started_at).label("start"),
            _due(rules, lambda r: r.ack_due, c.number, a.dues).label("ack_due"),
            _due(rules, lambda r: r.reply_due, c.number, a.dues).label("reply_due"),
            _answers(rules, lambda r: r.ack, c.number, c.id, a, local).label("ack_day"),
            _answers(rules, lambda r: r.reply, c.number, c.id, a, local).label("reply_day"),
            read.label("read"),
            a.paused_since.is_not(None).label("paused"),
        )
        .select_from(t.cases.join(t.assignments, a.case_id == c.id))
        .where(c.created_at >= bindparam("start"), c.created_at < bindparam("end"))
    )
    if addressees is not None:
        query = query.where((a.addressee + "").in_(list(addressees)))
    return query


def paused_query(since: datetime) -> Select[tuple[int]]:
    """The matters with a request for more information since ``since``: from the covering
    ix_events_action_at_case, a short range (such requests are few)."""
    e = t.events.c
    return select(e.case_id).where(e.action == PAUSE, e.at >= since)


async def paused_cases(conn: AsyncConnection, since: datetime) -> frozenset[int]:
    """Matters whose figures need their steps (``Tally.add_summaries``' ``exact``)."""
    found = (await conn.execute(paused_query(since))).scalars().all()
    return frozenset(cast(Sequence[int], found))


async def summaries(
    conn: AsyncConnection,
    start: datetime,
    end: datetime,
    rules: Sequence[KindRule],
    local: LocalDays,
    addressees: Sequence[str] | None = None,
) -> Sequence[Summary]:
    """``summary_query``'s rows, read as plain tuples in one list."""
    statement = _summary_statement(tuple(rules), local, _addressees(addressees))
    result = await conn.execute(statement, {"start": start, "end": end})
    return cast(Sequence[Summary], result.all())
