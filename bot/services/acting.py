"""Acting on a matter: every action a kind declares, taken by the side it names, from the
states it names, with the inputs it asks for — one transaction with its audit event and the
messages to the parties."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import lifecycle
from bot.domain.errors import InvalidInput, NotAllowed, NotFound
from bot.domain.fields import FILES, check_values
from bot.domain.kinds import Action, Effect, KindSpec, Side
from bot.domain.models import Assignment, Case, Event, Member, Viewer
from bot.services.cases import Cases, Outcome, files_of
from bot.storage import schema as t
from bot.storage.db import execute
from bot.storage.outbox import SENT, enqueue_many

logger = logging.getLogger(__name__)

Row = tuple[str, int, str, dict[str, Any]]  # an outbox row to queue: key, chat, kind, payload


# Built once (see bot.services.cases): every action reads and writes these.
_LATEST_EVENT = select(func.max(t.events.c.id)).where(t.events.c.case_id == bindparam("case_id"))
_LATEST_EVENT_OF_COPY = select(func.max(t.events.c.id)).where(
    t.events.c.case_id == bindparam("case_id"),
    or_(
        t.events.c.assignment_id.is_(None),
        t.events.c.assignment_id == bindparam("assignment_id"),
    ),
)
# A notice's edit about to be sent (see ``notice_event``): a newer edit of the same copy
# queued meanwhile, and the steps since the one it was queued for.
_NEWER_REFRESHES = select(t.outbox.c.payload).where(
    t.outbox.c.key >= bindparam("key_from"),
    t.outbox.c.key < bindparam("key_to"),
    t.outbox.c.kind == "case_refresh",
    t.outbox.c.chat_id == bindparam("chat_id"),
    t.outbox.c.id > bindparam("row_id"),
)
_STEPS_SINCE = (
    select(t.events, t.users.c.first_name)
    .select_from(t.events.outerjoin(t.users, t.users.c.user_id == t.events.c.actor_user_id))
    .where(
        t.events.c.case_id == bindparam("case_id"),
        or_(
            t.events.c.assignment_id.is_(None),
            t.events.c.assignment_id == bindparam("assignment_id"),
        ),
        t.events.c.id >= bindparam("since"),
    )
    .order_by(t.events.c.id)
)
_DELIVERED_NOTICES_OF_CASE = (
    select(t.outbox.c.id, t.outbox.c.chat_id, t.outbox.c.message_id, t.outbox.c.payload)
    .where(
        # The matter's rows, found through the unique index on the key.
        t.outbox.c.key >= bindparam("key_from"),
        t.outbox.c.key < bindparam("key_to"),
        t.outbox.c.kind == "case_new",
        t.outbox.c.status == SENT,
        t.outbox.c.message_id.is_not(None),
        t.outbox.c.chat_id > 0,
    )
    .order_by(t.outbox.c.id)
)
_NOTICE = (
    select(t.outbox.c.id)
    .where(
        t.outbox.c.key >= bindparam("key_from"),
        t.outbox.c.key < bindparam("key_to"),
        t.outbox.c.kind == "case_new",
        t.outbox.c.chat_id == bindparam("chat_id"),
        t.outbox.c.message_id == bindparam("message_id"),
    )
    .limit(1)
)
_CASE_STATUS = (
    update(t.cases)
    .where(t.cases.c.id == bindparam("case_id"))
    .values(status=bindparam("status"), updated_at=bindparam("now"))
)
# Each addressee's row carries its matter's status (/my's shared matters), written with it.
_ASSIGNMENTS_MATTER_STATUS = (
    update(t.assignments)
    .where(
        t.assignments.c.case_id == bindparam("of_case"),
        t.assignments.c.matter_status != bindparam("status"),
    )
    .values(matter_status=bindparam("status"))
)

# An addressee's step, one statement per set of columns it writes (an action writes the
# same ones every time; a few dozen sets at most), built when first needed.
_ASSIGNMENT_UPDATES: dict[tuple[str, ...], Any] = {}


def _assignment_update(columns: tuple[str, ...]) -> Any:
    """``UPDATE assignments SET <columns> WHERE id = :target_id AND state = :from_state``,
    each column's value in the parameter ``new_<column>``: built once per set of columns,
    so it runs as a prepared statement (see ``bot.storage.db.execute``)."""
    statement = _ASSIGNMENT_UPDATES.get(columns)
    if statement is None:
        c = t.assignments.c
        statement = _ASSIGNMENT_UPDATES[columns] = (
            update(t.assignments)
            .where(c.id == bindparam("target_id"), c.state == bindparam("from_state"))
            .values({name: bindparam(f"new_{name}", type_=c[name].type) for name in columns})
        )
    return statement


async def latest_event_id(
    conn: AsyncConnection, case_id: int, assignment_id: int | None = None
) -> int:
    """The newest event of a matter (of those a copy of ``assignment_id`` reflects, when
    given): 0 when there is none. Events only grow, so it tells whether a notice rendered
    at one of them is behind."""
    if assignment_id is None:
        result = await execute(conn, _LATEST_EVENT, {"case_id": case_id})
    else:
        result = await execute(
            conn, _LATEST_EVENT_OF_COPY, {"case_id": case_id, "assignment_id": assignment_id}
        )
    return int(result.scalar_one_or_none() or 0)


async def delivered_notices(conn: AsyncConnection, case_ids: Sequence[int]) -> Sequence[Any]:
    """The delivered copies of these matters' notices (their chat and message id, payload),
    oldest first: what an edit of each reader's copy starts from."""
    if len(case_ids) == 1:  # every action's: one statement built once
        span = {"key_from": f"case:{case_ids[0]}:", "key_to": f"case:{case_ids[0]};"}
        return (await execute(conn, _DELIVERED_NOTICES_OF_CASE, span)).all()
    return (
        await conn.execute(
            select(t.outbox.c.id, t.outbox.c.chat_id, t.outbox.c.message_id, t.outbox.c.payload)
            .where(
                # Each matter's rows, found through the unique index on the key.
                or_(
                    *(
                        and_(t.outbox.c.key >= f"case:{c}:", t.outbox.c.key < f"case:{c};")
                        for c in case_ids
                    )
                ),
                t.outbox.c.kind == "case_new",
                t.outbox.c.status == SENT,
                t.outbox.c.message_id.is_not(None),
                t.outbox.c.chat_id > 0,
            )
            .order_by(t.outbox.c.id)
        )
    ).all()


