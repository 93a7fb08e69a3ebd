"""Matters: raising and reading them, and who hears of them.

Driven by the kinds' declarations: ``submit`` records a matter with one row per addressee, in
one write transaction with its audit event and the notices it causes. Acting on a matter is
``bot.services.acting``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Date,
    Executable,
    Integer,
    Row,
    Select,
    String,
    and_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy import case as sql_case
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import FromClause

from bot.domain import lifecycle, rules
from bot.domain.errors import InvalidInput, NotAllowed, NotFound
from bot.domain.fields import FILES, FieldContext, FieldSpec, check_values
from bot.domain.kinds import MATTER_OPEN, KindSpec, Side
from bot.domain.models import Assignment, Case, CaseFile, Event, Member, Role, Viewer
from bot.domain.workdays import WorkingCalendar
from bot.i18n import normalise_lang
from bot.services.base import Recipient, ServiceBase, _answering
from bot.storage import schema as t
from bot.storage import search as search_index
from bot.storage.db import execute
from bot.storage.outbox import enqueue_many

logger = logging.getLogger(__name__)

# The lists /my offers: every open matter, those waiting for the member's organisation, those
# it raised, and the overdue ones.
ALL, TODO, RAISED, OVERDUE = "all", "todo", "raised", "overdue"
MY_VIEWS = (ALL, TODO, RAISED, OVERDUE)


# Statements read on most updates, built once: building one costs more than SQLAlchemy's
# compiled cache saves it (the cache key of a prebuilt statement is computed only once too).
_HANDLER = t.users.alias("handler")
_ACTOR = t.users.alias("actor")
_ASSIGNMENTS: Select[Any] = (
    select(
        # Its matter's status and raiser are the matter's own: only /my's indexes need them.
        *(c for c in t.assignments.c if c.name not in ("matter_status", "raiser_org")),
        _HANDLER.c.first_name.label("handler_name"),
        _ACTOR.c.first_name.label("acted_by_name"),
    )
    .select_from(
        t.assignments.outerjoin(
            _HANDLER, _HANDLER.c.user_id == t.assignments.c.handler_user_id
        ).outerjoin(_ACTOR, _ACTOR.c.user_id == t.assignments.c.acted_by)
    )
    .order_by(t.assignments.c.case_id, t.assignments.c.position)
)
_ASSIGNMENTS_OF = _ASSIGNMENTS.where(t.assignments.c.case_id.in_(bindparam("ids", expanding=True)))
# One matter's (most reads): no IN list to expand on every execution.
_ASSIGNMENTS_OF_CASE = _ASSIGNMENTS.where(t.assignments.c.case_id == bindparam("case_id"))
_RAISER = t.users.alias("raiser")
_CASE = (
    select(t.cases, _RAISER.c.first_name.label("raiser_name"))
    .select_from(t.cases.outerjoin(_RAISER, _RAISER.c.user_id == t.cases.c.raiser_user_id))
    .where(t.cases.c.id == bindparam("case_id"))
)
_CASES_IN = select(t.cases).where(t.cases.c.id.in_(bindparam("ids", expanding=True)))
_FILES_OF = (
    select(t.case_files)
    .where(t.case_files.c.case_id == bindparam("case_id"))
    .order_by(t.case_files.c.id)
)
_CASE_BY_NUMBER = select(t.cases.c.id).where(
    t.cases.c.kind == bindparam("kind"),
    t.cases.c.year == bindparam("year"),
    t.cases.c.seq == bindparam("seq"),
)
_CASE_BY_SUBMIT_TOKEN = select(t.cases.c.id).where(
    t.cases.c.submit_token == bindparam("submit_token")
)
_NEW_CASE = (
    t.cases.insert()
    .values(
        {
            name: bindparam(name, type_=t.cases.c[name].type)
            for name in (
                "number",
                "kind",
                "year",
                "seq",
                "status",
                "title",
                "raiser_user_id",
                "raiser_org",
                "fields",
                "submit_token",
                "created_at",
                "updated_at",
            )
        }
    )
    .returning(t.cases.c.id)
)
_EVENTS_WITH_ACTOR = select(t.events, t.users.c.first_name).select_from(
    t.events.outerjoin(t.users, t.users.c.user_id == t.events.c.actor_user_id)
)
_HISTORY = _EVENTS_WITH_ACTOR.where(t.events.c.case_id == bindparam("case_id")).order_by(
    t.events.c.id
)
# A new matter's addressees and documents (one parameter set per row: an executemany).
_NEW_ASSIGNMENT = t.assignments.insert().values(
    {
        name: bindparam(f"new_{name}", type_=t.assignments.c[name].type)
        for name in (
            "case_id",
            "position",
            "addressee",
            "state",
            "matter_status",
            "raiser_org",
            "clock_started_at",
            "paused_days",
            "round",
            "answers",
            "updated_at",
            "stage",
            "due",
            "dues",
        )
    }
)
_NEW_FILE = t.case_files.insert().values(
    {
        name: bindparam(f"new_{name}", type_=t.case_files.c[name].type)
        for name in ("case_id", "media", "file_id", "file_unique_id", "file_name", "file_size")
    }
)
# The step a notice names (every step's notices and edits read it).
_EVENT = _EVENTS_WITH_ACTOR.where(t.events.c.id == bindparam("event_id"))


def _sql_strings(values: Iterable[str]) -> list[ColumnElement[str]]:
    """Constant strings (the committee's state codes) written into a statement as SQL
    literals, not bound: see ``Cases._own_page_statements``."""
    return [literal_column("'" + v.replace("'", "''") + "'", String) for v in values]


# A limit no organisation's rows reach (a limit must be a number on every dialect).
_ANY = 2**62


def _due_before(other: FromClause, row: FromClause) -> ColumnElement[bool]:
    """``other`` (another addressee row of the same matter) comes before ``row`` in deadline
    order, ties broken by id: a matter is listed at its first such row only."""
    return or_(other.c.due < row.c.due, and_(other.c.due == row.c.due, other.c.id < row.c.id))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a submit or an action did: ``changed`` is False when it had happened before.

    ``notified`` counts the members of the addressees a new matter was queued for."""

    case: Case
    changed: bool
    notified: int = 0
    event_id: int | None = None


def files_of(values: Mapping[str, Any], fields: Sequence[FieldSpec]) -> list[dict[str, Any]]:
    """The documents and photos of a form's answers (they are stored apart from the fields)."""
    found: list[dict[str, Any]] = []
    for spec in fields:
        if spec.type is FILES:
            found.extend(values.get(spec.name) or [])
    return found


class Cases(ServiceBase):
    @cached_property
    def _own_pages(self) -> dict[tuple[str, int], tuple[Select[Any], Select[Any]]]:
        """/my's statements by list, built when first shown (``_own_page_statements``)."""
        return {}

    @cached_property
    def _next_number(self) -> Executable:
        """The next number of a kind in a year (built once: the upsert is the dialect's)."""
        c = t.counters.c
        stmt = self._insert(t.counters).values(
            kind=bindparam("kind", type_=c.kind.type),
            year=bindparam("year", type_=c.year.type),
            value=1,
        )
        upsert: Executable = stmt.on_conflict_do_update(
            index_elements=[c.kind, c.year], set_={"value": c.value + 1}
        ).returning(c.value)
        return upsert

    # ------------------------------------------------------------------ reading

    def field_context(
        self, dynamic: Mapping[str, Sequence[tuple[str, str]]] | None = None
    ) -> FieldContext:
        return FieldContext(self.committee, self.clock.now(), self.tz, dynamic or {})

    def _case(
        self,
        row: Row[Any],
        files: tuple[CaseFile, ...] = (),
        assignments: tuple[Assignment, ...] = (),
        raiser_name: str = "",
    ) -> Case:
        return Case(
            id=row.id,
            number=row.number,
            kind=row.kind,
            year=row.year,
            seq=row.seq,
            status=row.status,
            title=row.title,
            raiser_user_id=row.raiser_user_id,
            raiser_org=row.raiser_org,
            fields=dict(row.fields),
            created_at=row.created_at,
            updated_at=row.updated_at,
            raiser_name=raiser_name,
            files=files,
            assignments=assignments,
        )

    async def _assignments(
        self, conn: AsyncConnection, case_ids: Iterable[int]
    ) -> dict[int, tuple[Assignment, ...]]:
        ids = list(case_ids)
        if not ids:
            return {}
        if len(ids) == 1:
            rows = (await execute(conn, _ASSIGNMENTS_OF_CASE, {"case_id": ids[0]})).all()
        else:
            rows = (await conn.execute(_ASSIGNMENTS_OF, {"ids": ids})).all()
        found: dict[int, list[Assignment]] = {i: [] for i in ids}
        for r in rows:
            found[r.case_id].append(
                Assignment(
                    id=r.id,
                    case_id=r.case_id,
                    addressee=r.addressee,
                    position=r.position,
                    state=r.state,
                    clock_started_at=r.clock_started_at,
                    updated_at=r.updated_at,
                    handler_user_id=r.handler_user_id,
                    handler_name=r.handler_name or "",
                    acted_by=r.acted_by,
                    acted_by_name=r.acted_by_name or "",
                    acted_at=r.acted_at,
                    outcome=r.outcome,
                    note=r.note,
                    stage=r.stage,
                    due=r.due,
                    dues=dict(r.dues or {}),
                    paused_since=r.paused_since,
                    paused_days=r.paused_days,
                    round=r.round,
                    last_open_state=r.last_open_state,
                    answers=dict(r.answers or {}),
                )
            )
        return {case_id: tuple(items) for case_id, items in found.items()}

    async def _load_case(self, conn: AsyncConnection, case_id: int) -> Case | None:
        row = (await execute(conn, _CASE, {"case_id": case_id})).first()
        if row is None:
            return None
        files = tuple(
            CaseFile(f.media, f.file_id, f.file_unique_id, f.file_name, f.file_size)
            for f in (await execute(conn, _FILES_OF, {"case_id": case_id})).all()
        )
        assignments = (await self._assignments(conn, [case_id]))[case_id]
        return self._case(row, files, assignments, row.raiser_name or "")

    async def get_case(self, case_id: int) -> Case:
        async with self.db.read() as conn:
            case = await self._load_case(conn, case_id)
        if case is None:
            raise NotFound("case_unknown")
        return case

    async def case_by_submit_token(self, token: str) -> Case | None:
        """The matter a raise conversation produced, if it was submitted."""
        async with self.db.read() as conn:
            case_id = (
                await execute(conn, _CASE_BY_SUBMIT_TOKEN, {"submit_token": token})
            ).scalar_one_or_none()
            return None if case_id is None else await self._load_case(conn, case_id)

    async def find_case(self, number_text: str) -> Case:
        parsed = rules.parse_number(number_text, self.kinds)
        if parsed is None:
            raise InvalidInput("bad_number")
        kind, year, seq = parsed
        async with self.db.read() as conn:
            case_id = (
                await execute(conn, _CASE_BY_NUMBER, {"kind": kind, "year": year, "seq": seq})
            ).scalar_one_or_none()
            case = None if case_id is None else await self._load_case(conn, case_id)
        if case is None:
            raise NotFound("case_unknown")
        return case

    async def case_for_viewer(self, viewer: Viewer, case: Case) -> list[Event]:
        """The history of a case, for a viewer who may see it."""
        if not rules.can_view(viewer.member, case, self.committee):
            raise NotAllowed("cannot_view")
        seen = {
            a.id
            for a in rules.addressees_seen(
                viewer.member, case, self.committee, self.kinds[case.kind]
            )
        }
        async with self.db.read() as conn:
            rows = (await execute(conn, _HISTORY, {"case_id": case.id})).all()
        # Steps on the whole matter, and those of the addressees the viewer may see.
        return [
            self._to_event(r) for r in rows if r.assignment_id is None or r.assignment_id in seen
        ]

    @staticmethod
    def _to_event(r: Row[Any]) -> Event:
        return Event(
            at=r.at,
            action=r.action,
            actor_user_id=r.actor_user_id,
            actor_name=r.first_name or "",
            from_status=r.from_status,
            to_status=r.to_status,
            detail=dict(r.detail or {}),
            assignment_id=r.assignment_id,
            id=r.id,
        )

    async def event(self, event_id: int) -> Event:
        async with self.db.read() as conn:
            row = (await execute(conn, _EVENT, {"event_id": event_id})).first()
        if row is None:
            raise NotFound("event_unknown")
        return self._to_event(row)

    def _answering_addressees(self, org_code: str) -> list[str]:
        """Every addressee an organisation answers for: itself, and the centers it staffs."""
        return [
            org_code,
            *(c for c, center in self.committee.centers.items() if org_code in center.courts),
        ]

    async def warm_up_lists(self) -> int:
        """Run each of /my's statements once, for nobody, yielding to the event loop between
        two: SQLAlchemy compiles a statement on its first run and keeps it, and /my's are large
        (several milliseconds each), so that no member's first /my after a start pays for
        compiling its list. Returns how many lists were run."""
        today = self.clock.now().astimezone(self.tz).date()
        orgs = self.committee.organisations
        shapes = sorted({len(self._answering_addressees(code)) for code in orgs})
        ran = 0
        for view in MY_VIEWS:
            for addressees in shapes:
                count, page = self._own_page_statements(view, addressees)
                params = {
                    "org": "",
                    **{f"orgs_{i}": "" for i in range(addressees)},
                    "user": 0,
                    "today": today,
                    "offset": 0,
                    "limit": 1,
                }
                async with self.db.read() as conn:
                    await conn.execute(page, params)
                    await conn.execute(count, params)
                ran += 1
                await asyncio.sleep(0)
            if view in (ALL, OVERDUE):
                # Past the running deadlines' end: the open matters without one are read too.
                async with self.db.read() as conn:
                    await self._everyone_page(conn, view, today, 10**9, 1)
                ran += 1
                await asyncio.sleep(0)
        return ran

    async def open_cases(
        self, viewer: Viewer, offset: int, limit: int, view: str = ALL
    ) -> tuple[list[Case], int]:
        """The viewer's open matters, nearest deadline first (overdue ones lead; those with
        no deadline running come last, newest first): all they may see, or only those
        waiting for their organisation (``TODO``), raised by it (``RAISED``), or overdue
        (``OVERDUE``).

        A department or court reads only its own matters, each part through an index bounded
        by them; the office's and observers' whole list is paged straight from the running
        deadlines' index, then the open matters without one (no sort of every open matter)."""
        member = viewer.member
        if member is None or not member.active:
            raise NotAllowed("not_member")
        if view not in MY_VIEWS:
            raise InvalidInput("unknown_view")
        today = self.clock.now().astimezone(self.tz).date()
        # Read in the update's unit of work, on the loop's thread: an organisation's lists read
        # a page's rows and count its own index entries; the whole list counts the open
        # matters' entries of one index (50,000 at a million matters: about 2 ms), cheaper
        # than a trip to the driver's thread, during which other updates would run.
        everyone = member.role in (Role.OFFICE, Role.OBSERVER) and view in (ALL, OVERDUE)
        async with self.db.read() as conn:
            if everyone:
                ids, total = await self._everyone_page(conn, view, today, offset, limit)
            else:
                ids, total = await self._own_page(conn, member, view, today, offset, limit)
            rows = {r.id: r for r in (await conn.execute(_CASES_IN, {"ids": ids})).all()}
            assignments = await self._assignments(conn, ids)
        return [self._case(rows[i], assignments=assignments[i]) for i in ids if i in rows], total

    async def _own_page(
        self,
        conn: AsyncConnection,
        member: Member,
        view: str,
        today: date,
        offset: int,
        limit: int,
    ) -> tuple[list[int], int]:
        """One page of an organisation's open matters (see ``open_cases``): the parts are
        found through indexes bounded by the organisation, and only its own matters sorted."""
        orgs = self._answering_addressees(member.org_code)
        count, page = self._own_page_statements(view, len(orgs))
        params = {
            "org": member.org_code,
            **{f"orgs_{i}": o for i, o in enumerate(orgs)},
            "user": member.user_id,
            "today": today,
            "offset": offset,
            "limit": limit,
        }
        # The page carries the total (a constant subquery, counted once): a second statement
        # only when the page is empty.
        rows = (await conn.execute(page, params)).all()
        if rows:
            return [r.id for r in rows], rows[0].total
        return [], (await conn.execute(count, params)).scalar_one()

    def _own_page_statements(self, view: str, addressees: int) -> tuple[Select[Any], Select[Any]]:
        """The count and the page of one of /my's lists (``_own_page``), built once per list
        and number of addressees answered for, with bindparams: building them costs more than
        the database's own work on a small organisation's matters (and their cache key is
        computed once).

        An organisation raised thousands of open matters, and a court is addressed thousands
        (and the center it staffs as many): of those only the page's first ``offset + limit``
        in the list's order can be on it. Those with a deadline running come first, nearest
        first: its raised ones read in that order from the running deadlines' index by
        raiser, those addressed to it from the one by addressee, one addressee after another
        (each matter at its nearest deadline). Those with none follow, newest first, and are
        looked for only when the first kind does not fill the page. The total is counted from
        indexes: a matter with one addressee (its status is that addressee's state, never
        ``open``) has one row there, so only the shared ones are told apart."""
        built = self._own_pages.get((view, addressees))
        if built is not None:
            return built
        a = t.assignments
        near = t.assignments.alias("near")
        waiting = t.assignments.alias("waiting")
        mine = t.assignments.alias("mine")
        # The states written into the statement, the addressees each a parameter of its own:
        # an expanded list rewrites the statement's text at every execution, and SQLite
        # prepares a statement again whenever a parameter compared with a column of a
        # partial index's condition (a matter's status) is bound anew.
        open_codes = sorted(self.kinds.open_states)
        open_states = _sql_strings(open_codes)
        shared_open = a.c.matter_status == _sql_strings([MATTER_OPEN])[0]
        is_open: ColumnElement[bool] = t.cases.c.status.in_(open_states)
        org = bindparam("org", type_=t.cases.c.raiser_org.type)
        orgs = [bindparam(f"orgs_{i}", type_=a.c.addressee.type) for i in range(addressees)]
        today = bindparam("today", type_=Date)
        user = bindparam("user", type_=a.c.handler_user_id.type)
        first = bindparam("offset", type_=Integer) + bindparam("limit", type_=Integer)

        def own_step(rows: Any) -> list[ColumnElement[bool]]:
            # Its own step: not waiting on the raiser, and not handed to a colleague.
            return [
                rows.c.paused_since.is_(None),
                or_(rows.c.handler_user_id.is_(None), rows.c.handler_user_id == user),
            ]

        # The rows that place a matter addressed to it in the list: for the to-do list its
        # own step whoever raised it; for the others, those it did not raise (its raised part
        # holds those, at their nearest deadline of any addressee).
        if view == TODO:
            row_filter: list[ColumnElement[bool]] = own_step(a)
            near_filter: list[ColumnElement[bool]] = own_step(near)
        else:
            row_filter = [a.c.raiser_org != org]
            near_filter = []
        dated: list[Select[Any]] = []
        for i in range(addressees if view != RAISED else 0):
            addressed = select(a.c.case_id.label("id"), a.c.due).where(
                a.c.addressee == orgs[i],
                a.c.due.is_not(None),
                a.c.state.in_(open_states),
                a.c.matter_status.in_(open_states),
                *row_filter,
                # A matter addressed to it several times is listed at its nearest deadline.
                ~exists().where(
                    near.c.case_id == a.c.case_id,
                    near.c.addressee.in_(orgs),
                    near.c.due.is_not(None),
                    near.c.state.in_(open_states),
                    *near_filter,
                    _due_before(near, a),
                ),
            )
            if view == OVERDUE:
                addressed = addressed.where(a.c.due < today)
            part = addressed.order_by(a.c.due, a.c.case_id).limit(first).subquery()
            dated.append(select(part.c.id, part.c.due))
        any_due = (
            select(func.min(mine.c.due))
            .where(mine.c.case_id == t.cases.c.id)
            .correlate(t.cases)
            .scalar_subquery()
        )
        if view == TODO:
            # Raised by it and waiting for the more it was asked for: found through its paused
            # rows (a partial index by raiser), not by going through every matter it raised.
            dated.append(
                select(t.cases.c.id, any_due.label("due"))
                .select_from(waiting)
                .join(t.cases, t.cases.c.id == waiting.c.case_id)
                .where(waiting.c.raiser_org == org, waiting.c.paused_since.is_not(None), is_open)
            )
        else:
            nearest = select(a.c.case_id.label("id"), a.c.due).where(
                a.c.raiser_org == org,
                a.c.due.is_not(None),
                a.c.matter_status.in_(open_states),
                # A matter with several addressees is listed at its nearest deadline only.
                ~exists().where(
                    mine.c.case_id == a.c.case_id,
                    mine.c.due.is_not(None),
                    _due_before(mine, a),
                ),
            )
            if view == OVERDUE:
                nearest = nearest.where(a.c.due < today)
            part = nearest.order_by(a.c.due, a.c.case_id).limit(first).subquery()
            dated.append(select(part.c.id, part.c.due))
        found_dated = union_all(*dated).subquery()
        candidates: list[Select[Any]] = [select(found_dated.c.id, found_dated.c.due)]
        if view != OVERDUE:
            # None are read once the page is full: a limit of 0 ends before any row is read
            # (the rows addressed to it are limited before they are sorted).
            short = (
                select(func.count(func.distinct(found_dated.c.id)))
                .where(found_dated.c.due.is_not(None))
                .scalar_subquery()
                < first
            )
            undated: list[Select[Any]] = []
            if view != RAISED:
                rows = select(a.c.case_id).where(
                    a.c.addressee.in_(orgs),
                    a.c.matter_status.in_(open_states),
                    # Shared matters (several addressees) still open whatever its own
                    # addressee's state.
                    a.c.state.in_(open_states)
                    if view == TODO
                    else or_(a.c.state.in_(open_states), shared_open),
                    *row_filter,
                    ~exists().where(
                        near.c.case_id == a.c.case_id,
                        near.c.addressee.in_(orgs),
                        near.c.due.is_not(None),
                        near.c.state.in_(open_states),
                        *near_filter,
                    ),
                )
                undated.append(
                    select(t.cases.c.id, t.cases.c.created_at).where(
                        t.cases.c.id.in_(rows.limit(sql_case((short, _ANY), else_=0)))
                    )
                )
            if view != TODO:
                undated.append(
                    select(t.cases.c.id, t.cases.c.created_at).where(
                        t.cases.c.raiser_org == org,
                        is_open,
                        ~exists().where(mine.c.case_id == t.cases.c.id, mine.c.due.is_not(None)),
                    )
                )
            for source in undated:
                part = (
                    source.order_by(t.cases.c.created_at.desc(), t.cases.c.id.desc())
                    .limit(sql_case((short, first), else_=0))
                    .subquery()
                )
                candidates.append(select(part.c.id, literal(None, Date).label("due")))
        found = union_all(*candidates).subquery()
        # A matter in two parts (addressed to it and waiting for its more) at its nearest.
        grouped = (
            select(found.c.id, func.min(found.c.due).label("due")).group_by(found.c.id).subquery()
        )
        total = self._own_total(view, orgs, open_codes, own_step(a))
        count = select(total)
        page = (
            select(grouped.c.id, total.label("total"))
            .join(t.cases, t.cases.c.id == grouped.c.id)
            .order_by(
                # Nearest deadline first, then the one raised first (as the office's list,
                # read from the deadlines' index); those with none running last, newest first.
                grouped.c.due.is_(None),
                grouped.c.due,
                sql_case((grouped.c.due.is_(None), None), else_=grouped.c.id),
                t.cases.c.created_at.desc(),
                grouped.c.id.desc(),
            )
            .offset(bindparam("offset", type_=Integer))
            .limit(bindparam("limit", type_=Integer))
        )
        self._own_pages[view, addressees] = count, page
        return count, page

    @staticmethod
    def _own_total(
        view: str,
        orgs: list[BindParameter[Any]],
        open_codes: list[str],
        own_step: list[ColumnElement[bool]],
    ) -> ColumnElement[int]:
        """The number of matters in one of /my's lists (``_own_page_statements``), counted
        from indexes: its raised ones from the matters' index (the late ones from the running
        deadlines' by raiser), those addressed to it over its rows in the addressees' index."""
        a = t.assignments
        waiting = t.assignments.alias("waiting")
        org = bindparam("org", type_=t.cases.c.raiser_org.type)
        today = bindparam("today", type_=Date)
        open_states = _sql_strings(open_codes)
        single_states = _sql_strings([s for s in open_codes if s != MATTER_OPEN])
        shared_open = a.c.matter_status == _sql_strings([MATTER_OPEN])[0]
        is_open = t.cases.c.status.in_(open_states)
        raised: ColumnElement[int]
        if view == OVERDUE:
            raised = (
                select(func.count(func.distinct(a.c.case_id)))
                .where(
                    a.c.raiser_org == org,
                    a.c.due.is_not(None),
                    a.c.due < today,
                    a.c.matter_status.in_(open_states),
                )
                .scalar_subquery()
            )
        else:
            raised = (
                select(func.count())
                .select_from(t.cases)
                .where(t.cases.c.raiser_org == org, is_open)
                .scalar_subquery()
            )
        if view == RAISED:
            return raised
        rows = select(a.c.case_id).where(a.c.addressee.in_(orgs))
        if view == TODO:
            rows = rows.where(*own_step)
        elif view == OVERDUE:
            rows = rows.where(a.c.due.is_not(None), a.c.due < today)
        # A matter with one addressee has one row: counted as they are.
        single = (
            select(func.count())
            .select_from(
                rows.where(a.c.matter_status.in_(single_states), a.c.raiser_org != org).subquery()
            )
            .scalar_subquery()
        )
        if view == TODO:
            # Its own step in a shared matter or in one it raised (to a center it staffs),
            # and those it raised waiting for its more: each once.
            rest = union(
                rows.where(shared_open, a.c.state.in_(open_states)),
                rows.where(a.c.matter_status.in_(single_states), a.c.raiser_org == org),
                select(waiting.c.case_id)
                .select_from(waiting)
                .join(t.cases, t.cases.c.id == waiting.c.case_id)
                .where(waiting.c.raiser_org == org, waiting.c.paused_since.is_not(None), is_open),
            ).subquery()
            return single + select(func.count()).select_from(rest).scalar_subquery()
        shared = rows.where(a.c.raiser_org != org, shared_open)
        if view == OVERDUE:
            shared = shared.where(a.c.state.in_(open_states))
        found = shared.subquery()
        shared_count = (
            select(func.count(func.distinct(found.c.case_id))).select_from(found).scalar_subquery()
        )
        return raised + single + shared_count

    async def _everyone_page(
        self, conn: AsyncConnection, view: str, today: date, offset: int, limit: int
    ) -> tuple[list[int], int]:
        """One page of every open matter: first those with a deadline running, in the order
        of the running deadlines' index (each matter at its nearest one), then the open ones
        with none, newest first."""
        other = t.assignments.alias("other")
        a = t.assignments
        nearest = select(a.c.case_id).where(
            a.c.due.is_not(None),
            # A matter with several addressees is listed at its nearest deadline only.
            ~exists().where(
                other.c.case_id == a.c.case_id,
                other.c.due.is_not(None),
                _due_before(other, a),
            ),
        )
        ordered = nearest.order_by(a.c.due, a.c.case_id)
        if view == OVERDUE:
            late = nearest.where(a.c.due < today)
            total = (
                await conn.execute(select(func.count()).select_from(late.subquery()))
            ).scalar_one()
            page = ordered.where(a.c.due < today).offset(offset).limit(limit)
            return list((await conn.execute(page)).scalars()), total
        is_open = t.cases.c.status.in_(sorted(self.kinds.open_states))
        total = (await conn.execute(select(func.count()).where(is_open))).scalar_one()
        ids = list((await conn.execute(ordered.offset(offset).limit(limit))).scalars())
        if len(ids) == limit:
            return ids, total
        # The running deadlines end on this page: the open matters without one follow.
        if ids or offset == 0:
            running = offset + len(ids)
        else:
            running = (
                await conn.execute(select(func.count()).select_from(nearest.subquery()))
            ).scalar_one()
        without = select(t.cases.c.id).where(
            is_open, ~exists().where(a.c.case_id == t.cases.c.id, a.c.due.is_not(None))
        )
        rest = without.order_by(t.cases.c.created_at.desc(), t.cases.c.id.desc())
        rest = rest.offset(max(0, offset - running)).limit(limit - len(ids))
        ids += list((await conn.execute(rest)).scalars())
        # A running deadline belongs to an open matter: the count of open ones is the whole.
        return ids, max(total, running)

    async def _reindex(self, conn: AsyncConnection, case: Case) -> None:
        """Rewrite the matter's search documents in the transaction that changed it, from
        the matter as that transaction read it after its writes."""
        await search_index.reindex_one(conn, case.id, self.kinds, case)

    # ------------------------------------------------------------------ recipients

    async def _told(
        self,
        conn: AsyncConnection,
        kind: KindSpec,
        case: Case,
        assignment: Assignment,
        side: Side,
    ) -> list[int]:
        """Who hears of an action for one side: the person who raised the matter; the
        addressee's handler, or everyone answering for it; the office."""
        if side is Side.RAISER:
            raiser = await self._active_member(conn, case.raiser_user_id)
            if raiser is not None and raiser.org_code == case.raiser_org:
                return [case.raiser_user_id]
            # The one who raised it has left: their organisation hears of it instead.
            return await self._org_members(conn, case.raiser_org, kind.raised_by)
        if side is Side.OFFICE:
            return await self._office_ids(conn)
        answering = await self._members_answering(conn, kind, assignment.addressee)
        if assignment.handler_user_id in answering:
            return [assignment.handler_user_id]
        return answering

    async def _org_members(
        self, conn: AsyncConnection, org_code: str, roles: Iterable[Role]
    ) -> list[int]:
        wanted = tuple(sorted(r.value for r in roles))
        if not wanted:
            return []
        return list((await execute(conn, _answering((org_code,), wanted))).scalars())

    async def answerers(self, case: Case) -> list[Recipient]:
        """Active members who answer for the case's addressees, with their language."""
        kind = self.kinds[case.kind]
        async with self.db.read() as conn:
            ids: list[int] = []
            for assignment in case.assignments:
                ids += [
                    u
                    for u in await self._members_answering(conn, kind, assignment.addressee)
                    if u not in ids
                ]
            if not ids:
                return []
            langs = dict(
                (
                    await conn.execute(
                        select(t.users.c.user_id, t.users.c.lang).where(t.users.c.user_id.in_(ids))
                    )
                ).all()
            )
        return [Recipient(u, normalise_lang(langs.get(u))) for u in ids]

    async def _members_of(self, conn: AsyncConnection, org_code: str) -> list[Member]:
        """The active members of an organisation (the choices of an assignment)."""
        rows = (
            await conn.execute(
                select(t.members)
                .where(t.members.c.org_code == org_code, t.members.c.revoked_at.is_(None))
                .order_by(t.members.c.id)
            )
        ).all()
        return [m for m in map(self._member, rows) if m is not None]

    # ------------------------------------------------------------------ raising

    def validate_values(self, kind: KindSpec, values: Mapping[str, Any]) -> dict[str, Any]:
        """Re-check a whole form at submit time: it may be hours old, or from before a restart."""
        return check_values(kind.fields, values, self.field_context())

    def _clock(
        self,
        kind: KindSpec,
        fields: Mapping[str, Any],
        started: datetime,
        paused_days: int,
        state: str,
        paused: bool,
        calendar: WorkingCalendar | None = None,
    ) -> dict[str, Any]:
        """The deadline columns of an addressee in ``state`` whose clock started at ``started``
        (counted on ``calendar``: a holiday calendar about to be confirmed, or the current)."""
        dues = lifecycle.due_dates(
            kind,
            fields,
            started.astimezone(self.tz).date(),
            paused_days,
            calendar or self.calendar,
            self.tz,
            self.committee.schedule.deadlines.get(kind.code),
        )
        stage = lifecycle.running_deadline(kind, state)
        due = dues.get(stage) if stage is not None and not paused else None
        return {
            "stage": stage,
            "due": due,
            "dues": {name: value.isoformat() for name, value in dues.items()},
        }

    async def submit(
        self,
        viewer: Viewer,
        kind_code: str,
        values: dict[str, Any],
        submit_token: str,
        *,
        finishes: str | None = None,
    ) -> Outcome:
        """Record a new matter with the next number of its kind and year, exactly once.

        ``finishes`` names the conversation (drafts flow) the submit completes: its draft goes
        in the same transaction, so a restart cannot offer the same Submit button again."""
        kind = self.kinds.get(kind_code)
        if kind is None:
            raise InvalidInput("unknown_kind")
        clean = self.validate_values(kind, values)
        group = await self.group_chat_id()
        now = self.clock.now()
        year = now.astimezone(self.tz).year
        async with self.db.write() as conn:
            existing = (
                await execute(conn, _CASE_BY_SUBMIT_TOKEN, {"submit_token": submit_token})
            ).scalar_one_or_none()
            if existing is not None:
                case = await self._load_case(conn, existing)
                assert case is not None
                return Outcome(case, changed=False)
            # Membership is checked inside the transaction: it may have been revoked mid-flow.
            member = await self._active_member(conn, viewer.user_id)
            if member is None:
                raise NotAllowed("not_member")
            if not rules.can_raise(member, kind, self.committee):
                raise NotAllowed("cannot_raise")
            params = {"kind": kind.code, "year": year}
            seq = (await execute(conn, self._next_number, params)).scalar_one()
            files = files_of(clean, kind.fields)
            for spec in kind.fields:
                if spec.type is FILES:
                    clean.pop(spec.name, None)
            chosen = clean[kind.addressee_field]
            addressees: list[str] = list(chosen) if isinstance(chosen, list) else [chosen]
            number = rules.format_number(kind, year, seq)
            status = lifecycle.matter_status(kind, [kind.initial] * len(addressees))
            case_id = (
                await execute(
                    conn,
                    _NEW_CASE,
                    {
                        "number": number,
                        "kind": kind.code,
                        "year": year,
                        "seq": seq,
                        "status": status,
                        "title": str(clean[kind.title_field]),
                        "raiser_user_id": viewer.user_id,
                        "raiser_org": member.org_code,
                        "fields": clean,
                        "submit_token": submit_token,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            ).scalar_one()
            deadlines = self._clock(kind, clean, now, 0, kind.initial, paused=False)
            clock = {f"new_{k}": v for k, v in deadlines.items()}
            await execute(
                conn,
                _NEW_ASSIGNMENT,
                [
                    {
                        "new_case_id": case_id,
                        "new_position": position,
                        "new_addressee": code,
                        "new_state": kind.initial,
                        "new_matter_status": status,
                        "new_raiser_org": member.org_code,
                        "new_clock_started_at": now,
                        "new_paused_days": 0,
                        "new_round": 0,
                        "new_answers": {},
                        "new_updated_at": now,
                        **clock,
                    }
                    for position, code in enumerate(addressees, start=1)
                ],
            )
            await self._add_files(conn, case_id, files)
            await self._event(
                conn, "submitted", viewer.user_id, case_id, None, status, number=number
            )
            if finishes is not None:
                await self._finish_draft(conn, viewer.user_id, finishes)
            case = await self._load_case(conn, case_id)
            assert case is not None
            await self._reindex(conn, case)
            notified = await self._announce(conn, kind, case, group, now)
        return Outcome(case, changed=True, notified=notified)

    async def _announce(
        self, conn: AsyncConnection, kind: KindSpec, case: Case, group: int | None, now: datetime
    ) -> int:
        """Queue the new matter's notices: each addressee's members, the group, and the
        office for an addressee none of whose members has joined. Returns how many members."""
        notices: list[tuple[str, int, str, dict[str, Any]]] = []
        reached = 0
        unstaffed: list[str] = []
        for assignment in case.assignments:
            staff = await self._members_answering(conn, kind, assignment.addressee)
            reached += len(staff)
            if not staff:
                unstaffed.append(assignment.addressee)
            payload = {"case_id": case.id, "assignment_id": assignment.id}
            notices += [(f"case:{case.id}:new:{uid}", uid, "case_new", payload) for uid in staff]
        if group is not None:
            notices.append((f"case:{case.id}:group", group, "case_group", {"case_id": case.id}))
        if unstaffed:
            # Nobody of an addressed organisation has joined yet: the office must follow up
            # with those addressees, and only those (the others were told).
            notices.extend(
                (
                    f"case:{case.id}:unstaffed:{uid}",
                    uid,
                    "case_unstaffed",
                    {"case_id": case.id, "addressees": unstaffed},
                )
                for uid in await self._office_ids(conn)
            )
        await enqueue_many(conn, now, notices)
        return reached

    async def _add_files(
        self, conn: AsyncConnection, case_id: int, files: Sequence[Mapping[str, Any]]
    ) -> None:
        if files:
            await execute(
                conn,
                _NEW_FILE,
                [
                    {
                        "new_case_id": case_id,
                        "new_media": f.get("media", "document"),
                        "new_file_id": f["file_id"],
                        "new_file_unique_id": f.get("file_unique_id", ""),
                        "new_file_name": f.get("file_name"),
                        "new_file_size": f.get("file_size"),
                    }
                    for f in files
                ],
            )
