"""Joint meetings (府院联席会议) outside the form: /meetings lists the coming meetings (with
reschedule and cancel buttons for the office), cancelling asks to confirm, and the answer
buttons on the group post and on reminders record each organisation's answer. Every press is
authorised against the database: the buttons carry only a meeting and an answer. Scheduling
and rescheduling are a form on the engine (``handlers.meeting_form``).
"""

from __future__ import annotations

import logging

from telegram import Chat, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
)

from bot.domain import rules
from bot.domain.errors import DomainError, InvalidInput, NotAllowed, NotFound
from bot.domain.models import Viewer
from bot.i18n import DEFAULT_LANG, N_
from handlers.common import (
    BotContext,
    Button,
    answer_stale,
    deliver_now,
    drop_keyboard,
    edit_or_send,
    keyboard,
    private_only,
    reply,
    require_member,
    viewer_of,
)
from handlers.meeting_notices import post_html, rsvp_markup

logger = logging.getLogger(__name__)


LIST_LIMIT = 10
RSVP_CODES = {"a": "attend", "d": "deputy", "x": "absent"}
ANSWER_LABELS = {
    "attend": N_("attend"),
    "deputy": N_("send a deputy"),
    "absent": N_("cannot attend"),
}


def _meeting_id(data: str) -> int | None:
    tail = data.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() and len(tail) < 12 else None


async def _alert(update: Update, context: BotContext, viewer: Viewer, msgid: str) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(context.texts.t(viewer.lang, msgid), show_alert=True)


_REFUSALS = {
    "admin_only": N_("Only the office can do this."),
    "not_invited": N_("Only members of the invited organisations can answer."),
    "meeting_unknown": N_("This meeting no longer exists."),
    "meeting_cancelled": N_("This meeting was cancelled."),
    "meeting_started": N_("This meeting has already started."),
}


async def _refuse(update: Update, context: BotContext, viewer: Viewer, exc: DomainError) -> None:
    await _alert(
        update, context, viewer, _REFUSALS.get(exc.code, N_("This button is no longer active."))
    )


# ---------------------------------------------------------------------------- outside the flow


async def meetings_command(update: Update, context: BotContext) -> None:
    """/meetings — the coming meetings; office members get reschedule and cancel buttons."""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    if not await require_member(update, context, viewer):
        return
    views = await context.svc.meetings.upcoming(LIST_LIMIT)
    office = rules.is_admin(viewer.member)
    rows: list[list[Button]] = []
    if office:
        for n, view in enumerate(views, start=1):
            rows.append(
                [
                    (context.texts.t(viewer.lang, "🕑 Reschedule %(n)s", n=n), f"mt:rs:{view.id}"),
                    (context.texts.t(viewer.lang, "✖ Cancel %(n)s", n=n), f"mt:cx:{view.id}"),
                ]
            )
    html = context.texts.render(viewer.lang, "meeting_list", views=views, office=office)
    await reply(update, context, html, keyboard(rows) if rows else None)


