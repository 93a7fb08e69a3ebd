"""How the bot's own messages look: one renderer per outbox kind.

The domain decides who must be told what (and queues it in the outbox, in the transaction of
the change); these functions turn a queued row into text and buttons in the recipient's
language at the moment it is sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from telegram.ext import Application

from bot.domain import lifecycle, privacy, rules
from bot.domain.errors import DomainError
from bot.domain.models import Case, Viewer
from bot.domain.periods import Period
from bot.domain.privacy import Audience, Disclosure
from bot.i18n import DEFAULT_LANG
from bot.services.delivery import OutboxMessage
from bot.services.scheduled import Digest
from handlers import buttons, stats
from handlers.actions import action_rows, notice
from handlers.common import CASE_PREFIX, Button, keyboard
from handlers.courier import Rendered, Skip, delivery_memo
from handlers.runtime import Runtime

Renderer = Callable[[OutboxMessage, bool], Awaitable[Rendered]]

# A digest sent this long after its time (the bot was down) says it is late.
DIGEST_LATE = timedelta(minutes=30)
SUMMARY_LINES = 20  # matters listed in one summary; the rest are counted
SUMMARY_BUTTONS = 6  # of those, the first few get a button that opens them


def audience_of(chat_id: int) -> Audience:
    """Who reads a chat: Telegram gives groups negative ids, private chats positive ones."""
    return Audience.GROUP if chat_id < 0 else Audience.MEMBER


class Renderers:
    """Outbox renderers bound to the running bot (its username, runtime and templates)."""

    def __init__(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        self.app = app

    @property
    def runtime(self) -> Runtime:
        return self.app.bot_data["runtime"]  # type: ignore[no-any-return]

    def link(self, payload: str) -> str:
        return f"https://t.me/{self.app.bot.username}?start={payload}"

    async def _lang(self, chat_id: int) -> str:
        if chat_id < 0:
            return DEFAULT_LANG
        return (await self.runtime.svc.recipient(chat_id)).lang

    async def _case(self, message: OutboxMessage) -> Case:
        return await self._case_by_id(int(message.payload["case_id"]))

    async def _case_by_id(self, case_id: int) -> Case:
        return (await self._case_at(case_id))[0]

    async def _case_at(self, case_id: int) -> tuple[Case, int]:
        """A matter and its newest event id, read before it (so the matter shows at least
        that event): what a notice rendered from it reflects."""
        key = ("case", case_id)
        memo = delivery_memo()
        if memo is not None and key in memo:
            return memo[key]  # type: ignore[no-any-return]
        svc = self.runtime.svc
        try:
            version = await svc.case_version(case_id)
            found = (await svc.get_case(case_id), version)
        except DomainError as exc:
            raise Skip(f"case {case_id} is gone") from exc
        if memo is not None:
            memo[key] = found
        return found

    def _sees(self, viewer: Viewer, case: Case, assignment_id: int | None) -> bool:
        """Whether a member may see an addressee's state and answers as they are now (one
        agency does not read another's reply; a member may have moved agency since a row
        was queued for them)."""
        assignment = case.assignment(assignment_id or 0) or case.first
        if assignment is None:
            return False
        seen = rules.addressees_seen(
            viewer.member, case, self.runtime.committee, self.runtime.svc.kinds[case.kind]
        )
        return any(a.id == assignment.id for a in seen)

    def _note(self, lang: str, uncertain: bool) -> str:
        return self.runtime.texts.render(lang, "resent_note") + "\n\n" if uncertain else ""

    def _shown(self, chat_id: int, kind_code: str | None) -> Disclosure:
        """What the chat may see of a matter of this kind (``bot.domain.privacy``)."""
        return privacy.of_kind(
            audience_of(chat_id),
            self.runtime.committee.group_detail,
            self.runtime.svc.kinds,
            kind_code,
        )

    def _open_button(self, lang: str, case: Case) -> Button:
        return (
            self.runtime.texts.t(lang, "Open the matter"),
            f"url:{self.link(f'{CASE_PREFIX}{case.id}')}",
        )

    async def case_new(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """A new matter, privately to a member of an addressee, with its first actions. It
        records the step it was rendered at: one taken before its delivery is recorded gets
        its copy edited then (``Outbox.record``)."""
        case, version = await self._case_at(int(message.payload["case_id"]))
        lang = await self._lang(message.chat_id)
        viewer = await self._viewer(message.chat_id, lang)
        assignment_id = int(message.payload.get("assignment_id") or 0) or None
        if not self._sees(viewer, case, assignment_id):
            raise Skip("the recipient no longer answers for this addressee")
        html, rows = await notice(
            self.runtime.svc,
            self.runtime.texts,
            viewer,
            case,
            assignment_id,
            primary_only=True,
        )
        return Rendered(
            self._note(lang, uncertain) + html,
            keyboard(rows) if rows else None,
            rendered_at=version,
        )

    async def case_refresh(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """A delivered notice brought up to date after someone acted: the same details under
        who acted, and the buttons its reader may use now (none left: no keyboard). An edit
        repeated changes nothing, so it carries no note that it may be a repeat.

        Whichever edit of a copy is sent, it shows the matter as it stands then, under its
        newest step (an older edit retried late never puts an older state back); and only
        to a reader who may still see that addressee's state and answers."""
        case = await self._case(message)
        lang = await self._lang(message.chat_id)
        viewer = await self._viewer(message.chat_id, lang)
        assignment_id = int(message.payload.get("assignment_id") or 0) or None
        if not self._sees(viewer, case, assignment_id):
            raise Skip("the reader may not see this addressee's answers (any more)")
        svc = self.runtime.svc
        event = await svc.notice_event(
            svc.kinds[case.kind], message.id, message.chat_id, message.payload
        )
        if event is None:
            raise Skip("a newer edit of this copy is queued, or the matter was resubmitted")
        html, rows = await notice(svc, self.runtime.texts, viewer, case, assignment_id, event)
        return Rendered(
            html, keyboard(rows) if rows else None, edit=int(message.payload["message_id"])
        )

    async def _viewer(self, chat_id: int, lang: str) -> Viewer:
        """The recipient as a viewer (their buttons depend on their membership)."""
        viewer = await self.runtime.svc.viewer_by_id(chat_id)
        return replace(viewer, lang=lang) if viewer is not None else Viewer(chat_id, lang, None)

    async def _actions(
        self, chat_id: int, lang: str, case: Case, *, primary_only: bool
    ) -> list[list[Button]]:
        """The buttons the recipient may press now (checked again when pressed)."""
        viewer = await self.runtime.svc.viewer_by_id(chat_id)
        if viewer is None:
            return []
        return action_rows(
            self.runtime.svc,
            self.runtime.texts,
            replace(viewer, lang=lang),
            case,
            primary_only=primary_only,
        )

    async def case_action(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """A party hears of an action on a matter: what was done, by whom, with what."""
        case = await self._case(message)
        lang = await self._lang(message.chat_id)
        svc = self.runtime.svc
        kind = svc.kinds[case.kind]
        event = await svc.event(int(message.payload["event_id"]))
        template = str(message.payload.get("template") or "case_action")
        assignment = case.assignment(event.assignment_id or 0) or case.first
        if template == "answered_raiser" and assignment is not None and event.to_status:
            # How the matter stood after this action, even if it moved on since.
            case = replace(case, status=event.to_status)
        actor = await svc.member_org_of(event.actor_user_id)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang,
            template,
            case=case,
            kind=kind,
            event=event,
            assignment=assignment,
            actor_org=actor or "",
        )
        rows = await self._actions(message.chat_id, lang, case, primary_only=True)
        rows.append([self._open_button(lang, case)])
        return Rendered(html, keyboard(rows))

    async def case_group(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """The committee group's short post: as much detail as the committee file allows."""
        case = await self._case(message)
        texts = self.runtime.texts
        kind = self.runtime.svc.kinds[case.kind]
        html = self._note(DEFAULT_LANG, uncertain) + texts.render(
            DEFAULT_LANG,
            "group_new",
            case=case,
            kind=kind,
            shown=self._shown(message.chat_id, case.kind),
        )
        button = (
            texts.t(DEFAULT_LANG, "Open in private chat"),
            f"url:{self.link(f'{CASE_PREFIX}{case.id}')}",
        )
        # Actions declared for the group's post (已阅), pressed there for one's organisation.
        group_actions = [
            (texts.t(DEFAULT_LANG, a.label), buttons.action(a.code, case.id))
            for a in kind.actions
            if a.in_group
        ]
        return Rendered(html, keyboard([group_actions, [button]]))

    async def case_answered(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """The raiser learns of an acknowledgement, a return or an outcome — the one this row
        was queued for, even if the matter has moved on since (a delayed delivery)."""
        case = await self._case(message)
        queued_for = message.payload.get("status")
        if queued_for and queued_for != case.status:
            case = dataclasses.replace(case, status=queued_for)
        lang = await self._lang(message.chat_id)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang, "answered_raiser", case=case, kind=self.runtime.svc.kinds[case.kind]
        )
        return Rendered(html, keyboard([[self._open_button(lang, case)]]))

    async def case_unstaffed(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """To the office: a matter went to addressees none of whose members has joined —
        named as the payload lists them (a row queued before it did: all addressees), courts
        and agencies each in their own words."""
        case = await self._case(message)
        lang = await self._lang(message.chat_id)
        codes = message.payload.get("addressees") or list(case.addressees)
        courts = [c for c in codes if self.runtime.committee.courts_answering(c)]
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang,
            "case_unstaffed",
            case=case,
            kind=self.runtime.svc.kinds[case.kind],
            courts=courts,
            agencies=[c for c in codes if c not in courts],
        )
        return Rendered(html, keyboard([[self._open_button(lang, case)]]))

    async def delivery_failed(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        lang = await self._lang(message.chat_id)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang, "delivery_failed", **message.payload
        )
        return Rendered(html)

    async def deadline(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """Due soon / overdue / escalation, privately to an addressee or to the group."""
        case = await self._case(message)
        p = message.payload
        assignment = case.assignment(int(p.get("assignment_id") or 0)) or case.first
        if (
            assignment is None
            or assignment.stage != p["stage"]
            or assignment.paused
            or assignment.round != int(p.get("round") or 0)
        ):
            raise Skip("the matter moved on before the alert went out")
        if message.chat_id > 0:
            viewer = await self.runtime.svc.viewer_by_id(message.chat_id)
            if viewer is None or not self._sees(viewer, case, assignment.id):
                raise Skip("the recipient may not see this addressee's state (any more)")
        lang = await self._lang(message.chat_id)
        kind = self.runtime.svc.kinds[case.kind]
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang,
            "deadline_alert",
            case=case,
            level=p["level"],
            stage=p["stage"],
            message=lifecycle.deadline_message(kind, p["stage"]),
            addressee=assignment.addressee,
            due=p["due"],
            late=p["late"],
            kind=kind,
            shown=self._shown(message.chat_id, case.kind),
        )
        if message.chat_id < 0:
            button = (
                self.runtime.texts.t(lang, "Open in private chat"),
                f"url:{self.link(f'{CASE_PREFIX}{case.id}')}",
            )
            return Rendered(html, keyboard([[button]]))
        rows = await self._actions(message.chat_id, lang, case, primary_only=True)
        return Rendered(html, keyboard(rows) if any(rows) else None)

    async def deadline_summary(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """The morning summary of a recipient's due-soon and overdue matters (or, as kind
        ``escalation``, the 督办 rounds that began that day): one message for all of them.
        Matters that moved on since it was queued are left out; if none is left, nothing
        goes out."""
        p = message.payload
        lines: list[dict[str, Any]] = []
        items = list(p.get("items") or [])
        looked = 0
        # A private chat sees only the matters its member may see now (``Audience`` checks
        # membership alone for a row naming many matters).
        viewer = await self.runtime.svc.viewer_by_id(message.chat_id)
        member = viewer.member if viewer is not None else None
        for item in items:
            if len(lines) >= SUMMARY_LINES:
                break
            looked += 1
            try:
                case = await self._case_by_id(int(item["case_id"]))
            except Skip:
                continue
            if message.chat_id > 0 and not rules.can_view(member, case, self.runtime.committee):
                continue
            assignment = case.assignment(int(item.get("assignment_id") or 0)) or case.first
            kind = self.runtime.svc.kinds[case.kind]
            ask = item.get("action")
            if ask is not None:
                # An ask to the raiser (record who appeared): while the step still applies.
                if (
                    assignment is None
                    or not kind.has_action(str(ask))
                    or not lifecycle.applies(kind, kind.action(str(ask)), case, assignment)
                ):
                    continue
            elif (
                assignment is None
                or assignment.stage != item["stage"]
                or assignment.paused
                or assignment.round != int(item.get("round") or 0)
            ):
                continue
            if (
                viewer is not None
                and message.chat_id > 0
                and not self._sees(viewer, case, assignment.id)
            ):
                continue  # another agency's part (the reader moved agency since)
            lines.append(
                {
                    "case": case,
                    "kind": kind,
                    "ask": kind.action(str(ask)).ask if ask is not None else None,
                    "moment": datetime.fromisoformat(item["moment"]) if ask is not None else None,
                    "level": item["level"],
                    "due": date.fromisoformat(item["due"]),
                    "late": int(item.get("late") or 0),
                    "addressee": assignment.addressee,
                    "acting": self.runtime.committee.acting_org(assignment.addressee),
                    "shown": self._shown(message.chat_id, case.kind),
                }
            )
        if not lines:
            raise Skip("every matter moved on before the summary went out")
        lang = await self._lang(message.chat_id)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang,
            "deadline_summary",
            escalation=message.kind == "escalation",
            day=date.fromisoformat(p["day"]),
            today=self.runtime.svc.today(),
            lines=lines,
            rest=len(items) - looked,
        )
        if message.chat_id > 0 and len(items) == 1:
            # One matter: its own buttons, as on its notice (已阅, 受理 ...), act from here.
            case = lines[0]["case"]
            rows = await self._actions(message.chat_id, lang, case, primary_only=True)
            return Rendered(html, keyboard([*rows, [self._open_button(lang, case)]]))
        # A link per matter (the first few, two a row: a phone's width) opens it privately;
        # a matter listed once per late agency still gets one link.
        matters = list({line["case"].id: line["case"] for line in lines}.values())
        links: list[Button] = [
            (case.number, f"url:{self.link(f'{CASE_PREFIX}{case.id}')}")
            for case in matters[:SUMMARY_BUTTONS]
        ]
        return Rendered(html, keyboard([links[i : i + 2] for i in range(0, len(links), 2)]))

    async def case_reminder(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """A reminder a kind declares before a field's moment (a hearing), to an addressee."""
        case = await self._case(message)
        p = message.payload
        kind = self.runtime.svc.kinds[case.kind]
        assignment = case.assignment(int(p.get("assignment_id") or 0)) or case.first
        reminder = next((r for r in kind.reminders if r.field == p.get("field")), None)
        moment = lifecycle.moment_of(case.fields.get(str(p.get("field"))), self.runtime.svc.tz)
        if (
            reminder is None
            or assignment is None
            or assignment.state not in reminder.states
            or moment is None
            or moment <= self.runtime.clock.now()
        ):
            raise Skip("the matter moved on, or its moment passed, before the reminder went out")
        lang = await self._lang(message.chat_id)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang,
            "case_reminder",
            case=case,
            kind=kind,
            message=reminder.message,
            moment=moment,
            addressee=assignment.addressee,
        )
        rows = await self._actions(message.chat_id, lang, case, primary_only=True)
        rows.append([self._open_button(lang, case)])
        return Rendered(html, keyboard(rows))

    async def digest(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """The weekly digest to the group; it says when it comes on another day than its own
        (a day off) or late (the bot was down), and is not posted when there is nothing to
        report (``Digest.empty``)."""
        p = message.payload
        start = datetime.fromisoformat(p["start"])
        end = datetime.fromisoformat(p["end"])
        due = datetime.fromisoformat(p.get("due") or p["end"])
        lang = await self._lang(message.chat_id)
        data = await self.runtime.svc.digest(start, end)
        if data.empty:
            raise Skip("nothing to report this week")
        tz = self.runtime.svc.tz
        now = self.runtime.clock.now()
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang,
            "digest",
            digest=self._digest_for(message.chat_id, data),
            moved_from=end.astimezone(tz).date() if due.date() != end.date() else None,
            late_since=due if now - due > DIGEST_LATE else None,
        )
        return Rendered(html)

    def _digest_for(self, chat_id: int, data: Digest) -> Digest:
        """The digest with each matter as the chat may see it: a title and an organisation
        left empty are not shown."""
        raised = []
        for number, title, org in data.raised:
            parsed = rules.parse_number(number, self.runtime.svc.kinds)
            shown = self._shown(chat_id, parsed[0] if parsed else None)
            raised.append((number, title if shown.title else "", org if shown.parties else ""))
        overdue = []
        for matter in data.overdue:
            shown = self._shown(chat_id, matter.kind)
            overdue.append(
                replace(
                    matter,
                    title=matter.title if shown.title else "",
                    acting=matter.acting if shown.parties else "",
                )
            )
        return replace(data, raised=raised, overdue=overdue)

    async def quarterly_report(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """The quarter's evaluation figures to the group, with the on-time rates chart (drawn
        in a worker thread). The group never reads a matter here; under the committee file's
        ``group_detail = "minimal"`` it does not learn which organisation raised or answered
        what either (a matter's parties, ``bot.domain.privacy``): only the totals, no chart."""
        p = message.payload
        period = Period(date.fromisoformat(p["first"]), date.fromisoformat(p["last"]), "quarter")
        lang = await self._lang(message.chat_id)
        svc, texts = self.runtime.svc, self.runtime.texts
        card = await svc.scorecard(period)
        detail = privacy.disclosure(audience_of(message.chat_id), svc.committee.group_detail)
        html = self._note(lang, uncertain) + stats.scorecard_html(
            texts, lang, card, report=True, minimal=not detail.parties
        )
        png = None
        if detail.parties:
            png = await asyncio.to_thread(stats.chart_png, texts, lang, card)
        return Rendered(html, photo=("stats.png", png) if png is not None else None)

    async def calendar_gap(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        lang = await self._lang(message.chat_id)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang, "calendar_gap", **message.payload
        )
        return Rendered(html)

    async def calendar_changed(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """The rest of the office hears of a holiday calendar confirmed with /calendar."""
        lang = await self._lang(message.chat_id)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang, "calendar_changed", **message.payload
        )
        return Rendered(html)

    async def deadline_moved(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """Those who must act hear which of their deadlines a confirmed holiday calendar
        moved (their notices were edited, which makes no sound). Only matters the reader
        may still see, whose deadline is still the one it moved to; none left: nothing."""
        p = message.payload
        viewer = await self.runtime.svc.viewer_by_id(message.chat_id)
        if viewer is None:
            raise Skip("the recipient is not a member (any more)")
        moved: list[dict[str, Any]] = []
        for item in p.get("items") or []:
            try:
                case = await self._case_by_id(int(item["case_id"]))
            except Skip:
                continue
            if not rules.can_view(viewer.member, case, self.runtime.committee):
                continue
            assignment = case.assignment(int(item.get("assignment_id") or 0))
            if (
                assignment is None
                or assignment.due is None
                or assignment.due.isoformat() != item["new"]
                or not self._sees(viewer, case, assignment.id)
            ):
                continue  # answered, paused or moved again since, or no longer theirs
            moved.append({"number": case.number, "old": item["old"], "new": item["new"]})
        if not moved:
            raise Skip("none of the moved deadlines still stands for this reader")
        lang = await self._lang(message.chat_id)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang,
            "deadline_moved",
            year=p["year"],
            total=len(moved),
            moved=moved[:SUMMARY_LINES],
            rest=max(len(moved) - SUMMARY_LINES, 0),
        )
        return Rendered(html)

    def all(self) -> dict[str, Renderer]:
        return {
            "case_new": self.case_new,
            "case_refresh": self.case_refresh,
            "case_group": self.case_group,
            "case_answered": self.case_answered,
            "case_action": self.case_action,
            "case_reminder": self.case_reminder,
            "delivery_failed": self.delivery_failed,
            "case_unstaffed": self.case_unstaffed,
            "deadline": self.deadline,
            "deadline_summary": self.deadline_summary,
            "escalation": self.deadline_summary,
            "digest": self.digest,
            "quarterly_report": self.quarterly_report,
            "calendar_gap": self.calendar_gap,
            "calendar_changed": self.calendar_changed,
            "deadline_moved": self.deadline_moved,
        }