def refresh_row(
    case_id: int, event_id: int, chat_id: int, assignment_id: int, message_id: int, copy: str
) -> Row:
    """The outbox row that edits one copy of a matter's notice. Its key names the event and
    the copy (``copy``: the id of the row that sent it), so queuing it twice is harmless;
    it is rendered from the matter as it stands when it is sent."""
    payload = {
        "case_id": case_id,
        "event_id": event_id,
        "assignment_id": assignment_id,
        "message_id": message_id,
    }
    return (f"case:{case_id}:e{event_id}:edit:{copy}", chat_id, "case_refresh", payload)


async def refresh_if_behind(
    conn: AsyncConnection,
    now: datetime,
    copy_id: int,
    chat_id: int,
    payload: Mapping[str, Any],
    message_id: int,
    rendered_at: int,
    known: dict[tuple[int, int], int] | None = None,
) -> bool:
    """A notice rendered at event ``rendered_at`` was just recorded as delivered: when a
    step was taken on its matter since (while the notice was on its way, or sent but not
    yet recorded, no edit could be queued for it), queue the edit it missed. Called in the
    transaction that records the delivery, so no step falls between the two; ``known``
    keeps what that transaction has already read (a fan-out's copies share their matter)."""
    case_id = int(payload["case_id"])
    assignment_id = int(payload.get("assignment_id") or 0)
    known = {} if known is None else known
    if (case_id, assignment_id) not in known:
        known[(case_id, assignment_id)] = await latest_event_id(conn, case_id, assignment_id)
    latest = known[(case_id, assignment_id)]
    if latest <= rendered_at:
        return False
    row = refresh_row(case_id, latest, chat_id, assignment_id, message_id, str(copy_id))
    return await enqueue_many(conn, now, [row]) > 0


