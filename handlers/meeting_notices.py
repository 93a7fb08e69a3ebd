"""How joint-meeting messages look: the group post with its answer buttons, changes,
cancellations and reminders, and the iCalendar file that goes with them; and how the group's
post is brought up to date after an answer, in the background.

What an agenda shows each audience is ``bot.domain.privacy``'s to say: under the committee
file's ``group_detail = "minimal"`` the group sees a matter on the agenda by its number and
kind only — in the post, its .ics file and the reminders alike.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.ext import Application

from bot.domain import privacy
from bot.domain.errors import DomainError
from bot.domain.meetings import MeetingView
from bot.domain.privacy import AgendaLine, Audience
from bot.services.delivery import OutboxMessage
from handlers import buttons
from handlers.common import keyboard
from handlers.courier import Rendered, Renderer, Skip
from handlers.notifications import Renderers, audience_of
from handlers.runtime import Runtime
from handlers.sending import Markup, post_text
from handlers.texts import TELEGRAM_TEXT_LIMIT, Texts, split_html

logger = logging.getLogger(__name__)

# A meeting is scheduled by its start only; phone calendars get an event of this length.
ASSUMED_LENGTH = timedelta(hours=2)
_URL_RE = re.compile(r"https?://\S+")
# Room kept for the "may be a repeat" note a resent message starts with.
_NOTE_ROOM = 200


def rsvp_markup(texts: Texts, lang: str, view: MeetingView) -> Markup:
    """The three answers an invited organisation can give; the press says which one."""
    return keyboard(
        [
            [
                (texts.t(lang, "✅ Attend"), buttons.meeting("rsvp", view.id, "a")),
                (texts.t(lang, "👤 Send a deputy"), buttons.meeting("rsvp", view.id, "d")),
                (texts.t(lang, "✖ Cannot attend"), buttons.meeting("rsvp", view.id, "x")),
            ]
        ]
    )


def agenda_of(texts: Texts, view: MeetingView, audience: Audience) -> tuple[AgendaLine, ...]:
    return privacy.agenda(view.agenda, audience, texts.committee.group_detail, texts.kinds)


def agenda_text(texts: Texts, lang: str, line: AgendaLine) -> str:
    """An agenda line as plain text (the .ics file): its text, or a matter's number and kind."""
    if not line.hidden:
        return line.text
    kind = texts.kinds.get(line.kind)
    return f"{line.number} · {texts.t(lang, kind.label)}" if kind else line.number


def _fitting(
    render: Callable[[Sequence[AgendaLine], int], str], lines: Sequence[AgendaLine]
) -> str:
    """A message with as much of the agenda as fits one Telegram message: the buttons sit
    under it, and the one message the outbox records is the one a refresh edits."""
    shown = len(lines)
    html = render(lines, 0)
    while shown and len(split_html(html, TELEGRAM_TEXT_LIMIT - _NOTE_ROOM)) > 1:
        shown -= 1
        html = render(lines[:shown], len(lines) - shown)
    return html


def post_html(texts: Texts, lang: str, view: MeetingView, audience: Audience) -> str:
    return _fitting(
        lambda lines, more: texts.render(lang, "meeting_post", view=view, agenda=lines, more=more),
        agenda_of(texts, view, audience),
    )


