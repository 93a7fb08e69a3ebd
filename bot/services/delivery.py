"""The courier's side of the outbox: claim the rows that are due, record what happened to
them, say who may still receive them, and tell the office when one cannot be delivered.

Claiming is one short write transaction per batch (none when nothing is due: a read says
so); what happened to each row is an ``Outcome``, written together with others
(``Outbox.record``) so that a fan-out costs a few transactions, not one per message. The
retry policy (backoff, when to give up) lives here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Executable, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.domain import rules
from bot.domain.models import Case, Member, Role
from bot.services.acting import refresh_if_behind
from bot.services.base import _ACTIVE_MEMBER
from bot.services.cases import _CASES_IN, Cases
from bot.storage import schema as t
from bot.storage.db import Database
from bot.storage.db import execute as db_execute
from bot.storage.outbox import FAILED, PENDING, RETRY, SENDING, SENT, enqueue

logger = logging.getLogger(__name__)

# The courier claims due rows on every run: built once (the key prefix, rare, is added).
_DUE = (
    select(t.outbox)
    .where(
        or_(t.outbox.c.status == PENDING, t.outbox.c.status == RETRY),
        t.outbox.c.next_attempt_at <= bindparam("now"),
    )
    .order_by(t.outbox.c.id)
    .limit(bindparam("limit"))
)
_ANY_DUE = (
    select(t.outbox.c.id)
    .where(
        or_(t.outbox.c.status == PENDING, t.outbox.c.status == RETRY),
        t.outbox.c.next_attempt_at <= bindparam("now"),
    )
    .limit(1)
)
# A batch's recipients and matters (see ``Delivery.undeliverable``): one of each, or several.
_CASE_ROW = select(t.cases).where(t.cases.c.id == bindparam("case_id"))
_ACTIVE_MEMBERS_IN = select(t.members).where(
    t.members.c.user_id.in_(bindparam("ids", expanding=True)), t.members.c.revoked_at.is_(None)
)
# One row per parameter set (an executemany): no IN list to expand on every claim.
_CLAIM = (
    update(t.outbox)
    .where(t.outbox.c.id == bindparam("row_id"))
    .values(status=SENDING, attempts=t.outbox.c.attempts + 1)
)
# What a send leaves on its row (one parameter set per row sent).
_SENT = (
    update(t.outbox)
    .where(t.outbox.c.id == bindparam("row_id"))
    .values(
        status=SENT,
        sent_at=bindparam("row_sent_at", type_=t.outbox.c.sent_at.type),
        message_id=bindparam("row_message_id", type_=t.outbox.c.message_id.type),
        last_error=bindparam("row_error", type_=t.outbox.c.last_error.type),
    )
)


async def _through_sqlalchemy(
    conn: AsyncConnection, statement: Executable, params: Any = None
) -> Any:
    """``conn.execute``, for a statement built per call (``db_execute`` keeps what it
    prepares)."""
    return await conn.execute(statement, params)


BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=15)
# Retries are bounded by age, not by count: an outage of an hour (or Telegram's 429s) must not
# use a message up. A row this old whose attempt fails again is given up and the office told —
# once it has been tried a few times (a row queued before a long downtime of the bot itself
# gets more than one chance).
GIVE_UP_AFTER = timedelta(hours=6)
MIN_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    key: str
    chat_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    uncertain: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one claimed row: the columns to set, written later with others
    (``Outbox.record``). Until then the row stays 'sending' — after a crash, a possible
    repeat."""

    message: OutboxMessage
    values: dict[str, Any]
    delivered: bool = False
    gave_up: bool = False  # a failure after retrying for GIVE_UP_AFTER: the office is told
    # A matter's notice: the matter's newest event when it was rendered (``record`` queues
    # the edit it missed when a step was taken since).
    rendered_at: int | None = None


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s ... capped at 15 minutes."""
    delay: timedelta = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, BACKOFF_CAP)


class Outbox:
    """The courier's side: claim due rows, record what happened to them."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def recover(self) -> int:
        """Rows left 'sending' while no delivery run is going on (a crash, or a database error
        while recording an outcome) may or may not have been delivered: resend them marked as
        possibly repeated, never silently. The caller makes sure no run is going on. Runs
        every tick: it writes only when a row is stranded."""
        async with self.db.read() as conn:
            stranded = select(t.outbox.c.id).where(t.outbox.c.status == SENDING).limit(1)
            if (await conn.execute(stranded)).first() is None:
                return 0
        async with self.db.write() as conn:
            result = await conn.execute(
                update(t.outbox)
                .where(t.outbox.c.status == SENDING)
                .values(status=RETRY, uncertain=1, next_attempt_at=self.clock.now())
            )
        return int(result.rowcount or 0)

    async def claim_due(
        self, limit: int = 50, *, key_prefix: str | None = None
    ) -> list[OutboxMessage]:
        """Take the due rows (oldest first) and mark them 'sending' before any is sent.

        Most runs find nothing due (the periodic run, a run after an action another run
        already served): a read says so first, and only a run with rows to take opens a
        write transaction, which selects them again (what it claims is what is due then)."""
        due, probe = _DUE, _ANY_DUE
        execute = db_execute
        if key_prefix is not None:
            prefixed = t.outbox.c.key.startswith(key_prefix, autoescape=True)
            due, probe = due.where(prefixed), probe.where(prefixed)
            execute = _through_sqlalchemy  # built for this call: not to be prepared and kept
        now = self.clock.now()
        async with self.db.read() as conn:
            if (await execute(conn, probe, {"now": now})).first() is None:
                return []
        async with self.db.write() as conn:
            rows = (await execute(conn, due, {"now": now, "limit": limit})).all()
            if rows:
                await execute(conn, _CLAIM, [{"row_id": r.id} for r in rows])
        return [
            OutboxMessage(
                r.id,
                r.key,
                r.chat_id,
                r.kind,
                dict(r.payload),
                r.attempts + 1,
                bool(r.uncertain),
                r.created_at,
            )
            for r in rows
        ]

    async def release(self, messages: Sequence[OutboxMessage], after: timedelta) -> None:
        """Give claimed but untried rows back, due again after ``after`` (a 429 pause, or at
        once when a run had to stop): not counted as an attempt, not marked uncertain."""
        if not messages:
            return
        async with self.db.write() as conn:
            await conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id.in_([m.id for m in messages]))
                .values(
                    status=RETRY,
                    attempts=t.outbox.c.attempts - 1,
                    next_attempt_at=self.clock.now() + after,
                )
            )

    def move(self, message: OutboxMessage, chat_id: int) -> Outcome:
        """The chat got a new id (a group became a supergroup): send there, now."""
        return Outcome(
            message,
            {
                "status": RETRY,
                "chat_id": chat_id,
                "next_attempt_at": self.clock.now(),
                "attempts": t.outbox.c.attempts - 1,
            },
        )

    def sent(
        self, message: OutboxMessage, message_id: int | None, rendered_at: int | None = None
    ) -> Outcome:
        return Outcome(
            message,
            {"status": SENT, "sent_at": self.clock.now(), "message_id": message_id},
            delivered=True,
            rendered_at=rendered_at,
        )

    def retry(self, message: OutboxMessage, error: str, *, uncertain: bool = False) -> Outcome:
        """Another attempt after the backoff — or, when the message is older than
        ``GIVE_UP_AFTER``, a failure (``gave_up``): the caller tells the office."""
        age = self.clock.now() - message.created_at
        if age >= GIVE_UP_AFTER and message.attempts >= MIN_ATTEMPTS:
            hours = age.total_seconds() / 3600
            failure = self.failed(
                message,
                f"gave up after {hours:.1f} h and {message.attempts} attempts: {error}",
                uncertain=uncertain,
            )
            return replace(failure, gave_up=True)
        return self._again(message, error, backoff(message.attempts), uncertain=uncertain)

    def throttled(
        self, message: OutboxMessage, after: timedelta, *, uncertain: bool = False
    ) -> Outcome:
        """Telegram asked us to wait (429): an instruction, not a failure — the attempt does
        not count, and waiting as told never makes a message give up."""
        error = f"429 retry after {after.total_seconds():g} s"
        return self._again(message, error, after, uncertain=uncertain, counted=False)

    def _again(
        self,
        message: OutboxMessage,
        error: str,
        after: timedelta,
        *,
        uncertain: bool,
        counted: bool = True,
    ) -> Outcome:
        values: dict[str, Any] = {
            "status": RETRY,
            "last_error": error[:500],
            "next_attempt_at": self.clock.now() + after,
        }
        if uncertain:
            values["uncertain"] = 1
        if not counted:
            values["attempts"] = t.outbox.c.attempts - 1
        return Outcome(message, values)

    def failed(self, message: OutboxMessage, error: str, *, uncertain: bool = False) -> Outcome:
        values: dict[str, Any] = {"status": FAILED, "last_error": error[:500]}
        if uncertain:
            values["uncertain"] = 1
        return Outcome(message, values)

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write what happened to claimed rows, all in one transaction: the sends (the bulk
        of a fan-out) in one statement, anything else one statement each. A notice of a
        matter that moved on while it was on its way gets its edit queued here: until this
        transaction, no step taken on the matter could find it as delivered."""
        if not outcomes:
            return
        sent = [o for o in outcomes if o.delivered]
        now = self.clock.now()
        async with self.db.write() as conn:
            if sent:
                await db_execute(
                    conn,
                    _SENT,
                    [
                        {
                            "row_id": o.message.id,
                            "row_sent_at": o.values["sent_at"],
                            "row_message_id": o.values["message_id"],
                            "row_error": None,
                        }
                        for o in sent
                    ],
                )
            for o in sent:
                if "payload" in o.values:  # a row sent in parts: its progress is done with
                    await conn.execute(
                        update(t.outbox)
                        .where(t.outbox.c.id == o.message.id)
                        .values(payload=o.values["payload"])
                    )
            known: dict[tuple[int, int], int] = {}
            for o in sent:
                message_id = o.values["message_id"]
                if o.rendered_at is not None and message_id is not None and o.message.chat_id > 0:
                    await refresh_if_behind(
                        conn,
                        now,
                        o.message.id,
                        o.message.chat_id,
                        o.message.payload,
                        int(message_id),
                        o.rendered_at,
                        known,
                    )
            for outcome in outcomes:
                if not outcome.delivered:
                    await conn.execute(
                        update(t.outbox)
                        .where(t.outbox.c.id == outcome.message.id)
                        .values(**outcome.values)
                    )

    async def add(self, key: str, chat_id: int, kind: str, payload: dict[str, Any]) -> bool:
        async with self.db.write() as conn:
            return await enqueue(conn, self.clock.now(), key, chat_id, kind, payload)

    async def next_due_at(self) -> datetime | None:
        async with self.db.read() as conn:
            due: datetime | None = (
                await conn.execute(
                    select(func.min(t.outbox.c.next_attempt_at)).where(
                        t.outbox.c.status.in_([PENDING, RETRY])
                    )
                )
            ).scalar_one_or_none()
        return due

    async def counts(self) -> dict[str, int]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(t.outbox.c.status, func.count()).group_by(t.outbox.c.status)
                )
            ).all()
        return {status: n for status, n in rows}


# ---------------------------------------------------------------------------- audiences

PrivateRule = Literal["matter", "office", "member"]


@dataclass(frozen=True, slots=True)
class Audience:
    """Who may receive a kind of outbox row, checked when it is sent (not when it was queued:
    a membership may be revoked, or the group rebound, while a row waits for a retry).

    ``private``: in a private chat, an active member who — "matter": may see the matter, by the
    rule /case uses; "office": is of the office; "member": any (as /meetings), and of the
    organisation the row asks to answer, if it names one. None: never to a private chat.
    ``group``: may go to the committee group as it is bound now (never to another group).
    """

    private: PrivateRule | None
    group: bool = False


# Every kind the courier delivers. None of them is meant for someone who is not a member:
# the bot talks to strangers only in reply to what they send it, never through the outbox.
AUDIENCES: dict[str, Audience] = {
    "case_new": Audience("matter"),
    "case_action": Audience("matter"),
    "case_refresh": Audience("matter"),  # an edit of a delivered notice
    "case_answered": Audience("matter"),  # queued by release 0.1; may still be waiting
    "case_reminder": Audience("matter"),
    "case_unstaffed": Audience("office"),
    "deadline": Audience("matter", group=True),  # queued before summaries; may still wait
    # Many matters in one message: the renderer leaves out those that moved on.
    "deadline_summary": Audience("member", group=True),
    "escalation": Audience("member", group=True),
    "case_group": Audience(None, group=True),
    "digest": Audience(None, group=True),
    "quarterly_report": Audience(None, group=True),
    # Queued for the office, but a note on the holiday data holds nothing private: any member.
    "calendar_gap": Audience("member"),
    "calendar_changed": Audience("office"),  # a holiday calendar confirmed (/calendar)
    # Its matters' deadlines a confirmed calendar moved: the renderer keeps those still seen.
    "deadline_moved": Audience("member"),
    "delivery_failed": Audience("office"),
    "meeting_posted": Audience(None, group=True),
    "meeting_changed": Audience("member", group=True),
    "meeting_cancelled": Audience("member", group=True),
    "meeting_reminder": Audience("member", group=True),
}

FailureReason = Literal["refused", "gave_up"]


class Delivery(Cases):
    """The service side of delivery that needs the membership and the matters."""

    async def undeliverable(self, messages: Sequence[OutboxMessage]) -> dict[int, str]:
        """Why rows of a claimed batch must not go out now (outbox id → reason), judged by
        the recipient's membership and visibility as they are now; one read per batch."""
        private = {m.chat_id for m in messages if m.chat_id > 0}
        case_ids = {
            int(m.payload["case_id"])
            for m in messages
            if m.chat_id > 0 and _rule(m) == "matter" and m.payload.get("case_id") is not None
        }
        group = await self.group_chat_id()
        members: dict[int, Member] = {}
        cases: dict[int, Case] = {}
        if private:
            async with self.db.read() as conn:
                # Most batches are one message (a step's notice): statements built once.
                rows = (
                    await db_execute(conn, _ACTIVE_MEMBER, {"user_id": next(iter(private))})
                    if len(private) == 1
                    else await conn.execute(_ACTIVE_MEMBERS_IN, {"ids": sorted(private)})
                )
                for row in rows:
                    member = self._member(row)
                    if member is not None:
                        members[member.user_id] = member
                if case_ids:
                    found = (
                        await db_execute(conn, _CASE_ROW, {"case_id": next(iter(case_ids))})
                        if len(case_ids) == 1
                        else await conn.execute(_CASES_IN, {"ids": sorted(case_ids)})
                    ).all()
                    assignments = await self._assignments(conn, [r.id for r in found])
                    cases = {r.id: self._case(r, (), assignments[r.id]) for r in found}
        reasons: dict[int, str] = {}
        for message in messages:
            reason = self._why_not(message, group, members, cases)
            if reason is not None:
                reasons[message.id] = reason
        return reasons

    def _why_not(
        self,
        message: OutboxMessage,
        group: int | None,
        members: dict[int, Member],
        cases: dict[int, Case],
    ) -> str | None:
        audience = AUDIENCES.get(message.kind)
        if audience is None:
            return f"no audience is declared for {message.kind}"
        if message.chat_id < 0:
            if not audience.group:
                return f"{message.kind} never goes to a group"
            if message.chat_id != group:
                return "the chat is not the committee group (any more)"
            return None
        if audience.private is None:
            return f"{message.kind} never goes to a private chat"
        member = members.get(message.chat_id)
        if member is None:
            return "the recipient is not an active member (any more)"
        if audience.private == "office" and member.role is not Role.OFFICE:
            return "the recipient is not of the office"
        if audience.private == "member":
            org = message.payload.get("org")
            if org and member.org_code != org:
                return f"the recipient is not of {org} (any more)"
        if audience.private == "matter":
            case = cases.get(int(message.payload.get("case_id") or 0))
            # A matter that is gone is the renderer's to skip, with its own reason.
            if case is not None and not rules.can_view(member, case, self.committee):
                return "the recipient may not see the matter (any more)"
        return None

    async def report_delivery_failure(
        self, message: OutboxMessage, error: str, reason: FailureReason
    ) -> int:
        """Queue a note to every office member that a message could not be delivered: to
        whom and about what, in each one's language when sent. Never about such a note (a
        report that cannot reach the office must not report itself), and never to the office
        member the failed message was for. Returns how many notes were queued."""
        if message.kind == "delivery_failed":
            return 0
        now = self.clock.now()
        payload: dict[str, Any] = {
            "key": message.key,
            "chat_id": message.chat_id,
            "error": error[:200],
            "reason": reason,
            "hours": int(GIVE_UP_AFTER.total_seconds() // 3600),
            "group": message.chat_id < 0 and message.chat_id == await self.group_chat_id(),
            "recipient": "",
            "org": "",
            "case": "",
            "meeting": "",
        }
        queued = 0
        async with self.db.write() as conn:
            if message.chat_id > 0:
                member = (
                    await conn.execute(
                        select(t.members.c.display_name, t.members.c.org_code)
                        .where(t.members.c.user_id == message.chat_id)
                        .order_by(t.members.c.id.desc())
                        .limit(1)
                    )
                ).first()
                if member is not None:
                    payload.update(recipient=member.display_name, org=member.org_code)
            case_id = message.payload.get("case_id")
            if case_id is not None:
                number = (
                    await conn.execute(select(t.cases.c.number).where(t.cases.c.id == int(case_id)))
                ).scalar_one_or_none()
                payload["case"] = number or ""
            meeting_id = message.payload.get("meeting_id")
            if meeting_id is not None:
                title = (
                    await conn.execute(
                        select(t.meetings.c.title).where(t.meetings.c.id == int(meeting_id))
                    )
                ).scalar_one_or_none()
                payload["meeting"] = title or ""
            for user_id in await self._office_ids(conn):
                if user_id == message.chat_id:
                    continue
                key = f"failed:{message.key}:{user_id}"
                queued += await enqueue(conn, now, key, user_id, "delivery_failed", payload)
        return queued


def _rule(message: OutboxMessage) -> PrivateRule | None:
    audience = AUDIENCES.get(message.kind)
    return audience.private if audience is not None else None