class Acting(Cases):
    def _action(self, case: Case, code: str) -> tuple[KindSpec, Action]:
        kind = self.kinds[case.kind]
        if not kind.has_action(code):
            raise InvalidInput("unknown_action")
        return kind, kind.action(code)

    def _target(self, case: Case, assignment_id: int | None, member: Member | None) -> Assignment:
        """The addressee an action is about: the one named, or (a button on a group post,
        which names none) the one the member answers for, or the matter's first."""
        if assignment_id is not None:
            found = case.assignment(assignment_id)
        else:
            kind = self.kinds[case.kind]
            own = [
                a
                for a in case.assignments
                if Side.ADDRESSEE in lifecycle.sides(member, case, a, self.committee, kind)
            ]
            still_open = [a for a in case.assignments if kind.is_open(a.state)]
            found = next(iter(own or still_open), case.first)
        if found is None:
            raise NotFound("case_unknown")
        return found

    async def check_action(
        self, viewer: Viewer, case_id: int, assignment_id: int | None, code: str
    ) -> tuple[Case, Assignment, Action, bool]:
        """What a press is about to do, before its inputs are asked: the matter, the
        addressee, the action, and whether it still applies. Refuses whoever may not act."""
        case = await self.get_case(case_id)
        kind, action = self._action(case, code)
        assignment = self._target(case, assignment_id, viewer.member)
        if action.by not in lifecycle.sides(viewer.member, case, assignment, self.committee, kind):
            raise NotAllowed("cannot_answer")
        return case, assignment, action, lifecycle.applies(kind, action, case, assignment)

    async def is_notice(self, case_id: int, chat_id: int, message_id: int) -> bool:
        """Whether a message is a delivered notice of the matter (which the outbox refreshes
        after every step), found through the outbox's key index as ``_refresh_notices``."""
        params = {
            "key_from": f"case:{case_id}:",
            "key_to": f"case:{case_id};",
            "chat_id": chat_id,
            "message_id": message_id,
        }
        async with self.db.read() as conn:
            return (await execute(conn, _NOTICE, params)).first() is not None

    async def handler_choices(self, kind: KindSpec, viewer: Viewer) -> list[tuple[str, str]]:
        """Whom the viewer can make the handler of an addressee: members of their own
        organisation who answer for it."""
        async with self.db.read() as conn:
            return await self._handler_choices(conn, kind, viewer)

    async def _handler_choices(
        self, conn: AsyncConnection, kind: KindSpec, viewer: Viewer
    ) -> list[tuple[str, str]]:
        member = viewer.member
        if member is None:
            return []
        return [
            (str(m.user_id), m.display_name)
            for m in await self._members_of(conn, member.org_code)
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
        pressed: tuple[int, int] | None = None,
    ) -> Outcome:
        """Take a declared action on one addressee of a matter (or, for an action that
        closes or reopens the matter, on all of them); ``changed`` is False when the action
        no longer applies (someone acted first).

        ``pressed`` (chat id, message id) is the notice the action was pressed on: the caller
        updates it itself, so it gets no queued edit."""
        now = self.clock.now()
        group = await self.group_chat_id()  # read before the write lock is taken
        async with self.db.write() as conn:
            current = await self._load_case(conn, case_id)
            if current is None:
                raise NotFound("case_unknown")
            case = current
            kind, action = self._action(case, code)
            dynamic: dict[str, list[tuple[str, str]]] = {}
            if Effect.ASSIGN in action.effects:
                dynamic["handler"] = await self._handler_choices(conn, kind, viewer)
            if Effect.EDIT in action.effects:
                clean = self.validate_values(kind, inputs or {})
            else:
                clean = check_values(action.inputs, inputs or {}, self.field_context(dynamic))
            member = await self._active_member(conn, viewer.user_id)
            assignment = self._target(case, assignment_id, member)
            if action.by not in lifecycle.sides(member, case, assignment, self.committee, kind):
                raise NotAllowed("cannot_answer")
            if not lifecycle.applies(kind, action, case, assignment):
                # Someone acted first: the conversation that asked for this ends all the same
                # (the form tells the user what happened instead).
                if finishes is not None:
                    await self._finish_draft(conn, viewer.user_id, finishes)
                return Outcome(case, changed=False)
            moment = lifecycle.waits_for(action, case, now, self.tz)
            if moment is not None:
                raise InvalidInput("too_early", moment=moment)
            shown = {}
            if Effect.ASSIGN in action.effects:  # the history names the handler, not an id
                shown["handler"] = dict(dynamic["handler"]).get(clean["handler"], clean["handler"])
            event_id, status, same_form = await self._apply(
                conn, kind, action, case, assignment, clean, viewer, now, shown
            )
            if finishes is not None:
                await self._finish_draft(conn, viewer.user_id, finishes)
            if same_form:
                # Only the addressees' rows changed besides the status written above: the
                # matter's own row and documents are not read again.
                assignments = (await self._assignments(conn, [case_id]))[case_id]
                updated = replace(
                    case, status=status, updated_at=now.astimezone(UTC), assignments=assignments
                )
            else:
                found = await self._load_case(conn, case_id)
                assert found is not None
                updated = found
            # Notes, outcomes and a resubmission's answers are searched: the index follows.
            await self._reindex(conn, updated)
            await self._notify(conn, kind, action, updated, assignment.id, event_id, viewer, now)
            await self._refresh_notices(
                conn, kind, action, updated, assignment, event_id, now, pressed
            )
            if Effect.EDIT in action.effects:
                # A resubmitted matter is new to its addressees again.
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
    ) -> tuple[int, str, bool]:
        """Write what an action changes: the addressees' rows, the matter's status and fields,
        new documents, and the audit event. Returns the event's id, the matter's status, and
        whether the matter's row and documents are as they were besides that status."""
        today = now.astimezone(self.tz).date()
        fields = dict(case.fields)
        files = files_of(
            inputs, action.inputs if Effect.EDIT not in action.effects else kind.fields
        )
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
            await self._readdress(conn, kind, case, fields)
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
                # The deadline moved: its warnings are due again (new alert keys).
                values.update(paused_since=None, paused_days=paused_days, round=target.round + 1)
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
            params = {f"new_{k}": v for k, v in values.items()}
            params.update(target_id=target.id, from_state=target.state)
            await execute(conn, _assignment_update(tuple(values)), params)
            states[target.id] = new_state
        ordered = [states[a.id] for a in case.assignments]
        closed_as = action.to_state if Effect.CLOSE in action.effects else None
        status = lifecycle.matter_status(kind, ordered, closed_as)
        await execute(conn, _CASE_STATUS, {"case_id": case.id, "status": status, "now": now})
        if status != case.status:
            await execute(conn, _ASSIGNMENTS_MATTER_STATUS, {"of_case": case.id, "status": status})
        await self._add_files(conn, case.id, files)
        detail = {
            k: v for k, v in inputs.items() if not isinstance(v, list) and v not in (None, "")
        }
        detail.update(shown or {})
        if files:
            detail["files"] = len(files)
        if Effect.EDIT in action.effects:
            detail = {}
        event_id = await self._event(
            conn,
            action.code,
            viewer.user_id,
            case.id,
            assignment.state,
            states[assignment.id],
            # An addressee's own step names it; a step on the whole matter names none.
            assignment_id=assignment.id
            if kind.several_addressees
            and action.by is Side.ADDRESSEE
            and not {Effect.CLOSE, Effect.REOPEN} & action.effects
            else None,
            **detail,
        )
        return event_id, status, Effect.EDIT not in action.effects and not files

    async def _readdress(
        self, conn: AsyncConnection, kind: KindSpec, case: Case, fields: Mapping[str, Any]
    ) -> None:
        """A resubmitted matter may go somewhere else: its addressee follows the form (and
        its handler, of the old addressee, goes). Several addressees stay as they were."""
        chosen = fields.get(kind.addressee_field)
        if kind.several_addressees:
            if sorted(chosen or []) != sorted(case.addressees):
                raise InvalidInput("addressees_fixed", field=kind.addressee_field)
            return
        first = case.first
        if first is not None and chosen and chosen != first.addressee:
            await conn.execute(
                update(t.assignments)
                .where(t.assignments.c.id == first.id)
                .values(addressee=chosen, handler_user_id=None)
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
            # A step on the whole matter (closing, reopening, a note by the raiser) reaches
            # every addressee; an addressee's own step, the raiser about that addressee.
            whole = bool({Effect.CLOSE, Effect.REOPEN} & action.effects) or (
                action.by is not Side.ADDRESSEE
            )
            if side is Side.ADDRESSEE and whole:
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

    async def _refresh_notices(
        self,
        conn: AsyncConnection,
        kind: KindSpec,
        action: Action,
        case: Case,
        assignment: Assignment,
        event_id: int,
        now: datetime,
        pressed: tuple[int, int] | None,
    ) -> None:
        """Queue an edit of every copy of the matter's notice the outbox delivered (found by
        the chat and message id it recorded), so no copy keeps buttons that no longer apply
        and each says who acted. One row per copy and event: queuing twice is harmless.

        With several addressees, an addressee's own step only touches its own copies (the
        others may not see how it answered); a step on the whole matter touches them all."""
        if Effect.EDIT in action.effects:
            return  # a resubmitted matter comes as a new notice; the old one stays as it was
        whole = bool({Effect.CLOSE, Effect.REOPEN} & action.effects) or (
            action.by is not Side.ADDRESSEE
        )
        only = None if whole or not kind.several_addressees else assignment.id
        copies = await delivered_notices(conn, [case.id])
        # Each reader's latest notice of each addressee (a resubmission sent a new one).
        latest: dict[tuple[int, int], Any] = {}
        for copy in copies:
            latest[(copy.chat_id, int(copy.payload.get("assignment_id") or 0))] = copy
        edits: list[Row] = []
        for (chat_id, copy_assignment), copy in latest.items():
            if only is not None and copy_assignment not in (0, only):
                continue
            if pressed == (chat_id, copy.message_id):
                continue
            edits.append(
                refresh_row(
                    case.id, event_id, chat_id, copy_assignment, copy.message_id, str(copy.id)
                )
            )
        await enqueue_many(conn, now, edits)

    async def case_version(self, case_id: int) -> int:
        """The matter's newest event id. Read before the matter itself, it is never newer
        than what the matter shows: a notice rendered from it is behind when a newer event
        exists (``refresh_if_behind``)."""
        async with self.db.read() as conn:
            return await latest_event_id(conn, case_id)

    async def notice_event(
        self,
        kind: KindSpec,
        row_id: int,
        chat_id: int,
        payload: Mapping[str, Any],
    ) -> Event | None:
        """The step a copy of a notice shows on top, for the edit queued as outbox row
        ``row_id`` (``payload`` as ``refresh_row`` made it): the newest step the copy
        reflects, whichever edit is sent last, so a late retry of an older edit never puts
        an older state back. None when the edit is not to be made: a newer one of the same
        message is queued (it is rendered later, from the matter as it stands then), or the
        matter was resubmitted since (the copy stays as it was; a new notice went out)."""
        case_id = int(payload["case_id"])
        message_id = int(payload["message_id"])
        queued_for = int(payload["event_id"])
        assignment_id = int(payload.get("assignment_id") or 0)
        async with self.db.read() as conn:
            newer = await execute(
                conn,
                _NEWER_REFRESHES,
                {
                    "key_from": f"case:{case_id}:",
                    "key_to": f"case:{case_id};",
                    "chat_id": chat_id,
                    "row_id": row_id,
                },
            )
            if any(int(p.get("message_id") or 0) == message_id for (p,) in newer):
                return None
            # (assignment_id 0, a copy of the whole matter, matches only the matter's steps)
            steps = {"case_id": case_id, "assignment_id": assignment_id, "since": queued_for}
            since = (await execute(conn, _STEPS_SINCE, steps)).all()
        events = [self._to_event(r) for r in since]
        if any(
            kind.has_action(e.action) and Effect.EDIT in kind.action(e.action).effects
            for e in events
            if e.id > queued_for
        ):
            return None
        return events[-1] if events else None

    async def refresh_pressed(
        self, case_id: int, assignment_id: int | None, chat_id: int, message_id: int, shown: int
    ) -> bool:
        """The notice a member pressed was edited by the press's own handler, rendered at
        event ``shown``: if someone took another step meanwhile, that step's edit of this
        message may have landed first and been overwritten. Queue one more edit, rendered
        when sent. A step after this check queues its own edits, which land after ours.
        Nearly always nobody did: a read finds that out, and only a press that was overtaken
        costs a write transaction."""
        async with self.db.read() as conn:
            if await latest_event_id(conn, case_id, assignment_id or 0) <= shown:
                return False
        now = self.clock.now()
        async with self.db.write() as conn:
            latest = await latest_event_id(conn, case_id, assignment_id or 0)
            row = refresh_row(
                case_id, latest, chat_id, assignment_id or 0, message_id, f"pressed:{message_id}"
            )
            return await enqueue_many(conn, now, [row]) > 0

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
