"""Matters: raising, reading, answering."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import rules
from bot.domain.kinds import KINDS, FieldType, KindSpec
from bot.domain.models import (
    OPEN_STATUSES,
    Case,
    CaseFile,
    Event,
    Role,
    Status,
    Viewer,
)
from bot.domain.rules import InvalidInput, NotAllowed, NotFound
from bot.i18n import normalise_lang
from bot.services.base import Recipient, ServiceBase
from bot.storage import schema as t
from bot.storage.outbox import enqueue, enqueue_many

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an acknowledge/return press did: ``changed`` is False when it had happened before.

    ``notified`` counts the court staff a new matter was queued for."""

    case: Case
    changed: bool
    notified: int = 0


class Cases(ServiceBase):
    def _case(self, row: Row[Any], files: tuple[CaseFile, ...] = (), **names: str) -> Case:
        return Case(
            id=row.id,
            number=row.number,
            kind=row.kind,
            year=row.year,
            seq=row.seq,
            status=Status(row.status),
            title=row.title,
            addressee=row.addressee,
            urgency=row.urgency,
            reply_by=row.reply_by,
            raiser_user_id=row.raiser_user_id,
            raiser_org=row.raiser_org,
            fields=dict(row.fields),
            created_at=row.created_at,
            updated_at=row.updated_at,
            acted_by=row.acted_by,
            acted_at=row.acted_at,
            return_reason=row.return_reason,
            ack_due=row.ack_due,
            reply_due=row.reply_due,
            outcome=row.outcome,
            files=files,
            **names,
        )

    async def _load_case(self, conn: AsyncConnection, case_id: int) -> Case | None:
        raiser = t.users.alias("raiser")
        actor = t.users.alias("actor")
        row = (
            await conn.execute(
                select(
                    t.cases,
                    raiser.c.first_name.label("raiser_name"),
                    actor.c.first_name.label("acted_by_name"),
                )
                .select_from(
                    t.cases.outerjoin(
                        raiser, raiser.c.user_id == t.cases.c.raiser_user_id
                    ).outerjoin(actor, actor.c.user_id == t.cases.c.acted_by)
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
        return self._case(
            row, files, raiser_name=row.raiser_name or "", acted_by_name=row.acted_by_name or ""
        )

    @staticmethod
    def _checked(field_name: str, check: Any, *args: Any) -> Any:
        """Run a field's check; a refusal names the field, so the user is asked for it again."""
        try:
            return check(*args)
        except InvalidInput as exc:
            raise InvalidInput(exc.code, **exc.params, field=field_name) from exc

    def validate_values(self, kind: KindSpec, values: dict[str, Any]) -> dict[str, Any]:
        """Re-check a whole draft at submit time: it may be hours old, or from before a restart."""
        missing = rules.check_complete(kind, values)
        if not missing.complete:
            raise InvalidInput("incomplete", field=missing.missing[0])
        clean: dict[str, Any] = {}
        for spec in kind.fields:
            value = values.get(spec.name)
            if value in (None, "", []):
                clean[spec.name] = [] if spec.type is FieldType.FILES else None
                continue
            if spec.type in (FieldType.TEXT, FieldType.LONG_TEXT):
                clean[spec.name] = self._checked(spec.name, rules.validate_text, spec, str(value))
            elif spec.type is FieldType.ADDRESSEE:
                if value not in rules.addressee_codes(self.committee):
                    raise InvalidInput("unknown_addressee", field=spec.name)
                clean[spec.name] = value
            elif spec.type is FieldType.ORGANISATION:
                org = self.committee.organisations.get(str(value))
                if org is None or org.kind not in spec.org_kinds:
                    raise InvalidInput("unknown_org", field=spec.name)
                clean[spec.name] = value
            elif spec.type is FieldType.CHOICE:
                if value not in {v for v, _ in spec.choices}:
                    raise InvalidInput("unknown_choice", field=spec.name)
                clean[spec.name] = value
            elif spec.type is FieldType.DATE:
                try:
                    parsed = date.fromisoformat(str(value))
                except ValueError as exc:
                    raise InvalidInput("bad_date", field=spec.name) from exc
                self._checked(spec.name, rules.validate_reply_date, parsed, self.today())
                clean[spec.name] = parsed.isoformat()
            elif spec.type is FieldType.FILES:
                clean[spec.name] = list(value)[: spec.max_files]
        return clean

    async def submit(
        self, viewer: Viewer, kind_code: str, values: dict[str, Any], submit_token: str
    ) -> Outcome:
        """Record a new matter with the next number of its kind and year, exactly once."""
        kind = KINDS.get(kind_code)
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
            if not rules.can_raise(member, kind):
                raise NotAllowed("cannot_raise")
            counter = self._insert(t.counters).values(kind=kind.code, year=year, value=1)
            counter = counter.on_conflict_do_update(
                index_elements=[t.counters.c.kind, t.counters.c.year],
                set_={"value": t.counters.c.value + 1},
            ).returning(t.counters.c.value)
            seq = (await conn.execute(counter)).scalar_one()
            files = clean.pop("documents", []) or []
            reply_by = clean.get("reply_by")
            ack_due, reply_due = self.deadlines(kind, now, reply_by)
            result = await conn.execute(
                t.cases.insert()
                .values(
                    number=rules.format_number(kind, year, seq),
                    kind=kind.code,
                    year=year,
                    seq=seq,
                    status=Status.SUBMITTED.value,
                    title=clean["title"],
                    addressee=clean["addressee"],
                    urgency=clean.get("urgency") or "normal",
                    reply_by=date.fromisoformat(reply_by) if reply_by else None,
                    raiser_user_id=viewer.user_id,
                    raiser_org=member.org_code,
                    fields=clean,
                    submit_token=submit_token,
                    created_at=now,
                    updated_at=now,
                    ack_due=ack_due,
                    reply_due=reply_due,
                )
                .returning(t.cases.c.id)
            )
            case_id = result.scalar_one()
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
            await self._event(
                conn,
                "submitted",
                viewer.user_id,
                case_id,
                None,
                Status.SUBMITTED.value,
                number=rules.format_number(kind, year, seq),
            )
            await conn.execute(
                t.drafts.delete().where(
                    t.drafts.c.user_id == viewer.user_id, t.drafts.c.flow == "raise"
                )
            )
            # Who must be told goes out with the matter itself, in this transaction.
            staff = await self._answerer_ids(conn, clean["addressee"])
            notices = [
                (f"case:{case_id}:new:{user_id}", user_id, "case_new", {"case_id": case_id})
                for user_id in staff
            ]
            if group is not None:
                notices.append((f"case:{case_id}:group", group, "case_group", {"case_id": case_id}))
            if not staff:
                # Nobody of the addressed court has joined yet: the office must follow up.
                notices.extend(
                    (f"case:{case_id}:unstaffed:{uid}", uid, "case_unstaffed", {"case_id": case_id})
                    for uid in await self._office_ids(conn)
                )
            await enqueue_many(conn, now, notices)
            case = await self._load_case(conn, case_id)
        assert case is not None
        return Outcome(case, changed=True, notified=len(staff))

    def deadlines(self, kind: KindSpec, now: datetime, reply_by: str | None) -> tuple[date, date]:
        """Acknowledge-by and reply-by dates, counted in working days from the day raised;
        a reply date the raiser asked for wins where it is earlier."""
        ack_days, reply_days = self.committee.schedule.deadlines.get(
            kind.code, (kind.ack_working_days, kind.reply_working_days)
        )
        raised = now.astimezone(self.tz).date()
        ack_due = self.calendar.add_working_days(raised, ack_days)
        reply_due = self.calendar.add_working_days(raised, reply_days)
        if reply_by:
            reply_due = min(reply_due, date.fromisoformat(reply_by))
        return ack_due, max(reply_due, raised)

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
        parsed = rules.parse_number(number_text)
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
        return [
            Event(
                at=r.at,
                action=r.action,
                actor_user_id=r.actor_user_id,
                actor_name=r.first_name or "",
                from_status=r.from_status,
                to_status=r.to_status,
                detail=dict(r.detail or {}),
            )
            for r in rows
        ]

    async def open_cases(self, viewer: Viewer, offset: int, limit: int) -> tuple[list[Case], int]:
        """The viewer's open matters: raised by their organisation, or addressed to their court."""
        member = viewer.member
        if member is None or not member.active:
            raise NotAllowed("not_member")
        is_open = t.cases.c.status.in_([s.value for s in OPEN_STATUSES])
        if member.role in (Role.OFFICE, Role.OBSERVER):
            scope = is_open
        else:
            addressees = [
                code
                for code in rules.addressee_codes(self.committee)
                if member.org_code in self.committee.courts_answering(code)
            ]
            scope = and_(
                is_open,
                or_(t.cases.c.raiser_org == member.org_code, t.cases.c.addressee.in_(addressees)),
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
        return [self._case(r) for r in rows], total

    async def _answerer_ids(self, conn: AsyncConnection, addressee: str) -> list[int]:
        courts = self.committee.courts_answering(addressee)
        if not courts:
            return []
        rows = await conn.execute(
            select(t.members.c.user_id)
            .where(
                t.members.c.org_code.in_(courts),
                t.members.c.role == Role.COURT_STAFF.value,
                t.members.c.revoked_at.is_(None),
            )
            .order_by(t.members.c.id)
        )
        return list(rows.scalars())

    async def answerers(self, case: Case) -> list[Recipient]:
        """Active court staff who answer for the case's addressee, with their language."""
        courts = self.committee.courts_answering(case.addressee)
        if not courts:
            return []
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(t.members.c.user_id, t.users.c.lang)
                    .select_from(
                        t.members.outerjoin(t.users, t.users.c.user_id == t.members.c.user_id)
                    )
                    .where(
                        t.members.c.org_code.in_(courts),
                        t.members.c.role == Role.COURT_STAFF.value,
                        t.members.c.revoked_at.is_(None),
                    )
                    .order_by(t.members.c.id)
                )
            ).all()
        return [Recipient(r.user_id, normalise_lang(r.lang)) for r in rows]

    async def check_answerer(self, viewer: Viewer, case_id: int) -> Case:
        """The case a court member is about to answer; refuses anyone else."""
        case = await self.get_case(case_id)
        if not rules.can_answer(viewer.member, case, self.committee):
            raise NotAllowed("cannot_answer")
        return case

    async def _answer(
        self,
        viewer: Viewer,
        case_id: int,
        action: str,
        reason: str | None = None,
        outcome: str | None = None,
    ) -> Outcome:
        now = self.clock.now()
        async with self.db.write() as conn:
            case = await self._load_case(conn, case_id)
            if case is None:
                raise NotFound("case_unknown")
            member = await self._active_member(conn, viewer.user_id)
            if not rules.can_answer(member, case, self.committee):
                raise NotAllowed("cannot_answer")
            target = rules.next_status(case.status, action)
            if target is None:
                return Outcome(case, changed=False)
            values: dict[str, Any] = {"status": target.value, "updated_at": now}
            if action == "resolve":
                values.update(outcome=outcome, outcome_note=reason)
            else:
                values.update(acted_by=viewer.user_id, acted_at=now, return_reason=reason)
            await conn.execute(
                update(t.cases)
                .where(t.cases.c.id == case_id, t.cases.c.status == case.status.value)
                .values(**values)
            )
            detail = {k: v for k, v in (("reason", reason), ("outcome", outcome)) if v}
            await self._event(
                conn, action, viewer.user_id, case_id, case.status.value, target.value, **detail
            )
            await enqueue(
                conn,
                now,
                f"case:{case_id}:{target.value}:raiser",
                case.raiser_user_id,
                "case_answered",
                {"case_id": case_id, "status": target.value},
            )
            updated = await self._load_case(conn, case_id)
        assert updated is not None
        return Outcome(updated, changed=True)

    async def acknowledge(self, viewer: Viewer, case_id: int) -> Outcome:
        return await self._answer(viewer, case_id, "acknowledge")

    async def return_case(self, viewer: Viewer, case_id: int, reason: str) -> Outcome:
        return await self._answer(viewer, case_id, "return", rules.validate_reason(reason))

    async def resolve(self, viewer: Viewer, case_id: int, outcome: str) -> Outcome:
        """Record the outcome of an acknowledged matter (化解, withdrawn ...)."""
        case = await self.get_case(case_id)
        kind = KINDS[case.kind]
        if outcome not in {code for code, _ in kind.outcomes}:
            raise InvalidInput("unknown_choice")
        return await self._answer(viewer, case_id, "resolve", outcome=outcome)