async def cancel_meeting_pressed(update: Update, context: BotContext) -> None:
    """✖ Cancel under /meetings: ask to confirm, since everyone told will be notified."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    meeting_id = _meeting_id(query.data)
    if meeting_id is None:
        await answer_stale(update, context, viewer)
        return
    if not rules.is_admin(viewer.member):
        await _refuse(update, context, viewer, NotAllowed("admin_only"))
        return
    try:
        view = await context.svc.meetings.get(meeting_id)
    except NotFound as exc:
        await _refuse(update, context, viewer, exc)
        return
    if view.cancelled:
        await _refuse(update, context, viewer, InvalidInput("meeting_cancelled"))
        return
    await query.answer()
    texts = context.texts
    rows = [
        [
            (texts.t(viewer.lang, "✖ Yes, cancel the meeting"), f"mt:cxok:{view.id}"),
            (texts.t(viewer.lang, "↩ Keep it"), "mt:cxno"),
        ]
    ]
    html = texts.render(viewer.lang, "meeting_cancel_confirm", view=view, done=False)
    await reply(update, context, html, keyboard(rows))


async def cancel_meeting_confirmed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    meeting_id = _meeting_id(query.data)
    if meeting_id is None:
        await answer_stale(update, context, viewer)
        return
    try:
        change = await context.svc.meetings.cancel(viewer, meeting_id)
    except DomainError as exc:
        await _refuse(update, context, viewer, exc)
        await drop_keyboard(query)
        return
    if not change.changed:
        await _refuse(update, context, viewer, InvalidInput("meeting_cancelled"))
        await drop_keyboard(query)
        return
    await query.answer(context.texts.t(viewer.lang, "Meeting cancelled."))
    html = context.texts.render(viewer.lang, "meeting_cancel_confirm", view=change.view, done=True)
    await edit_or_send(query, context, html)
    await deliver_now(context)


async def keep_meeting(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    await query.answer(context.texts.t(viewer.lang, "The meeting stays as it is."))
    await drop_keyboard(query)


async def rsvp_pressed(update: Update, context: BotContext) -> None:
    """An answer button on the group post (or a reminder): recorded for the presser's
    organisation, checked against the database; the post then shows every answer."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    parts = query.data.split(":")
    if len(parts) != 4 or not parts[2].isdigit() or parts[3] not in RSVP_CODES:
        await answer_stale(update, context, viewer)
        return
    answer = RSVP_CODES[parts[3]]
    try:
        change = await context.svc.meetings.rsvp(viewer, int(parts[2]), answer)
    except DomainError as exc:
        await _refuse(update, context, viewer, exc)
        return
    # The membership the domain authorised: the cached one may predate a change.
    viewer = await viewer_of(update, context)
    texts = context.texts
    org = viewer.member.org_code if viewer.member is not None else ""
    params = {
        "org": texts.committee.addressee_name(org, viewer.lang),
        "answer": texts.t(viewer.lang, ANSWER_LABELS[answer]),
    }
    if not change.changed:
        await query.answer(
            texts.t(viewer.lang, "Already recorded: %(org)s, %(answer)s.", **params),
            show_alert=True,
        )
        return
    await query.answer(texts.t(viewer.lang, "Recorded: %(org)s, %(answer)s.", **params))
    message = query.message
    if not isinstance(message, Message):
        return
    if message.chat.type == Chat.PRIVATE:
        # A private reminder stays a reminder: the answer above is all the presser needs.
        return
    lang = DEFAULT_LANG
    try:
        await message.edit_text(
            post_html(texts, lang, change.view),
            parse_mode="HTML",
            reply_markup=rsvp_markup(texts, lang, change.view),
            disable_web_page_preview=True,
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            logger.info("could not update the meeting post: %s", exc.message)
    except TelegramError as exc:
        logger.info("could not update the meeting post: %s", exc)


async def stale_pressed(update: Update, context: BotContext) -> None:
    """A meeting-flow button pressed outside its step: after scheduling, a cancel, a restart."""
    query = update.callback_query
    assert query is not None
    if query.data == "mt:noop":
        await query.answer()
        return
    viewer = await viewer_of(update, context)
    await answer_stale(update, context, viewer)
    await drop_keyboard(query)


def build_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    """The single-update handlers: /meetings, the answer buttons, cancelling a meeting, and
    the catcher for this flow's buttons pressed out of turn."""
    return [
        CommandHandler("meetings", meetings_command),
        CallbackQueryHandler(rsvp_pressed, pattern=r"^mt:rsvp:"),
        CallbackQueryHandler(cancel_meeting_pressed, pattern=r"^mt:cx:"),
        CallbackQueryHandler(cancel_meeting_confirmed, pattern=r"^mt:cxok:"),
        CallbackQueryHandler(keep_meeting, pattern=r"^mt:cxno$"),
        CallbackQueryHandler(stale_pressed, pattern=r"^mt:"),
    ]
