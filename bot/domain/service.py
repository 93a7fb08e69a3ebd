"""Operations on the linkage's data, each one transaction, each state change audited.

Handlers call these methods and never touch SQL. A method either completes (its rows and its
audit event committed together) or raises a ``DomainError`` and leaves nothing behind.
"""

from __future__ import annotations

import logging
import secrets
import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import schema as t
from bot.clock import Clock
from bot.config import Committee
from bot.db import Database
from bot.domain import alerts, rules
from bot.domain.kinds import KINDS, FieldType, KindSpec
from bot.domain.meetings import Meetings
from bot.domain.models import (
    OPEN_STATUSES,
    Case,
    CaseFile,
    Draft,
    Event,
    Invite,
    Member,
    Role,
    Status,
    Viewer,
)
from bot.domain.rules import InvalidInput, NotAllowed, NotFound
from bot.domain.workdays import CalendarOverrides, WorkingCalendar
from bot.i18n import DEFAULT_LANG, normalise_lang
from bot.outbox import enqueue, enqueue_many

logger = logging.getLogger(__name__)

GROUP_SETTING = "group_chat_id"
DIGEST_SINCE = "digest_since"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an acknowledge/return press did: ``changed`` is False when it had happened before.

    ``notified`` counts the court staff a new matter was queued for."""

    case: Case
    changed: bool
    notified: int = 0


@dataclass(frozen=True, slots=True)
class Digest:
    """The weekly summary's figures (organisations by code; times in hours)."""

    start: datetime
    end: datetime
    raised: list[tuple[str, str, str]]
    acknowledged: int
    returned: int
    resolved: int
    overdue: list[tuple[str, int, int]]  # (addressee, matters, most working days late)
    median_ack_hours: list[tuple[str, float]]
    meetings: list[tuple[str, datetime]]


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: int
    lang: str


def _due_by(day: date) -> Any:
    """Open matters whose current deadline (acknowledge, or reply once acknowledged) falls on
    or before ``day``."""
    return or_(
        and_(t.cases.c.status == Status.SUBMITTED.value, t.cases.c.ack_due <= day),
        and_(t.cases.c.status == Status.ACKNOWLEDGED.value, t.cases.c.reply_due <= day),
    )