def ics_file(
    texts: Texts, lang: str, view: MeetingView, audience: Audience, *, cancel: bool = False
) -> tuple[str, bytes]:
    """An iCalendar file for phone calendars: the UID stays the same for a meeting and
    SEQUENCE is its version, so a later file updates (or, with METHOD:CANCEL, removes) the
    event added from an earlier one. Its agenda shows what the chat it goes to may see."""
    # Imported here: icalendar is a noticeable part of start-up, and most runs send no .ics.
    from icalendar import Calendar
    from icalendar import Event as CalendarEvent

    cal = Calendar()
    cal.add("prodid", "-//fuyuan-bot//joint meetings//ZH")
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancel else "PUBLISH")
    event = CalendarEvent()
    event.add("uid", f"meeting-{view.id}@fuyuan-bot")
    event.add("sequence", view.version)
    event.add("dtstamp", view.meeting.updated_at)
    event.add("dtstart", view.starts_at.astimezone(texts.tz))
    event.add("duration", ASSUMED_LENGTH)
    event.add("summary", view.title)
    event.add("location", view.place)
    link = _URL_RE.search(view.place)
    if link:
        event.add("url", link.group(0))
    lines = [
        f"{i}. {agenda_text(texts, lang, line)}"
        for i, line in enumerate(agenda_of(texts, view, audience), start=1)
    ]
    agenda = "\n".join(lines) or texts.t(lang, "No agenda items.")
    event.add("description", texts.t(lang, "Agenda:\n%(items)s", items=agenda))
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    cal.add_component(event)
    for tzid in sorted(cal.get_missing_tzids()):
        timezone = _vtimezone(tzid)
        if timezone is not None:
            cal.subcomponents.insert(0, timezone)
    return f"meeting-{view.id}.ics", cal.to_ical()


@functools.lru_cache(maxsize=8)
def _vtimezone(tzid: str) -> Any:
    """A time zone's VTIMEZONE component, built once: icalendar derives it from the zone's
    rules (tens of milliseconds each time), and it never changes while the bot runs. Shared
    by every file (serialising it does not change it); None for a zone icalendar does not
    know, which is then left out, as ``Calendar.add_missing_timezones`` does."""
    from icalendar import Timezone

    try:
        return Timezone.from_tzid(tzid)
    except ValueError:
        return None


def renderers(r: Renderers) -> dict[str, Renderer]:
    """How the meeting messages the domain queued look when they are sent."""

    async def fetch(message: OutboxMessage, *, current: bool = True) -> MeetingView:
        try:
            view = await r.runtime.svc.meetings.get(int(message.payload["meeting_id"]))
        except DomainError as exc:
            raise Skip(f"meeting {message.payload.get('meeting_id')} is gone") from exc
        if current and view.version != message.payload.get("version"):
            raise Skip("superseded by a later change of the meeting")
        return view

    def closed(view: MeetingView) -> bool:
        return view.closed(r.runtime.clock.now()) is not None

    async def posted(message: OutboxMessage, uncertain: bool) -> Rendered:
        view = await fetch(message)
        if closed(view):
            raise Skip("the meeting was cancelled or has started")
        lang = await r._lang(message.chat_id)
        texts = r.runtime.texts
        audience = audience_of(message.chat_id)
        html = r._note(lang, uncertain) + post_html(texts, lang, view, audience)
        return Rendered(html, rsvp_markup(texts, lang, view), ics_file(texts, lang, view, audience))

    async def changed(message: OutboxMessage, uncertain: bool) -> Rendered:
        view = await fetch(message)
        if closed(view):
            raise Skip("the meeting was cancelled or has started")
        lang = await r._lang(message.chat_id)
        texts = r.runtime.texts
        previous = datetime.fromisoformat(message.payload["previous"])
        html = r._note(lang, uncertain) + texts.render(
            lang, "meeting_changed", view=view, previous=previous
        )
        audience = audience_of(message.chat_id)
        return Rendered(html, rsvp_markup(texts, lang, view), ics_file(texts, lang, view, audience))

    async def cancelled(message: OutboxMessage, uncertain: bool) -> Rendered:
        view = await fetch(message, current=False)
        lang = await r._lang(message.chat_id)
        texts = r.runtime.texts
        html = r._note(lang, uncertain) + texts.render(lang, "meeting_cancelled", view=view)
        audience = audience_of(message.chat_id)
        return Rendered(html, None, ics_file(texts, lang, view, audience, cancel=True))

    async def reminder(message: OutboxMessage, uncertain: bool) -> Rendered:
        view = await fetch(message)
        if closed(view):
            raise Skip("the meeting was cancelled or has started")
        org = message.payload.get("org")
        if org and view.answer_of(org) is not None:
            raise Skip("the organisation answered before the reminder went out")
        lang = await r._lang(message.chat_id)
        texts = r.runtime.texts
        html = r._note(lang, uncertain) + _fitting(
            lambda lines, more: texts.render(
                lang,
                "meeting_reminder",
                view=view,
                agenda=lines,
                more=more,
                org=org or "",
                late=bool(message.payload.get("late")),
                due=datetime.fromisoformat(message.payload["due"]),
            ),
            agenda_of(texts, view, audience_of(message.chat_id)),
        )
        return Rendered(html, rsvp_markup(texts, lang, view))

    return {
        "meeting_posted": posted,
        "meeting_changed": changed,
        "meeting_cancelled": cancelled,
        "meeting_reminder": reminder,
    }


