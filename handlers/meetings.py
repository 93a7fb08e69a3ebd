"""Joint meetings (府院联席会议) outside the form: /meetings lists the coming meetings (with
reschedule and cancel buttons for the office), cancelling asks to confirm, and the answer
buttons on the group post and on reminders record each organisation's answer. Every press is
authorised against the database: the buttons carry only a meeting and an answer, read through
``handlers.buttons``. Scheduling and rescheduling are a form on the engine
(``handlers.meeting_form``).

Which message a press may change: the presser's own private message, and — through
``PostRefresher``, in the background — the group post the outbox recorded for the meeting.
Never a group message just because it was pressed: anyone in the group can press anything
with forged data.
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Chat, Message, Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
)

from bot.domain import rules
from bot.domain.errors import DomainError, InvalidInput, NotAllowed, NotFound
from bot.domain.models import Viewer
from bot.i18n import N_
from handlers import buttons
from handlers.common import (
    BotContext,
    Button,
    answer_stale,
    deliver_now,
    drop_keyboard,
    edit_or_send,
    keyboard,
    private_only,
    refuse_outside_private,
    reply,
    require_member,
    viewer_of,
)
from handlers.meeting_notices import post_refresher

logger = logging.getLogger(__name__)


LIST_LIMIT = 10
RSVP_CODES = {"a": "attend", "d": "deputy", "x": "absent"}
ANSWER_LABELS = {
    "attend": N_("attend"),
    "deputy": N_("send a deputy"),
    "absent": N_("cannot attend"),
}


def _own_private(query: CallbackQuery) -> Message | None:
    """The pressed message when it is in the presser's own private chat: the only pressed
    message a meeting button may change."""
    message = query.message
    if (
        isinstance(message, Message)
        and message.chat.type == Chat.PRIVATE
        and message.chat.id == query.from_user.id
    ):
        return message
    return None


async def _pressed(
    update: Update, context: BotContext, *ops: str
) -> tuple[Viewer, int | None, str] | None:
    """The presser and the (meeting id, answer) of a meeting button of one of ``ops``; a
    malformed or forged button is answered as no longer valid and gives None."""
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    parsed = buttons.parse_meeting(query.data)
    if parsed is None or parsed[0] not in ops:
        await answer_stale(update, context, viewer)
        return None
    return viewer, parsed[1], parsed[2]


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
                    (
                        context.texts.t(viewer.lang, "🕑 Reschedule %(n)s", n=n),
                        buttons.meeting("rs", view.id),
                    ),
                    (
                        context.texts.t(viewer.lang, "✖ Cancel %(n)s", n=n),
                        buttons.meeting("cx", view.id),
                    ),
                ]
            )
    html = context.texts.render(viewer.lang, "meeting_list", views=views, office=office)
    await reply(update, context, html, keyboard(rows) if rows else None)


async def cancel_meeting_pressed(update: Update, context: BotContext) -> None:
    """✖ Cancel under /meetings: ask to confirm, since everyone told will be notified."""
    pressed = await _pressed(update, context, "cx")
    if pressed is None:
        return
    viewer, meeting_id, _ = pressed
    assert meeting_id is not None
    if await refuse_outside_private(update, context, viewer):
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
    query = update.callback_query
    assert query is not None
    await query.answer()
    texts = context.texts
    rows = [
        [
            (texts.t(viewer.lang, "✖ Yes, cancel the meeting"), buttons.meeting("cxok", view.id)),
            (texts.t(viewer.lang, "↩ Keep it"), buttons.meeting("cxno")),
        ]
    ]
    html = texts.render(viewer.lang, "meeting_cancel_confirm", view=view, done=False)
    await reply(update, context, html, keyboard(rows))


async def cancel_meeting_confirmed(update: Update, context: BotContext) -> None:
    pressed = await _pressed(update, context, "cxok")
    if pressed is None:
        return
    viewer, meeting_id, _ = pressed
    assert meeting_id is not None
    if await refuse_outside_private(update, context, viewer):
        return
    query = update.callback_query
    assert query is not None
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
    pressed = await _pressed(update, context, "cxno")
    if pressed is None:
        return
    viewer = pressed[0]
    if await refuse_outside_private(update, context, viewer):
        return
    query = update.callback_query
    assert query is not None
    await query.answer(context.texts.t(viewer.lang, "The meeting stays as it is."))
    await drop_keyboard(query)


async def rsvp_pressed(update: Update, context: BotContext) -> None:
    """An answer button — on the group post, a group reminder or a private reminder:
    recorded for the presser's organisation (checked against the database) and answered at
    once; the group's post is brought up to date in the background, the pressed message is
    left as it is."""
    pressed = await _pressed(update, context, "rsvp")
    if pressed is None:
        return
    viewer, meeting_id, code = pressed
    assert meeting_id is not None
    answer = RSVP_CODES[code]
    try:
        change = await context.svc.meetings.rsvp(viewer, meeting_id, answer)
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
    query = update.callback_query
    assert query is not None
    if not change.changed:
        await query.answer(
            texts.t(viewer.lang, "Already recorded: %(org)s, %(answer)s.", **params),
            show_alert=True,
        )
        return
    await query.answer(texts.t(viewer.lang, "Recorded: %(org)s, %(answer)s.", **params))
    post_refresher(context.application).request(meeting_id)


async def stale_pressed(update: Update, context: BotContext) -> None:
    """A meeting button no handler above took: a flow's button pressed out of turn (after
    scheduling, a cancel, a restart), or data that is not the bot's. Answered; only the
    presser's own private message loses its keyboard."""
    query = update.callback_query
    assert query is not None
    parsed = buttons.parse_meeting(query.data)
    if parsed is not None and parsed[0] == "noop":
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