class Coordination:
    """The domain service: memberships, invites, drafts and cases."""

    def __init__(
        self,
        db: Database,
        committee: Committee,
        clock: Clock,
        tz: ZoneInfo,
        calendar: WorkingCalendar | None = None,
    ) -> None:
        self.db = db
        self.committee = committee
        self.clock = clock
        self.tz = tz
        self.calendar = calendar or WorkingCalendar(committee.calendar or CalendarOverrides())
        # Viewers are read on every update; memberships and languages change only through
        # this service, which drops the cached entry when they do.
        self._viewers: dict[int, Viewer] = {}
        self._group_chat_id: int | None = committee.group_chat_id
        self._group_loaded = False
        self.meetings = Meetings(self)

    # ------------------------------------------------------------------ helpers

    def _insert(self, table: Any) -> Any:
        dialect = postgresql if self.db.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def today(self) -> date:
        return self.clock.now().astimezone(self.tz).date()

    async def _event(
        self,
        conn: AsyncConnection,
        action: str,
        actor: int | None,
        case_id: int | None = None,
        from_status: str | None = None,
        to_status: str | None = None,
        **detail: Any,
    ) -> None:
        await conn.execute(
            t.events.insert().values(
                case_id=case_id,
                actor_user_id=actor,
                at=self.clock.now(),
                action=action,
                from_status=from_status,
                to_status=to_status,
                detail=detail or None,
            )
        )

    async def _active_member(self, conn: AsyncConnection, user_id: int) -> Member | None:
        """The user's membership as it is now, read inside the caller's transaction (a cached
        viewer may predate a revocation)."""
        row = (
            await conn.execute(
                select(t.members).where(
                    t.members.c.user_id == user_id, t.members.c.revoked_at.is_(None)
                )
            )
        ).first()
        return self._member(row)

    @staticmethod
    def _member(row: Row[Any] | None) -> Member | None:
        if row is None:
            return None
        return Member(
            id=row.id,
            user_id=row.user_id,
            org_code=row.org_code,
            role=Role(row.role),
            display_name=row.display_name,
            joined_at=row.joined_at,
            revoked_at=row.revoked_at,
        )

    # ------------------------------------------------------------------ users

    async def viewer(self, user_id: int, first_name: str, username: str | None) -> Viewer:
        """The acting user with language and membership; records the user on first contact."""
        cached = self._viewers.get(user_id)
        if cached is not None and cached.name == first_name:
            return cached
        now = self.clock.now()
        stmt = self._insert(t.users).values(
            user_id=user_id, first_name=first_name[:128], username=username, updated_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.users.c.user_id],
            set_={"first_name": first_name[:128], "username": username, "updated_at": now},
        ).returning(t.users.c.lang)
        async with self.db.write() as conn:
            lang = (await conn.execute(stmt)).scalar_one()
            member = await self._active_member(conn, user_id)
        viewer = Viewer(user_id, normalise_lang(lang), member, first_name)
        self._viewers[user_id] = viewer
        return viewer

    async def set_lang(self, viewer: Viewer, lang: str) -> Viewer:
        lang = normalise_lang(lang)
        async with self.db.write() as conn:
            await conn.execute(
                update(t.users)
                .where(t.users.c.user_id == viewer.user_id)
                .values(lang=lang, updated_at=self.clock.now())
            )
        self._viewers.pop(viewer.user_id, None)
        return Viewer(viewer.user_id, lang, viewer.member, viewer.name)

    async def bootstrap_admins(self) -> None:
        """Give the committee file's admins an office membership if they never had one.

        An admin the office revoked stays revoked: the file bootstraps, it does not override
        /members (invite them again to restore access)."""
        if not self.committee.admins:
            return
        now = self.clock.now()
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    select(t.members.c.user_id, t.members.c.revoked_at).where(
                        t.members.c.user_id.in_(self.committee.admins)
                    )
                )
            ).all()
            known = {row.user_id for row in rows}
            active = {row.user_id for row in rows if row.revoked_at is None}
            for user_id in sorted(known - active):
                logger.warning(
                    "admin %s in the committee file was revoked by the office; not re-added",
                    user_id,
                )
            for user_id in sorted(self.committee.admins - known):
                await conn.execute(
                    self._insert(t.users)
                    .values(user_id=user_id, first_name="", updated_at=now)
                    .on_conflict_do_nothing(index_elements=[t.users.c.user_id])
                )
                await conn.execute(
                    t.members.insert().values(
                        user_id=user_id,
                        org_code=self.committee.admin_org,
                        role=Role.OFFICE.value,
                        display_name=f"admin {user_id}",
                        joined_at=now,
                    )
                )
                await self._event(
                    conn,
                    "member_joined",
                    None,
                    user=user_id,
                    org=self.committee.admin_org,
                    role=Role.OFFICE.value,
                    via="committee file",
                )
                self._viewers.pop(user_id, None)
                logger.info("bootstrap admin %s added to %s", user_id, self.committee.admin_org)

    async def report_delivery_failure(self, key: str, chat_id: int, error: str) -> None:
        """Queue a note to every office member that a message could not be delivered."""
        now = self.clock.now()
        async with self.db.write() as conn:
            for user_id in await self._office_ids(conn):
                if user_id == chat_id:
                    continue
                await enqueue(
                    conn,
                    now,
                    f"failed:{key}:{user_id}",
                    user_id,
                    "delivery_failed",
                    {"chat_id": chat_id, "error": error[:200], "key": key},
                )

    # ------------------------------------------------------------------ group

    async def group_chat_id(self) -> int | None:
        if not self._group_loaded:
            async with self.db.read() as conn:
                value = (
                    await conn.execute(
                        select(t.settings.c.value).where(t.settings.c.key == GROUP_SETTING)
                    )
                ).scalar_one_or_none()
            if value is not None:
                self._group_chat_id = int(value)
            self._group_loaded = True
        return self._group_chat_id

    async def bind_group(self, viewer: Viewer, chat_id: int) -> None:
        if not rules.is_admin(viewer.member):
            raise NotAllowed("admin_only")
        stmt = self._insert(t.settings).values(key=GROUP_SETTING, value=str(chat_id))
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.settings.c.key], set_={"value": str(chat_id)}
        )
        async with self.db.write() as conn:
            await conn.execute(stmt)
            await self._event(conn, "group_bound", viewer.user_id, chat_id=chat_id)
        self._group_chat_id = chat_id
        self._group_loaded = True

    async def chat_migrated(self, old_chat_id: int, new_chat_id: int) -> None:
        """Telegram moved a group to a new id (it became a supergroup): follow it, so the
        committee group stays bound and queued messages go to the new chat."""
        async with self.db.write() as conn:
            await conn.execute(
                update(t.outbox)
                .where(
                    t.outbox.c.chat_id == old_chat_id, t.outbox.c.status.in_(["pending", "retry"])
                )
                .values(chat_id=new_chat_id)
            )
            if await self.group_chat_id() == old_chat_id:
                stmt = self._insert(t.settings).values(key=GROUP_SETTING, value=str(new_chat_id))
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[t.settings.c.key], set_={"value": str(new_chat_id)}
                    )
                )
                await self._event(conn, "group_migrated", None, old=old_chat_id, new=new_chat_id)
                self._group_chat_id = new_chat_id

    # ------------------------------------------------------------------ invites & members

    async def create_invite(self, viewer: Viewer, org_code: str, role: Role) -> Invite:
        if not rules.is_admin(viewer.member):
            raise NotAllowed("admin_only")
        org = self.committee.organisations.get(org_code)
        if org is None:
            raise InvalidInput("unknown_org")
        if not rules.role_fits_org(role, org.kind):
            raise InvalidInput("role_mismatch")
        now = self.clock.now()
        invite = Invite(
            token=secrets.token_urlsafe(12),
            org_code=org_code,
            role=role,
            created_by=viewer.user_id,
            created_at=now,
            expires_at=now + timedelta(hours=self.committee.invite_ttl_hours),
        )
        async with self.db.write() as conn:
            await conn.execute(
                t.invites.insert().values(
                    token=invite.token,
                    org_code=org_code,
                    role=role.value,
                    created_by=viewer.user_id,
                    created_at=now,
                    expires_at=invite.expires_at,
                )
            )
            await self._event(conn, "invite_created", viewer.user_id, org=org_code, role=role.value)
        return invite

    async def redeem_invite(self, token: str, viewer: Viewer, display_name: str) -> Member:
        now = self.clock.now()
        async with self.db.write() as conn:
            inv = (await conn.execute(select(t.invites).where(t.invites.c.token == token))).first()
            if inv is None:
                raise NotFound("invite_unknown")
            current = await self._active_member(conn, viewer.user_id)
            if inv.used_by is not None:
                if inv.used_by == viewer.user_id and current is not None:
                    return current  # the same link opened twice: nothing new to do
                raise InvalidInput("invite_used")
            if inv.revoked_at is not None:
                raise InvalidInput("invite_revoked")
            if inv.expires_at <= now:
                raise InvalidInput("invite_expired")
            if current is not None:
                raise InvalidInput("already_member", org=current.org_code)
            if inv.org_code not in self.committee.organisations:
                raise InvalidInput("invite_unknown_org")
            result = await conn.execute(
                t.members.insert()
                .values(
                    user_id=viewer.user_id,
                    org_code=inv.org_code,
                    role=inv.role,
                    display_name=display_name[:128] or str(viewer.user_id),
                    joined_at=now,
                    invited_by=inv.created_by,
                )
                .returning(t.members)
            )
            member = self._member(result.first())
            await conn.execute(
                update(t.invites)
                .where(t.invites.c.id == inv.id)
                .values(used_by=viewer.user_id, used_at=now)
            )
            await self._event(
                conn,
                "member_joined",
                viewer.user_id,
                org=inv.org_code,
                role=inv.role,
                via="invite",
            )
        self._viewers.pop(viewer.user_id, None)
        assert member is not None
        return member

    async def list_members(self, offset: int, limit: int) -> tuple[list[Member], int]:
        active = t.members.c.revoked_at.is_(None)
        async with self.db.read() as conn:
            total = (await conn.execute(select(func.count()).where(active))).scalar_one()
            rows = (
                await conn.execute(
                    select(t.members)
                    .where(active)
                    .order_by(t.members.c.org_code, t.members.c.display_name, t.members.c.id)
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
        return [m for m in map(self._member, rows) if m is not None], total

    async def revoke_member(self, viewer: Viewer, member_id: int) -> Member:
        if not rules.is_admin(viewer.member):
            raise NotAllowed("admin_only")
        now = self.clock.now()
        async with self.db.write() as conn:
            target = self._member(
                (await conn.execute(select(t.members).where(t.members.c.id == member_id))).first()
            )
            if target is None:
                raise NotFound("member_unknown")
            if not target.active:
                return target
            if target.user_id == viewer.user_id:
                raise InvalidInput("cannot_revoke_self")
            await conn.execute(
                update(t.members)
                .where(t.members.c.id == member_id)
                .values(revoked_at=now, revoked_by=viewer.user_id)
            )
            await self._event(
                conn,
                "member_revoked",
                viewer.user_id,
                user=target.user_id,
                org=target.org_code,
                role=target.role.value,
            )
        self._viewers.pop(target.user_id, None)
        return Member(
            target.id,
            target.user_id,
            target.org_code,
            target.role,
            target.display_name,
            target.joined_at,
            now,
        )

    # ------------------------------------------------------------------ drafts

    async def save_draft(self, draft: Draft) -> None:
        now = self.clock.now()
        stmt = self._insert(t.drafts).values(
            user_id=draft.user_id,
            flow=draft.flow,
            state=draft.state,
            data=draft.data,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.drafts.c.user_id, t.drafts.c.flow],
            set_={"state": draft.state, "data": draft.data, "updated_at": now},
        )
        async with self.db.write() as conn:
            await conn.execute(stmt)

    async def load_draft(self, user_id: int, flow: str) -> Draft | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(t.drafts).where(t.drafts.c.user_id == user_id, t.drafts.c.flow == flow)
                )
            ).first()
        return None if row is None else Draft(row.user_id, row.flow, row.state, dict(row.data))

    async def delete_draft(self, user_id: int, flow: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                t.drafts.delete().where(t.drafts.c.user_id == user_id, t.drafts.c.flow == flow)
            )

    async def conversation_states(self, flow: str) -> dict[int, str]:
        """user id → waiting state, for every conversation of a flow still in progress."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(t.drafts.c.user_id, t.drafts.c.state).where(t.drafts.c.flow == flow)
                )
            ).all()
        return {row.user_id: row.state for row in rows}

    # ------------------------------------------------------------------ cases

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

    async def _office_ids(self, conn: AsyncConnection) -> list[int]:
        rows = await conn.execute(
            select(t.members.c.user_id).where(
                t.members.c.role == Role.OFFICE.value, t.members.c.revoked_at.is_(None)
            )
        )
        return list(rows.scalars())

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

    async def recipient(self, user_id: int) -> Recipient:
        cached = self._viewers.get(user_id)
        if cached is not None:  # kept current: set_lang drops the entry
            return Recipient(user_id, cached.lang)
        async with self.db.read() as conn:
            lang = (
                await conn.execute(select(t.users.c.lang).where(t.users.c.user_id == user_id))
            ).scalar_one_or_none()
        return Recipient(user_id, normalise_lang(lang or DEFAULT_LANG))

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

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    # ------------------------------------------------------------------ scheduled work

    async def _court_staff_by_org(self, conn: AsyncConnection) -> dict[str, list[int]]:
        rows = await conn.execute(
            select(t.members.c.org_code, t.members.c.user_id).where(
                t.members.c.role == Role.COURT_STAFF.value, t.members.c.revoked_at.is_(None)
            )
        )
        staff: dict[str, list[int]] = {}
        for org, user_id in rows:
            staff.setdefault(org, []).append(user_id)
        return staff

    async def scan_deadlines(self) -> int:
        """Queue today's due-soon, overdue and escalation alerts; returns how many were new."""
        schedule = self.committee.schedule
        today = self.today()
        horizon = alerts.soonest_due_to_scan(today, self.calendar, schedule)
        group = await self.group_chat_id()
        now = self.clock.now()
        queued = 0
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    select(
                        t.cases.c.id,
                        t.cases.c.status,
                        t.cases.c.addressee,
                        t.cases.c.ack_due,
                        t.cases.c.reply_due,
                    ).where(_due_by(horizon))
                )
            ).all()
            if not rows:
                return 0
            staff = await self._court_staff_by_org(conn)
            values: list[dict[str, Any]] = []
            for row in rows:
                status = Status(row.status)
                due = row.ack_due if status is Status.SUBMITTED else row.reply_due
                alert = alerts.alert_for(row.id, status, due, today, self.calendar, schedule)
                if alert is None:
                    continue
                payload = {
                    "case_id": row.id,
                    "level": alert.level,
                    "stage": alert.stage,
                    "due": alert.due.isoformat(),
                    "late": alert.late,
                }
                recipients = [
                    uid
                    for court in self.committee.courts_answering(row.addressee)
                    for uid in staff.get(court, [])
                ]
                if alert.to_group and group is not None:
                    recipients.append(group)
                for chat_id in recipients:
                    values.append(
                        {
                            "key": f"{alert.key}:{chat_id}",
                            "chat_id": chat_id,
                            "kind": "deadline",
                            "payload": payload,
                        }
                    )
            if values:
                # Every tick finds mostly alerts queued before: leave those out instead of
                # sending each again into ON CONFLICT DO NOTHING.
                keys = [v["key"] for v in values]
                known: set[str] = set()
                for i in range(0, len(keys), 500):
                    known.update(
                        (
                            await conn.execute(
                                select(t.outbox.c.key).where(t.outbox.c.key.in_(keys[i : i + 500]))
                            )
                        ).scalars()
                    )
                values = [v for v in values if v["key"] not in known]
            if values:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                stmt = dialect.insert(t.outbox).on_conflict_do_nothing(
                    index_elements=[t.outbox.c.key]
                )
                result = await conn.execute(
                    stmt,
                    [
                        {
                            **v,
                            "status": "pending",
                            "attempts": 0,
                            "uncertain": 0,
                            "next_attempt_at": now,
                            "created_at": now,
                        }
                        for v in values
                    ],
                )
                queued = max(int(result.rowcount or 0), 0)
        return queued

    def digest_moment(self, now: datetime | None = None) -> datetime:
        """The most recent scheduled digest time (local), at or before ``now``."""
        schedule = self.committee.schedule
        local = (now or self.clock.now()).astimezone(self.tz)
        monday = local.date() - timedelta(days=local.weekday())
        moment = datetime.combine(
            monday + timedelta(days=schedule.digest_weekday - 1), schedule.digest_time, self.tz
        )
        if moment > local:
            moment -= timedelta(days=7)
        return moment

    async def ensure_digest(self) -> bool:
        """Queue this week's digest for the group once its time has come (even if the bot
        was down at that moment); True if it was queued now."""
        group = await self.group_chat_id()
        if group is None:
            return False
        moment = self.digest_moment()
        now = self.clock.now()
        async with self.db.write() as conn:
            # Digests are due from the first time the bot ran its schedule on: a new
            # installation does not post last week's digest at once.
            since_raw = (
                await conn.execute(
                    select(t.settings.c.value).where(t.settings.c.key == DIGEST_SINCE)
                )
            ).scalar_one_or_none()
            if since_raw is None:
                await conn.execute(
                    t.settings.insert().values(key=DIGEST_SINCE, value=now.isoformat())
                )
                since = now
            else:
                since = datetime.fromisoformat(since_raw)
            if moment < since:
                return False
            return await enqueue(
                conn,
                self.clock.now(),
                f"digest:{moment.date().isoformat()}",
                group,
                "digest",
                {"start": (moment - timedelta(days=7)).isoformat(), "end": moment.isoformat()},
            )

    async def digest(self, start: datetime, end: datetime) -> Digest:
        """What happened between ``start`` and ``end``, and what is overdue now."""
        today = self.today()
        async with self.db.read() as conn:
            raised = (
                await conn.execute(
                    select(t.cases.c.number, t.cases.c.title, t.cases.c.raiser_org)
                    .where(t.cases.c.created_at >= start, t.cases.c.created_at < end)
                    .order_by(t.cases.c.id)
                )
            ).all()
            actions = dict(
                (
                    await conn.execute(
                        select(t.events.c.action, func.count())
                        .where(
                            t.events.c.action.in_(["acknowledge", "return", "resolve"]),
                            t.events.c.at >= start,
                            t.events.c.at < end,
                        )
                        .group_by(t.events.c.action)
                    )
                ).all()
            )
            acks = (
                await conn.execute(
                    select(t.cases.c.addressee, t.events.c.at, t.cases.c.created_at)
                    .select_from(t.events.join(t.cases, t.cases.c.id == t.events.c.case_id))
                    .where(
                        t.events.c.action == "acknowledge",
                        t.events.c.at >= start,
                        t.events.c.at < end,
                    )
                )
            ).all()
            open_rows = (
                await conn.execute(
                    select(
                        t.cases.c.addressee,
                        t.cases.c.status,
                        t.cases.c.ack_due,
                        t.cases.c.reply_due,
                    ).where(_due_by(today - timedelta(days=1)))
                )
            ).all()
            meetings = (
                await conn.execute(
                    select(t.meetings.c.title, t.meetings.c.starts_at)
                    .where(
                        t.meetings.c.status == "scheduled",
                        t.meetings.c.starts_at >= self.clock.now(),
                        t.meetings.c.starts_at < self.clock.now() + timedelta(days=7),
                    )
                    .order_by(t.meetings.c.starts_at)
                )
            ).all()
        overdue: dict[str, list[int]] = {}
        for row in open_rows:
            due = row.ack_due if row.status == Status.SUBMITTED.value else row.reply_due
            late = self.calendar.working_days_between(due, today)
            if late >= 1:
                overdue.setdefault(row.addressee, []).append(late)
        waits: dict[str, list[float]] = {}
        for row in acks:
            hours = (row.at - row.created_at).total_seconds() / 3600
            waits.setdefault(row.addressee, []).append(hours)
        return Digest(
            start=start,
            end=end,
            raised=[(r.number, r.title, r.raiser_org) for r in raised],
            acknowledged=actions.get("acknowledge", 0),
            returned=actions.get("return", 0),
            resolved=actions.get("resolve", 0),
            overdue=sorted(
                ((org, len(lates), max(lates)) for org, lates in overdue.items()),
                key=lambda item: (-item[1], item[0]),
            ),
            median_ack_hours=sorted((org, statistics.median(h)) for org, h in waits.items()),
            meetings=[(m.title, m.starts_at) for m in meetings],
        )

    async def ensure_meeting_reminders(self) -> int:
        """Queue meeting reminders that are due (joint meetings: see ``bot.domain.meetings``)."""
        return await self.meetings.ensure_reminders(self.clock.now())

    async def ensure_calendar_warnings(self) -> int:
        """Tell the office once per gap when coming deadlines rest on estimated or missing
        holiday data (the official schedule for a year appears each November)."""
        gaps = self.calendar.coverage_warnings(self.today())
        if not gaps:
            return 0
        now = self.clock.now()
        queued = 0
        async with self.db.write() as conn:
            office = await self._office_ids(conn)
            for gap in gaps:
                payload = {
                    "year": gap.year,
                    "source": gap.source,
                    "first": gap.first.isoformat(),
                    "last": gap.last.isoformat(),
                }
                for user_id in office:
                    key = f"calendar:{gap.year}:{gap.source}:{user_id}"
                    queued += await enqueue(conn, now, key, user_id, "calendar_gap", payload)
        return queued

    # ------------------------------------------------------------------ updates

    async def first_sighting(self, update_id: int) -> bool:
        """Record an update id; False when it was handled before (a redelivery)."""
        stmt = self._insert(t.seen_updates).values(update_id=update_id, seen_at=self.clock.now())
        stmt = stmt.on_conflict_do_nothing(index_elements=[t.seen_updates.c.update_id])
        async with self.db.write() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def prune_seen_updates(self, keep: timedelta = timedelta(days=8)) -> int:
        """Telegram keeps undelivered updates for at most a day; a week of ids is plenty."""
        async with self.db.write() as conn:
            result = await conn.execute(
                t.seen_updates.delete().where(t.seen_updates.c.seen_at < self.clock.now() - keep)
            )
        return int(result.rowcount or 0)