# ---------------------------------------------------------------------------- the group's post


class PostRefresher:
    """Brings the committee group's meeting post up to date after answers, in the background.

    The update that recorded an answer never waits on the group: the group's flood limit
    (20 messages a minute) would hold every update behind it. Refreshes are coalesced per
    meeting — while one runs, any number of further answers make one more, which shows the
    state as it is then — and only the group message the outbox recorded for the meeting's
    current version is edited, never whatever message was pressed. Failures are logged;
    nothing here raises.
    """

    # A throttled edit is tried again this many times, after the wait Telegram asks for.
    THROTTLED_TRIES = 2

    def __init__(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        self.app = app
        self._running: set[int] = set()
        self._again: set[int] = set()

    @property
    def runtime(self) -> Runtime:
        return self.app.bot_data["runtime"]  # type: ignore[no-any-return]

    def request(self, meeting_id: int) -> None:
        """Refresh the meeting's group post soon; returns at once."""
        if meeting_id in self._running:
            self._again.add(meeting_id)
            return
        self._running.add(meeting_id)
        self.runtime.spawn(self._run(meeting_id))

    async def _run(self, meeting_id: int) -> None:
        try:
            while True:
                self._again.discard(meeting_id)
                try:
                    await self._refresh(meeting_id)
                except Exception:
                    logger.exception("could not refresh the group post of meeting %s", meeting_id)
                if meeting_id not in self._again:
                    return
        finally:
            self._running.discard(meeting_id)
            self._again.discard(meeting_id)

    async def _refresh(self, meeting_id: int) -> None:
        found = await self.runtime.svc.meetings.group_post(meeting_id)
        if found is None:
            return
        row, message_id = found
        render = renderers(Renderers(self.app)).get(row.kind)
        if render is None:
            return
        try:
            rendered = await render(row, False)
        except Skip:
            return  # cancelled, started or superseded: the post stays as it was
        # Never longer than Telegram takes: the post is built to fit, this is the backstop.
        text = split_html(rendered.html)[0]
        for attempt in range(self.THROTTLED_TRIES + 1):
            try:
                await post_text(
                    self.app.bot, row.chat_id, text, rendered.markup, message_id=message_id
                )
                return
            except RetryAfter as exc:
                if attempt == self.THROTTLED_TRIES:
                    raise
                wait = exc.retry_after
                await asyncio.sleep(
                    wait if isinstance(wait, (int, float)) else wait.total_seconds()
                )
            except BadRequest as exc:
                if "not modified" not in exc.message.lower():
                    logger.info("could not update the post of meeting %s: %s", meeting_id, exc)
                return
            except TelegramError as exc:
                logger.info("could not update the post of meeting %s: %s", meeting_id, exc)
                return


def post_refresher(app: Application[Any, Any, Any, Any, Any, Any]) -> PostRefresher:
    """The running bot's one refresher (its coalescing state lives as long as the bot)."""
    found = app.bot_data.get("meeting_posts")
    if not isinstance(found, PostRefresher):
        found = app.bot_data["meeting_posts"] = PostRefresher(app)
    return found
