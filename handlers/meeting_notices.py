"""How joint-meeting messages look: the group post with its answer buttons, changes,
cancellations and reminders, and the iCalendar file that goes with them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from icalendar import Calendar
from icalendar import Event as CalendarEvent
from telegram import InlineKeyboardMarkup

from bot.domain.errors import DomainError
from bot.domain.meetings import MeetingView
from bot.services.delivery import OutboxMessage
from handlers.common import keyboard
from handlers.courier import Rendered, Renderer, Skip
from handlers.notifications import Renderers
from handlers.texts import Texts

# A meeting is scheduled by its start only; phone calendars get an event of this length.
ASSUMED_LENGTH = timedelta(hours=2)
_URL_RE = re.compile(r"https?://\S+")


def rsvp_markup(texts: Texts, lang: str, view: MeetingView) -> InlineKeyboardMarkup:
    """The three answers an invited organisation can give; the press says which one."""
    return keyboard(
        [
            [
                (texts.t(lang, "✅ Attend"), f"mt:rsvp:{view.id}:a"),
                (texts.t(lang, "👤 Send a deputy"), f"mt:rsvp:{view.id}:d"),
                (texts.t(lang, "✖ Cannot attend"), f"mt:rsvp:{view.id}:x"),
            ]
        ]
    )


def post_html(texts: Texts, lang: str, view: MeetingView) -> str:
    return texts.render(lang, "meeting_post", view=view)


def ics_file(
    texts: Texts, lang: str, view: MeetingView, *, cancel: bool = False
) -> tuple[str, bytes]:
    """An iCalendar file for phone calendars: the UID stays the same for a meeting and
    SEQUENCE is its version, so a later file updates (or, with METHOD:CANCEL, removes) the
    event added from an earlier one."""
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
    lines = [f"{i}. {item.text}" for i, item in enumerate(view.agenda, start=1)]
    agenda = "\n".join(lines) or texts.t(lang, "No agenda items.")
    event.add("description", texts.t(lang, "Agenda:\n%(items)s", items=agenda))
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    cal.add_component(event)
    cal.add_missing_timezones()
    return f"meeting-{view.id}.ics", cal.to_ical()


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
        html = r._note(lang, uncertain) + post_html(texts, lang, view)
        return Rendered(html, rsvp_markup(texts, lang, view), ics_file(texts, lang, view))

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
        return Rendered(html, rsvp_markup(texts, lang, view), ics_file(texts, lang, view))

    async def cancelled(message: OutboxMessage, uncertain: bool) -> Rendered:
        view = await fetch(message, current=False)
        lang = await r._lang(message.chat_id)
        texts = r.runtime.texts
        html = r._note(lang, uncertain) + texts.render(lang, "meeting_cancelled", view=view)
        return Rendered(html, None, ics_file(texts, lang, view, cancel=True))

    async def reminder(message: OutboxMessage, uncertain: bool) -> Rendered:
        view = await fetch(message)
        if closed(view):
            raise Skip("the meeting was cancelled or has started")
        org = message.payload.get("org")
        if org and view.answer_of(org) is not None:
            raise Skip("the organisation answered before the reminder went out")
        lang = await r._lang(message.chat_id)
        texts = r.runtime.texts
        html = r._note(lang, uncertain) + texts.render(
            lang,
            "meeting_reminder",
            view=view,
            org=org or "",
            late=bool(message.payload.get("late")),
            due=datetime.fromisoformat(message.payload["due"]),
        )
        return Rendered(html, rsvp_markup(texts, lang, view))

    return {
        "meeting_posted": posted,
        "meeting_changed": changed,
        "meeting_cancelled": cancelled,
        "meeting_reminder": reminder,
    }
