"""Matters: raising, reading, and every action a party takes until the outcome.

Driven by the kinds' declarations: ``submit`` records a matter with one row per addressee,
``act`` takes any declared action (acknowledge, return, an outcome, a note, a request for more
information, an assignment, a withdrawal, a reopening, a resubmission...). Each is one write
transaction with its audit event and the messages it causes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import lifecycle, rules
from bot.domain.errors import InvalidInput, NotAllowed, NotFound
from bot.domain.fields import FILES, FieldContext, FieldSpec, check_values
from bot.domain.kinds import Action, Effect, KindSpec, Side
from bot.domain.models import Assignment, Case, CaseFile, Event, Member, Role, Viewer
from bot.i18n import normalise_lang
from bot.services.base import Recipient, ServiceBase
from bot.storage import schema as t
from bot.storage.outbox import enqueue_many

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a submit or an action did: ``changed`` is False when it had happened before.

    ``notified`` counts the members of the addressees a new matter was queued for."""

    case: Case
    changed: bool
    notified: int = 0
    event_id: int | None = None


def _files(values: Mapping[str, Any], fields: Sequence[FieldSpec]) -> list[dict[str, Any]]:
    """The documents and photos of a form's answers (they are stored apart from the fields)."""
    found: list[dict[str, Any]] = []
    for spec in fields:
        if spec.type is FILES:
            found.extend(values.get(spec.name) or [])
    return found


