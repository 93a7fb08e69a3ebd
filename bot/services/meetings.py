"""Joint meetings (府院联席会议): scheduling, RSVPs per organisation, changes and reminders.

Every operation is one write transaction that records its audit event (``events`` rows with
no case) and queues the messages it causes in the outbox, so a crash either loses the whole
change or none of its notices. Outbox keys carry the meeting's ``version``: a reschedule or a
cancellation bumps it, which makes the earlier version's pending posts and reminders stale
(their renderers skip them) and gives the new ones fresh keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, Row, Select, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.errors import InvalidInput, NotAllowed, NotFound
from bot.domain.meetings import (
    ANSWERS,
    CANCELLED,
    LATE_AFTER,
    MAX_AGENDA_ITEM,
    MAX_AGENDA_ITEMS,
    SCHEDULED,
    AgendaItem,
    Answer,
    Change,
    Meeting,
    MeetingView,
    validate_agenda_item,
    validate_place,
    validate_start,
    validate_title,
)
from bot.domain.models import Member, Role, Viewer
from bot.services.cases import Cases
from bot.services.delivery import OutboxMessage
from bot.storage import schema as t
from bot.storage.db import execute
from bot.storage.outbox import SENT, enqueue

# The outbox kinds of the group messages that carry a meeting's answer buttons.
GROUP_POST_KINDS = ("meeting_posted", "meeting_changed")

# Built once (see bot.services.cases): a meeting is read on every answer and every look.
_MEETING = select(t.meetings).where(t.meetings.c.id == bindparam("meeting_id"))
_ANSWERS = select(t.meeting_orgs, t.users.c.first_name).select_from(
    t.meeting_orgs.outerjoin(t.users, t.users.c.user_id == t.meeting_orgs.c.rsvp_by)
)
_ANSWERS_OF_ONE = _ANSWERS.where(t.meeting_orgs.c.meeting_id == bindparam("meeting_id"))
_AGENDA = (
    select(t.meeting_agenda, t.cases.c.number, t.cases.c.kind)
    .select_from(t.meeting_agenda.outerjoin(t.cases, t.cases.c.id == t.meeting_agenda.c.case_id))
    .order_by(t.meeting_agenda.c.meeting_id, t.meeting_agenda.c.position)
)
_AGENDA_OF_ONE = _AGENDA.where(t.meeting_agenda.c.meeting_id == bindparam("meeting_id"))
_UPCOMING = (
    select(t.meetings)
    .where(t.meetings.c.status == SCHEDULED, t.meetings.c.starts_at > bindparam("now"))
    .order_by(t.meetings.c.starts_at, t.meetings.c.id)
    .limit(bindparam("limit"))
)

# An organisation's answer to an invitation (prebuilt: compiled once, in the warm-up).
_RSVP = (
    update(t.meeting_orgs)
    .where(
        t.meeting_orgs.c.meeting_id == bindparam("of_meeting"),
        t.meeting_orgs.c.org_code == bindparam("of_org"),
    )
    .values(
        rsvp=bindparam("rsvp", type_=t.meeting_orgs.c.rsvp.type),
        rsvp_by=bindparam("rsvp_by", type_=t.meeting_orgs.c.rsvp_by.type),
        rsvp_at=bindparam("rsvp_at", type_=t.meeting_orgs.c.rsvp_at.type),
    )
)


@lru_cache(maxsize=32)
def _of_meetings(n: int) -> tuple[Select[Any], Select[Any]]:
    """The answers and the agenda items of ``n`` meetings (parameters ``m0``..): built once
    for each count (a list shows at most a page), with no IN list to expand per call."""
    ids: list[BindParameter[Any]] = [bindparam(f"m{i}") for i in range(n)]
    return (
        _ANSWERS.where(t.meeting_orgs.c.meeting_id.in_(ids)),
        _AGENDA.where(t.meeting_agenda.c.meeting_id.in_(ids)),
    )


class Meetings:
    """The joint-meeting operations, sharing the coordination service's database and clock."""

    def __init__(self, svc: Cases) -> None:
        self.svc = svc

    # ------------------------------------------------------------------ reading

    def _org_order(self, code: str) -> tuple[int, str]:
        codes = list(self.svc.committee.organisations)
        return (codes.index(code) if code in codes else len(codes), code)

    @staticmethod
    def _meeting(row: Row[Any]) -> Meeting:
        return Meeting(
            id=row.id,
            title=row.title,
            starts_at=row.starts_at,
            place=row.place,
            status=row.status,
            version=row.version,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def _views(self, conn: AsyncConnection, rows: Sequence[Row[Any]]) -> list[MeetingView]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        if len(ids) == 1:
            answers_of, agenda_of = _ANSWERS_OF_ONE, _AGENDA_OF_ONE
            params: dict[str, Any] = {"meeting_id": ids[0]}
        else:
            answers_of, agenda_of = _of_meetings(len(ids))
            params = {f"m{i}": meeting_id for i, meeting_id in enumerate(ids)}
        answers: dict[int, list[Answer]] = {i: [] for i in ids}
        for a in (await execute(conn, answers_of, params)).all():
            answers[a.meeting_id].append(
                Answer(a.org_code, a.rsvp, a.rsvp_by, a.first_name or "", a.rsvp_at)
            )
        agenda: dict[int, list[AgendaItem]] = {i: [] for i in ids}
        for item in (await execute(conn, agenda_of, params)).all():
            agenda[item.meeting_id].append(
                AgendaItem(
                    item.position, item.text, item.case_id, item.number or "", item.kind or ""
                )
            )
        return [
            MeetingView(
                self._meeting(r),
                tuple(sorted(answers[r.id], key=lambda a: self._org_order(a.org_code))),
                tuple(agenda[r.id]),
            )
            for r in rows
        ]

    async def _load(self, conn: AsyncConnection, meeting_id: int) -> MeetingView:
        row = (await execute(conn, _MEETING, {"meeting_id": meeting_id})).first()
        if row is None:
            raise NotFound("meeting_unknown")
        return (await self._views(conn, [row]))[0]

    async def get(self, meeting_id: int) -> MeetingView:
        async with self.svc.db.read() as conn:
            return await self._load(conn, meeting_id)

    async def upcoming(self, limit: int = 10) -> list[MeetingView]:
        """Scheduled meetings that have not started, soonest first."""
        async with self.svc.db.read() as conn:
            params = {"now": self.svc.clock.now(), "limit": limit}
            rows = (await execute(conn, _UPCOMING, params)).all()
            return await self._views(conn, rows)

    async def _org_members(
        self, conn: AsyncConnection, orgs: Sequence[str]
    ) -> list[tuple[int, str]]:
        """(user id, organisation) of the active members of some organisations."""
        if not orgs:
            return []
        rows = await conn.execute(
            select(t.members.c.user_id, t.members.c.org_code)
            .where(t.members.c.org_code.in_(list(orgs)), t.members.c.revoked_at.is_(None))
            .order_by(t.members.c.id)
        )
        return [(r.user_id, r.org_code) for r in rows]

    async def _told(self, conn: AsyncConnection, view: MeetingView) -> list[int]:
        """Members of the invited organisations who got (or may have got) a private message
        about this meeting: they must hear of a change too."""
        told = set(
            (
                await conn.execute(
                    select(t.outbox.c.chat_id).where(
                        t.outbox.c.key.like(f"meeting:{view.id}:%"),
                        t.outbox.c.chat_id > 0,
                        or_(t.outbox.c.status.in_(["sent", "sending"]), t.outbox.c.uncertain == 1),
                    )
                )
            ).scalars()
        )
        return [uid for uid, _ in await self._org_members(conn, view.orgs) if uid in told]

    async def group_post(self, meeting_id: int) -> tuple[OutboxMessage, int] | None:
        """The committee group's message that shows the meeting's current version with its
        answer buttons — its post or, after a reschedule, the change notice — as the outbox
        recorded it when it was sent: (the row, its Telegram message id). The one group
        message that an answer brings up to date; None while there is none."""
        group = await self.svc.group_chat_id()
        if group is None:
            return None
        async with self.svc.db.read() as conn:
            version = (
                await conn.execute(
                    select(t.meetings.c.version).where(t.meetings.c.id == meeting_id)
                )
            ).scalar_one_or_none()
            if version is None:
                return None
            row = (
                await conn.execute(
                    select(t.outbox)
                    .where(
                        t.outbox.c.key.startswith(f"meeting:{meeting_id}:v{version}:"),
                        t.outbox.c.kind.in_(GROUP_POST_KINDS),
                        t.outbox.c.chat_id == group,
                        t.outbox.c.status == SENT,
                        t.outbox.c.message_id.is_not(None),
                    )
                    .order_by(t.outbox.c.id.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            return None
        message = OutboxMessage(
            row.id,
            row.key,
            row.chat_id,
            row.kind,
            dict(row.payload),
            row.attempts,
            False,
            row.created_at,
        )
        return message, int(row.message_id)

    # ------------------------------------------------------------------ writing

    def _require_office(self, member: Member | None) -> None:
        if member is None or not member.active or member.role is not Role.OFFICE:
            raise NotAllowed("admin_only")

    async def schedule(
        self,
        viewer: Viewer,
        title: str,
        starts_at: datetime,
        place: str,
        orgs: Sequence[str],
        agenda: Sequence[int | str],
        *,
        finishes: str | None = None,
    ) -> MeetingView:
        """Record a meeting and queue its post (with RSVP buttons) to the committee group.

        ``agenda`` items are case ids (open matters picked from the list) or free text.
        """
        now = self.svc.clock.now()
        title = validate_title(title)
        place = validate_place(place)
        starts_at = validate_start(starts_at, now)
        invited: list[str] = []
        for code in orgs:
            if code not in self.svc.committee.organisations:
                raise InvalidInput("unknown_org")
            if code not in invited:
                invited.append(code)
        if not invited:
            raise InvalidInput("no_orgs")
        if len(agenda) > MAX_AGENDA_ITEMS:
            raise InvalidInput("agenda_too_long", max=MAX_AGENDA_ITEMS)
        group = await self.svc.group_chat_id()
        async with self.svc.db.write() as conn:
            self._require_office(await self.svc._active_member(conn, viewer.user_id))
            items: list[tuple[str, int | None]] = []
            for entry in agenda:
                if isinstance(entry, int):
                    case = await self.svc._load_case(conn, entry)
                    if case is None:
                        raise InvalidInput("case_unknown")
                    items.append((f"{case.number} {case.title}"[:MAX_AGENDA_ITEM], case.id))
                else:
                    items.append((validate_agenda_item(entry), None))
            meeting_id = (
                await conn.execute(
                    t.meetings.insert()
                    .values(
                        title=title,
                        starts_at=starts_at,
                        place=place,
                        status=SCHEDULED,
                        version=1,
                        created_by=viewer.user_id,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(t.meetings.c.id)
                )
            ).scalar_one()
            await conn.execute(
                t.meeting_orgs.insert(),
                [{"meeting_id": meeting_id, "org_code": c} for c in invited],
            )
            if items:
                await conn.execute(
                    t.meeting_agenda.insert(),
                    [
                        {"meeting_id": meeting_id, "position": i, "text": text, "case_id": case_id}
                        for i, (text, case_id) in enumerate(items, start=1)
                    ],
                )
            await self.svc._event(
                conn,
                "meeting_scheduled",
                viewer.user_id,
                meeting_id=meeting_id,
                title=title,
                starts_at=starts_at.isoformat(),
                orgs=invited,
            )
            if group is not None:
                await enqueue(
                    conn,
                    now,
                    f"meeting:{meeting_id}:v1:posted:{group}",
                    group,
                    "meeting_posted",
                    {"meeting_id": meeting_id, "version": 1},
                )
            if finishes is not None:
                await self.svc._finish_draft(conn, viewer.user_id, finishes)
            return await self._load(conn, meeting_id)

    async def _changeable(self, conn: AsyncConnection, viewer: Viewer, meeting_id: int) -> Meeting:
        self._require_office(await self.svc._active_member(conn, viewer.user_id))
        row = (await execute(conn, _MEETING, {"meeting_id": meeting_id})).first()
        if row is None:
            raise NotFound("meeting_unknown")
        return self._meeting(row)

    async def _notify_change(
        self,
        conn: AsyncConnection,
        now: datetime,
        view: MeetingView,
        kind: str,
        payload: dict[str, Any],
    ) -> int:
        """The group and every invited member who was told before hear of the change."""
        group = await self.svc.group_chat_id()
        chats = ([group] if group is not None else []) + await self._told(conn, view)
        label = "changed" if kind == "meeting_changed" else "cancelled"
        queued = 0
        for chat in chats:
            queued += await enqueue(
                conn,
                now,
                f"meeting:{view.id}:v{view.version}:{label}:{chat}",
                chat,
                kind,
                {"meeting_id": view.id, "version": view.version, **payload},
            )
        return queued

    async def reschedule(
        self,
        viewer: Viewer,
        meeting_id: int,
        starts_at: datetime,
        *,
        finishes: str | None = None,
    ) -> MeetingView:
        """Move a meeting; everyone who was told hears of it, with a new calendar file.

        Answers already given are kept (the notice says so; an organisation can change its
        answer with the buttons)."""
        now = self.svc.clock.now()
        starts_at = validate_start(starts_at, now)
        async with self.svc.db.write() as conn:
            meeting = await self._changeable(conn, viewer, meeting_id)
            if meeting.status != SCHEDULED:
                raise InvalidInput("meeting_cancelled")
            if meeting.starts_at <= now:
                raise InvalidInput("meeting_started")
            if meeting.starts_at == starts_at:
                raise InvalidInput("same_time")
            version = meeting.version + 1
            await conn.execute(
                update(t.meetings)
                .where(t.meetings.c.id == meeting_id, t.meetings.c.version == meeting.version)
                .values(starts_at=starts_at, version=version, updated_at=now)
            )
            await self.svc._event(
                conn,
                "meeting_rescheduled",
                viewer.user_id,
                meeting_id=meeting_id,
                version=version,
                previous=meeting.starts_at.isoformat(),
                starts_at=starts_at.isoformat(),
            )
            view = await self._load(conn, meeting_id)
            await self._notify_change(
                conn, now, view, "meeting_changed", {"previous": meeting.starts_at.isoformat()}
            )
            if finishes is not None:
                await self.svc._finish_draft(conn, viewer.user_id, finishes)
        return view

    async def cancel(self, viewer: Viewer, meeting_id: int) -> Change:
        """Call a meeting off; everyone who was told hears of it, with a cancelling .ics."""
        now = self.svc.clock.now()
        async with self.svc.db.write() as conn:
            meeting = await self._changeable(conn, viewer, meeting_id)
            if meeting.status == CANCELLED:
                return Change(await self._load(conn, meeting_id), changed=False)
            if meeting.starts_at <= now:
                raise InvalidInput("meeting_started")
            version = meeting.version + 1
            await conn.execute(
                update(t.meetings)
                .where(t.meetings.c.id == meeting_id, t.meetings.c.version == meeting.version)
                .values(status=CANCELLED, version=version, updated_at=now)
            )
            await self.svc._event(
                conn,
                "meeting_cancelled",
                viewer.user_id,
                meeting_id=meeting_id,
                version=version,
                starts_at=meeting.starts_at.isoformat(),
            )
            view = await self._load(conn, meeting_id)
            await self._notify_change(conn, now, view, "meeting_cancelled", {})
        return Change(view, changed=True)

    async def rsvp(self, viewer: Viewer, meeting_id: int, answer: str) -> Change:
        """Record the answer of the viewer's organisation; a later answer replaces it."""
        if answer not in ANSWERS:
            raise InvalidInput("unknown_choice")
        now = self.svc.clock.now()
        async with self.svc.db.write() as conn:
            member = await self.svc._active_member(conn, viewer.user_id)
            view = await self._load(conn, meeting_id)
            if member is None or member.org_code not in view.orgs:
                raise NotAllowed("not_invited")
            if view.cancelled:
                raise InvalidInput("meeting_cancelled")
            if view.starts_at <= now:
                raise InvalidInput("meeting_started")
            previous = view.answer_of(member.org_code)
            if previous == answer:
                return Change(view, changed=False)
            await execute(
                conn,
                _RSVP,
                {
                    "of_meeting": meeting_id,
                    "of_org": member.org_code,
                    "rsvp": answer,
                    "rsvp_by": viewer.user_id,
                    "rsvp_at": now,
                },
            )
            await self.svc._event(
                conn,
                "meeting_rsvp",
                viewer.user_id,
                meeting_id=meeting_id,
                org=member.org_code,
                answer=answer,
                previous=previous,
            )
            return Change(await self._load(conn, meeting_id), changed=True)

    # ------------------------------------------------------------------ reminders

    async def reminder_moments(self, after: datetime, until: datetime) -> list[datetime]:
        """When reminders of the scheduled meetings fall due in (``after``, ``until``]: a
        clock moved far ahead at once (the sandbox's time controls) stops at each, so every
        reminder goes out on time rather than one late one for the nearest offset."""
        offsets = self.svc.committee.schedule.meeting_reminders
        if not offsets:
            return []
        async with self.svc.db.read() as conn:
            starts = (
                await conn.execute(
                    select(t.meetings.c.starts_at).where(
                        t.meetings.c.status == SCHEDULED,
                        t.meetings.c.starts_at > after,
                        t.meetings.c.starts_at <= until + max(offsets),
                    )
                )
            ).scalars()
            moments = {start - offset for start in starts for offset in offsets}
        return sorted(m for m in moments if after < m <= until)

    async def ensure_reminders(self, now: datetime) -> int:
        """Queue the reminders due by ``now``; returns how many messages were new.

        Per meeting, only the nearest overdue offset counts: a bot that was down for a day
        sends one (late) reminder, not a burst. Nothing is queued once a meeting started, and
        the key (version, offset, chat) makes each reminder go out once across restarts.
        """
        offsets = sorted(self.svc.committee.schedule.meeting_reminders)
        if not offsets:
            return 0
        async with self.svc.db.read() as conn:
            candidates = (
                await conn.execute(
                    select(t.meetings.c.id).where(
                        and_(
                            t.meetings.c.status == SCHEDULED,
                            t.meetings.c.starts_at > now,
                            t.meetings.c.starts_at <= now + offsets[-1],
                        )
                    )
                )
            ).all()
        if not candidates:
            return 0
        group = await self.svc.group_chat_id()
        queued = 0
        async with self.svc.db.write() as conn:
            rows = (
                await conn.execute(
                    select(t.meetings).where(
                        t.meetings.c.id.in_([c.id for c in candidates]),
                        t.meetings.c.status == SCHEDULED,
                        t.meetings.c.starts_at > now,
                    )
                )
            ).all()
            for view in await self._views(conn, rows):
                # Due, and not before this version was scheduled: a meeting set up (or moved)
                # within a reminder's offset gets no instant "late" reminder on top of its post.
                due = [o for o in offsets if view.meeting.updated_at <= view.starts_at - o <= now]
                if not due:
                    continue
                offset = due[0]
                moment = view.starts_at - offset
                minutes = int(offset.total_seconds() // 60)
                payload = {
                    "meeting_id": view.id,
                    "version": view.version,
                    "offset_minutes": minutes,
                    "due": moment.isoformat(),
                    "late": now - moment > LATE_AFTER,
                }
                waiting = [a.org_code for a in view.answers if a.rsvp is None]
                chats: list[tuple[int, dict[str, Any]]] = [
                    (uid, {**payload, "org": org})
                    for uid, org in await self._org_members(conn, waiting)
                ]
                if group is not None:
                    chats.insert(0, (group, payload))
                for chat, body in chats:
                    queued += await enqueue(
                        conn,
                        now,
                        f"meeting:{view.id}:v{view.version}:remind:{minutes}:{chat}",
                        chat,
                        "meeting_reminder",
                        body,
                    )
        return queued
