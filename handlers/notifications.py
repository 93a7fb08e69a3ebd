"""How the bot's own messages look: one renderer per outbox kind.

The domain decides who must be told what (and queues it in the outbox, in the transaction of
the change); these functions turn a queued row into text and buttons in the recipient's
language at the moment it is sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from telegram.ext import Application

from bot.domain import alerts
from bot.domain.kinds import KINDS
from bot.domain.models import Case, Status
from bot.domain.rules import DomainError
from bot.i18n import DEFAULT_LANG
from bot.services.delivery import OutboxMessage
from handlers.cases import answer_buttons
from handlers.common import CASE_PREFIX, Button, keyboard
from handlers.courier import Rendered, Skip, delivery_memo
from handlers.runtime import Runtime

Renderer = Callable[[OutboxMessage, bool], Awaitable[Rendered]]


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
        key = ("case", int(message.payload["case_id"]))
        memo = delivery_memo()
        if memo is not None and key in memo:
            return memo[key]  # type: ignore[no-any-return]
        try:
            case = await self.runtime.svc.get_case(key[1])
        except DomainError as exc:
            raise Skip(f"case {message.payload.get('case_id')} is gone") from exc
        if memo is not None:
            memo[key] = case
        return case

    def _note(self, lang: str, uncertain: bool) -> str:
        return self.runtime.texts.render(lang, "resent_note") + "\n\n" if uncertain else ""

    def _show_titles(self, chat_id: int) -> bool:
        """Titles go to the group unless the committee file says ``group_detail = "minimal"``."""
        return chat_id > 0 or self.runtime.committee.group_detail.value != "minimal"

    def _open_button(self, lang: str, case: Case) -> Button:
        return (
            self.runtime.texts.t(lang, "Open the matter"),
            f"url:{self.link(f'{CASE_PREFIX}{case.id}')}",
        )

    async def case_new(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """A new matter, privately to a member of the answering court, with 受理 / 退回."""
        case = await self._case(message)
        lang = await self._lang(message.chat_id)
        texts = self.runtime.texts
        rows: list[list[Button]] = [answer_buttons(self.runtime.texts, lang, case)]
        if case.files:
            rows.append(
                [(texts.t(lang, "📎 Documents (%(n)s)", n=len(case.files)), f"c:files:{case.id}")]
            )
        html = self._note(lang, uncertain) + texts.render(
            lang, "notify_new", case=case, kind=KINDS[case.kind]
        )
        return Rendered(html, keyboard(rows) if any(rows) else None)

    async def case_group(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """The committee group's short post: as much detail as the committee file allows."""
        case = await self._case(message)
        texts = self.runtime.texts
        html = self._note(DEFAULT_LANG, uncertain) + texts.render(
            DEFAULT_LANG,
            "group_new",
            case=case,
            kind=KINDS[case.kind],
            detail=self.runtime.committee.group_detail.value,
        )
        button = (
            texts.t(DEFAULT_LANG, "Open in private chat"),
            f"url:{self.link(f'{CASE_PREFIX}{case.id}')}",
        )
        return Rendered(html, keyboard([[button]]))

    async def case_answered(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """The raiser learns of an acknowledgement, a return or an outcome — the one this row
        was queued for, even if the matter has moved on since (a delayed delivery)."""
        case = await self._case(message)
        queued_for = message.payload.get("status")
        if queued_for and queued_for != case.status.value:
            case = dataclasses.replace(case, status=Status(queued_for))
        lang = await self._lang(message.chat_id)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang, "answered_raiser", case=case, kind=KINDS[case.kind]
        )
        return Rendered(html, keyboard([[self._open_button(lang, case)]]))

    async def case_unstaffed(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """To the office: a matter went to a court none of whose staff has joined."""
        case = await self._case(message)
        lang = await self._lang(message.chat_id)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang, "case_unstaffed", case=case, kind=KINDS[case.kind]
        )
        return Rendered(html, keyboard([[self._open_button(lang, case)]]))

    async def delivery_failed(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        lang = await self._lang(message.chat_id)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang, "delivery_failed", **message.payload
        )
        return Rendered(html)

    async def deadline(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        """Due soon / overdue / escalation, privately to the court or to the group."""
        case = await self._case(message)
        if not alerts.still_relevant(message.payload["stage"], case.status):
            raise Skip("the matter moved on before the alert went out")
        lang = await self._lang(message.chat_id)
        p = message.payload
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang,
            "deadline_alert",
            case=case,
            level=p["level"],
            stage=p["stage"],
            due=p["due"],
            late=p["late"],
            show_title=self._show_titles(message.chat_id),
        )
        if message.chat_id < 0:
            return Rendered(
                html,
                keyboard(
                    [
                        [
                            (
                                self.runtime.texts.t(lang, "Open in private chat"),
                                f"url:{self.link(f'{CASE_PREFIX}{case.id}')}",
                            )
                        ]
                    ]
                ),
            )
        buttons = answer_buttons(self.runtime.texts, lang, case)
        return Rendered(html, keyboard([buttons]) if buttons else None)

    async def digest(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        start = datetime.fromisoformat(message.payload["start"])
        end = datetime.fromisoformat(message.payload["end"])
        lang = await self._lang(message.chat_id)
        data = await self.runtime.svc.digest(start, end)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang, "digest", digest=data, show_title=self._show_titles(message.chat_id)
        )
        return Rendered(html)

    async def calendar_gap(self, message: OutboxMessage, uncertain: bool) -> Rendered:
        lang = await self._lang(message.chat_id)
        html = self._note(lang, uncertain) + self.runtime.texts.render(
            lang, "calendar_gap", **message.payload
        )
        return Rendered(html)

    def all(self) -> dict[str, Renderer]:
        return {
            "case_new": self.case_new,
            "case_group": self.case_group,
            "case_answered": self.case_answered,
            "delivery_failed": self.delivery_failed,
            "case_unstaffed": self.case_unstaffed,
            "deadline": self.deadline,
            "digest": self.digest,
            "calendar_gap": self.calendar_gap,
        }