class Cases(ServiceBase):
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
        handler = t.users.alias("handler")
        actor = t.users.alias("actor")
        rows = (
            await conn.execute(
                select(
                    t.assignments,
                    handler.c.first_name.label("handler_name"),
                    actor.c.first_name.label("acted_by_name"),
                )
                .select_from(
                    t.assignments.outerjoin(
                        handler, handler.c.user_id == t.assignments.c.handler_user_id
                    ).outerjoin(actor, actor.c.user_id == t.assignments.c.acted_by)
                )
                .where(t.assignments.c.case_id.in_(ids))
                .order_by(t.assignments.c.case_id, t.assignments.c.position)
            )
        ).all()
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
        raiser = t.users.alias("raiser")
        row = (
            await conn.execute(
                select(t.cases, raiser.c.first_name.label("raiser_name"))
                .select_from(
                    t.cases.outerjoin(raiser, raiser.c.user_id == t.cases.c.raiser_user_id)
                )
                .where(t.cases.c.id == case_id)
            )
        ).first()
        if row is None:
            return None
        files = tuple(
            CaseFile(f.media, f.file_id, f.file_unique_id, f.file_name, f.file_size)
            for f in (
                await conn.execute(
                    select(t.case_files)
                    .where(t.case_files.c.case_id == case_id)
                    .order_by(t.case_files.c.id)
                )
            ).all()
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
                await conn.execute(select(t.cases.c.id).where(t.cases.c.submit_token == token))
            ).scalar_one_or_none()
            return None if case_id is None else await self._load_case(conn, case_id)

    async def find_case(self, number_text: str) -> Case:
        parsed = rules.parse_number(number_text, self.kinds)
        if parsed is None:
            raise InvalidInput("bad_number")
        kind, year, seq = parsed
        async with self.db.read() as conn:
            case_id = (
                await conn.execute(
                    select(t.cases.c.id).where(
                        t.cases.c.kind == kind, t.cases.c.year == year, t.cases.c.seq == seq
                    )
                )
            ).scalar_one_or_none()
            case = None if case_id is None else await self._load_case(conn, case_id)
        if case is None:
            raise NotFound("case_unknown")
        return case

    async def case_for_viewer(self, viewer: Viewer, case: Case) -> list[Event]:
        """The history of a case, for a viewer who may see it."""
        if not rules.can_view(viewer.member, case, self.committee):
            raise NotAllowed("cannot_view")
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(t.events, t.users.c.first_name)
                    .select_from(
                        t.events.outerjoin(t.users, t.users.c.user_id == t.events.c.actor_user_id)
                    )
                    .where(t.events.c.case_id == case.id)
                    .order_by(t.events.c.id)
                )
            ).all()
        return [self._to_event(r) for r in rows]

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
            row = (
                await conn.execute(
                    select(t.events, t.users.c.first_name)
                    .select_from(
                        t.events.outerjoin(t.users, t.users.c.user_id == t.events.c.actor_user_id)
                    )
                    .where(t.events.c.id == event_id)
                )
            ).first()
        if row is None:
            raise NotFound("event_unknown")
        return self._to_event(row)

    def _answering_addressees(self, org_code: str) -> list[str]:
        """Every addressee an organisation answers for: itself, and the centers it staffs."""
        return [
            org_code,
            *(c for c, center in self.committee.centers.items() if org_code in center.courts),
        ]

    async def open_cases(self, viewer: Viewer, offset: int, limit: int) -> tuple[list[Case], int]:
        """The viewer's open matters: raised by their organisation, or addressed to it."""
        member = viewer.member
        if member is None or not member.active:
            raise NotAllowed("not_member")
        is_open: ColumnElement[bool] = t.cases.c.status.in_(sorted(self.kinds.open_states))
        scope: ColumnElement[bool]
        if member.role in (Role.OFFICE, Role.OBSERVER):
            scope = is_open
        else:
            addressed = select(t.assignments.c.case_id).where(
                t.assignments.c.addressee.in_(self._answering_addressees(member.org_code))
            )
            scope = and_(
                is_open,
                or_(t.cases.c.raiser_org == member.org_code, t.cases.c.id.in_(addressed)),
            )
        async with self.db.read() as conn:
            total = (await conn.execute(select(func.count()).where(scope))).scalar_one()
            rows = (
                await conn.execute(
                    select(t.cases)
                    .where(scope)
                    .order_by(t.cases.c.created_at.desc(), t.cases.c.id.desc())
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
            assignments = await self._assignments(conn, [r.id for r in rows])
        return [self._case(r, assignments=assignments[r.id]) for r in rows], total

    # ------------------------------------------------------------------ recipients

    async def _members_answering(
        self, conn: AsyncConnection, kind: KindSpec, addressee: str
    ) -> list[int]:
        orgs = self.committee.orgs_answering(addressee)
        if not orgs:
            return []
        rows = await conn.execute(
            select(t.members.c.user_id)
            .where(
                t.members.c.org_code.in_(sorted(orgs)),
                t.members.c.role.in_(sorted(r.value for r in kind.answered_by)),
                t.members.c.revoked_at.is_(None),
            )
            .order_by(t.members.c.id)
        )
        return list(rows.scalars())

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
            return [case.raiser_user_id]
        if side is Side.OFFICE:
            return await self._office_ids(conn)
        if assignment.handler_user_id is not None:
            return [assignment.handler_user_id]
        return await self._members_answering(conn, kind, assignment.addressee)

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

    async def org_members(self, org_code: str) -> list[Member]:
        """The active members of an organisation (the choices of an assignment)."""
        async with self.db.read() as conn:
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
    ) -> dict[str, Any]:
        """The deadline columns of an addressee in ``state`` whose clock started at ``started``."""
        dues = lifecycle.due_dates(
            kind,
            fields,
            started.astimezone(self.tz).date(),
            paused_days,
            self.calendar,
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
                await conn.execute(
                    select(t.cases.c.id).where(t.cases.c.submit_token == submit_token)
                )
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
            counter = self._insert(t.counters).values(kind=kind.code, year=year, value=1)
            counter = counter.on_conflict_do_update(
                index_elements=[t.counters.c.kind, t.counters.c.year],
                set_={"value": t.counters.c.value + 1},
            ).returning(t.counters.c.value)
            seq = (await conn.execute(counter)).scalar_one()
            files = _files(clean, kind.fields)
            for spec in kind.fields:
                if spec.type is FILES:
                    clean.pop(spec.name, None)
            chosen = clean[kind.addressee_field]
            addressees: list[str] = list(chosen) if isinstance(chosen, list) else [chosen]
            number = rules.format_number(kind, year, seq)
            status = lifecycle.matter_status(kind, [kind.initial] * len(addressees))
            case_id = (
                await conn.execute(
                    t.cases.insert()
                    .values(
                        number=number,
                        kind=kind.code,
                        year=year,
                        seq=seq,
                        status=status,
                        title=str(clean[kind.title_field]),
                        raiser_user_id=viewer.user_id,
                        raiser_org=member.org_code,
                        fields=clean,
                        submit_token=submit_token,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(t.cases.c.id)
                )
            ).scalar_one()
            clock = self._clock(kind, clean, now, 0, kind.initial, paused=False)
            await conn.execute(
                t.assignments.insert(),
                [
                    {
                        "case_id": case_id,
                        "position": position,
                        "addressee": code,
                        "state": kind.initial,
                        "clock_started_at": now,
                        "paused_days": 0,
                        "round": 0,
                        "answers": {},
                        "updated_at": now,
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
            notified = await self._announce(conn, kind, case, group, now)
        return Outcome(case, changed=True, notified=notified)

    async def _announce(
        self, conn: AsyncConnection, kind: KindSpec, case: Case, group: int | None, now: datetime
    ) -> int:
        """Queue the new matter's notices: each addressee's members, the group, and the
        office for an addressee none of whose members has joined. Returns how many members."""
        notices: list[tuple[str, int, str, dict[str, Any]]] = []
        reached = 0
        unstaffed = False
        for assignment in case.assignments:
            staff = await self._members_answering(conn, kind, assignment.addressee)
            reached += len(staff)
            unstaffed = unstaffed or not staff
            payload = {"case_id": case.id, "assignment_id": assignment.id}
            notices += [(f"case:{case.id}:new:{uid}", uid, "case_new", payload) for uid in staff]
        if group is not None:
            notices.append((f"case:{case.id}:group", group, "case_group", {"case_id": case.id}))
        if unstaffed:
            # Nobody of an addressed organisation has joined yet: the office must follow up.
            notices.extend(
                (f"case:{case.id}:unstaffed:{uid}", uid, "case_unstaffed", {"case_id": case.id})
                for uid in await self._office_ids(conn)
            )
        await enqueue_many(conn, now, notices)
        return reached

    async def _add_files(
        self, conn: AsyncConnection, case_id: int, files: Sequence[Mapping[str, Any]]
    ) -> None:
        if files:
            await conn.execute(
                t.case_files.insert(),
                [
                    {
                        "case_id": case_id,
                        "media": f.get("media", "document"),
                        "file_id": f["file_id"],
                        "file_unique_id": f.get("file_unique_id", ""),
                        "file_name": f.get("file_name"),
                        "file_size": f.get("file_size"),
                    }
                    for f in files
                ],
            )

    async def _finish_draft(self, conn: AsyncConnection, user_id: int, flow: str) -> None:
        await conn.execute(
            t.drafts.delete().where(t.drafts.c.user_id == user_id, t.drafts.c.flow == flow)
        )

    # ------------------------------------------------------------------ acting

    def _action(self, case: Case, code: str) -> tuple[KindSpec, Action]:
        kind = self.kinds[case.kind]
        if not kind.has_action(code):
            raise InvalidInput("unknown_action")
        return kind, kind.action(code)

    @staticmethod
    def _target(case: Case, assignment_id: int | None) -> Assignment:
        assignment = case.first if assignment_id is None else case.assignment(assignment_id)
        if assignment is None:
            raise NotFound("case_unknown")
        return assignment

    async def check_action(
        self, viewer: Viewer, case_id: int, assignment_id: int | None, code: str
    ) -> tuple[Case, Assignment, Action, bool]:
        """What a press is about to do, before its inputs are asked: the matter, the
        addressee, the action, and whether it still applies. Refuses whoever may not act."""
        case = await self.get_case(case_id)
        kind, action = self._action(case, code)
        assignment = self._target(case, assignment_id)
        if action.by not in lifecycle.sides(viewer.member, case, assignment, self.committee, kind):
            raise NotAllowed("cannot_answer")
        return case, assignment, action, lifecycle.applies(kind, action, case, assignment)

    async def handler_choices(
        self, case: Case, assignment: Assignment, viewer: Viewer
    ) -> list[tuple[str, str]]:
        """Whom the viewer can make the handler of an addressee: members of their own
        organisation who answer for it."""
        kind = self.kinds[case.kind]
        member = viewer.member
        if member is None:
            return []
        return [
            (str(m.user_id), m.display_name)
            for m in await self.org_members(member.org_code)
            if m.role in kind.answered_by
        ]

    async def act(
        self,
        viewer: Viewer,
        case_id: int,
        assignment_id: int | None,
        code: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        finishes: str | None = None,
    ) -> Outcome:
        """Take a declared action on one addressee of a matter (or, for an action that
        closes or reopens the matter, on all of them); ``changed`` is False when the action
        no longer applies (someone acted first)."""
        case = await self.get_case(case_id)
        kind, action = self._action(case, code)
        assignment = self._target(case, assignment_id)
        dynamic: dict[str, list[tuple[str, str]]] = {}
        if Effect.ASSIGN in action.effects:
            dynamic["handler"] = await self.handler_choices(case, assignment, viewer)
        ctx = self.field_context(dynamic)
        if Effect.EDIT in action.effects:
            clean = self.validate_values(kind, inputs or {})
        else:
            clean = check_values(action.inputs, inputs or {}, ctx)
        now = self.clock.now()
        async with self.db.write() as conn:
            current = await self._load_case(conn, case_id)
            if current is None:
                raise NotFound("case_unknown")
            case = current
            assignment = self._target(case, assignment_id)
            member = await self._active_member(conn, viewer.user_id)
            if action.by not in lifecycle.sides(member, case, assignment, self.committee, kind):
                raise NotAllowed("cannot_answer")
            if not lifecycle.applies(kind, action, case, assignment):
                # Someone acted first: the conversation that asked for this ends all the same.
                if finishes is not None:
                    await self._finish_draft(conn, viewer.user_id, finishes)
                return Outcome(case, changed=False)
            shown = {}
            if Effect.ASSIGN in action.effects:  # the history names the handler, not an id
                shown["handler"] = dict(dynamic["handler"]).get(clean["handler"], clean["handler"])
            event_id = await self._apply(
                conn, kind, action, case, assignment, clean, viewer, now, shown
            )
            if finishes is not None:
                await self._finish_draft(conn, viewer.user_id, finishes)
            updated = await self._load_case(conn, case_id)
            assert updated is not None
            await self._notify(conn, kind, action, updated, assignment.id, event_id, viewer, now)
            if Effect.EDIT in action.effects:
                # A resubmitted matter is new to its addressees again.
                group = await self.group_chat_id()
                await self._announce_again(conn, kind, updated, event_id, group, now)
        return Outcome(updated, changed=True, event_id=event_id)

    async def _apply(
        self,
        conn: AsyncConnection,
        kind: KindSpec,
        action: Action,
        case: Case,
        assignment: Assignment,
        inputs: dict[str, Any],
        viewer: Viewer,
        now: datetime,
        shown: Mapping[str, Any] | None = None,
    ) -> int:
        """Write what an action changes: the addressees' rows, the matter's status and fields,
        new documents, and the audit event. Returns the event's id."""
        today = now.astimezone(self.tz).date()
        fields = dict(case.fields)
        files = _files(inputs, action.inputs if Effect.EDIT not in action.effects else kind.fields)
        if Effect.EDIT in action.effects:
            fields = {
                k: v
                for k, v in inputs.items()
                if not any(s.name == k and s.type is FILES for s in kind.fields)
            }
            await conn.execute(
                update(t.cases)
                .where(t.cases.c.id == case.id)
                .values(fields=fields, title=str(fields[kind.title_field]))
            )
        if Effect.CLOSE in action.effects or (
            Effect.REOPEN in action.effects and kind.several_addressees
        ):
            targets = [
                a
                for a in case.assignments
                if (kind.is_open(a.state)) != (Effect.REOPEN in action.effects)
            ]
        else:
            targets = [assignment]
        states: dict[int, str] = {a.id: a.state for a in case.assignments}
        answer = {
            k: v
            for k, v in inputs.items()
            if Effect.EDIT not in action.effects and not isinstance(v, list)
        }
        for target in targets:
            new_state = lifecycle.target_state(kind, action, target)
            values: dict[str, Any] = {"state": new_state, "updated_at": now}
            if action.by is Side.ADDRESSEE and new_state != target.state:
                values.update(acted_by=viewer.user_id, acted_at=now)
            if "outcome" in inputs:
                values["outcome"] = inputs["outcome"]
            if "reason" in inputs:
                values["note"] = inputs["reason"]
            if answer:
                values["answers"] = {**target.answers, action.code: answer}
            if kind.is_open(target.state) and not kind.is_open(new_state):
                values["last_open_state"] = target.state
            started, paused_days, paused = (
                target.clock_started_at,
                target.paused_days,
                target.paused,
            )
            if Effect.PAUSE in action.effects:
                values["paused_since"] = today
                paused = True
            if Effect.RESUME in action.effects and target.paused_since is not None:
                paused_days += self.calendar.working_days_between(target.paused_since, today)
                values.update(paused_since=None, paused_days=paused_days)
                paused = False
            if Effect.REOPEN in action.effects or Effect.RESTART in action.effects:
                started, paused_days, paused = now, 0, False
                values.update(
                    clock_started_at=now,
                    paused_since=None,
                    paused_days=0,
                    round=target.round + 1,
                    note=inputs.get("reason"),
                    outcome=None,
                )
            if Effect.ASSIGN in action.effects:
                values["handler_user_id"] = int(inputs["handler"])
            values.update(self._clock(kind, fields, started, paused_days, new_state, paused))
            await conn.execute(
                update(t.assignments)
                .where(t.assignments.c.id == target.id, t.assignments.c.state == target.state)
                .values(**values)
            )
            states[target.id] = new_state
        ordered = [states[a.id] for a in case.assignments]
        closed_as = action.to_state if Effect.CLOSE in action.effects else None
        status = lifecycle.matter_status(kind, ordered, closed_as)
        await conn.execute(
            update(t.cases).where(t.cases.c.id == case.id).values(status=status, updated_at=now)
        )
        await self._add_files(conn, case.id, files)
        detail = {
            k: v for k, v in inputs.items() if not isinstance(v, list) and v not in (None, "")
        }
        detail.update(shown or {})
        if files:
            detail["files"] = len(files)
        if Effect.EDIT in action.effects:
            detail = {}
        return await self._event(
            conn,
            action.code,
            viewer.user_id,
            case.id,
            assignment.state,
            states[assignment.id],
            assignment_id=assignment.id if kind.several_addressees else None,
            **detail,
        )

    async def _notify(
        self,
        conn: AsyncConnection,
        kind: KindSpec,
        action: Action,
        case: Case,
        assignment_id: int,
        event_id: int,
        viewer: Viewer,
        now: datetime,
    ) -> None:
        """Tell each side the action names (never the one who acted)."""
        assignment = case.assignment(assignment_id) or case.first
        assert assignment is not None
        chats: list[int] = []
        sides = set(action.notify)
        if Effect.ASSIGN in action.effects and assignment.handler_user_id is not None:
            chats.append(assignment.handler_user_id)
        for side in sorted(sides):
            if side is Side.ADDRESSEE and (
                Effect.CLOSE in action.effects or Effect.REOPEN in action.effects
            ):
                targets: Sequence[Assignment] = case.assignments
            else:
                targets = [assignment]
            for target in targets:
                for uid in await self._told(conn, kind, case, target, side):
                    if uid not in chats:
                        chats.append(uid)
        payload = {"case_id": case.id, "event_id": event_id, "template": action.template}
        await enqueue_many(
            conn,
            now,
            [
                (f"case:{case.id}:e{event_id}:{uid}", uid, "case_action", payload)
                for uid in chats
                if uid != viewer.user_id
            ],
        )

    async def _announce_again(
        self,
        conn: AsyncConnection,
        kind: KindSpec,
        case: Case,
        event_id: int,
        group: int | None,
        now: datetime,
    ) -> None:
        """A resubmitted matter goes to its addressees as a new notice with its buttons."""
        notices: list[tuple[str, int, str, dict[str, Any]]] = []
        for assignment in case.assignments:
            if assignment.state != kind.initial:
                continue
            payload = {"case_id": case.id, "assignment_id": assignment.id, "event_id": event_id}
            notices += [
                (f"case:{case.id}:e{event_id}:new:{uid}", uid, "case_new", payload)
                for uid in await self._members_answering(conn, kind, assignment.addressee)
            ]
        await enqueue_many(conn, now, notices)

    # Shortcuts for the steps every current mechanism has.

    async def acknowledge(self, viewer: Viewer, case_id: int) -> Outcome:
        return await self.act(viewer, case_id, None, "acknowledge")

    async def return_case(self, viewer: Viewer, case_id: int, reason: str) -> Outcome:
        return await self.act(viewer, case_id, None, "return", {"reason": reason})

    async def resolve(self, viewer: Viewer, case_id: int, outcome: str) -> Outcome:
        """Record the outcome of an acknowledged matter (化解, withdrawn ...)."""
        return await self.act(viewer, case_id, None, "resolve", {"outcome": outcome})

    async def check_answerer(self, viewer: Viewer, case_id: int) -> Case:
        """The case a member of an addressee is about to answer; refuses anyone else."""
        case = await self.get_case(case_id)
        kind = self.kinds[case.kind]
        if Side.ADDRESSEE not in lifecycle.sides(
            viewer.member, case, case.first, self.committee, kind
        ):
            raise NotAllowed("cannot_answer")
        return case

    def can_answer(self, member: Member | None, case: Case) -> bool:
        kind = self.kinds[case.kind]
        return any(
            Side.ADDRESSEE in lifecycle.sides(member, case, a, self.committee, kind)
            for a in case.assignments
        )
