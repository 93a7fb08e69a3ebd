"""Courts answering: 受理 Acknowledge with one press, 退回 Return with a reason.

The buttons sit on private notifications to court staff. Each press is checked against the
database: who pressed (a member of an answering court?) and what the matter's status is now,
so repeated and stale presses just say what already happened.
"""

from __future__ import annotations

from telegram import CallbackQuery, Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.domain import rules
from bot.domain.kinds import KINDS
from bot.domain.models import Case, Draft, Status, Viewer
from bot.domain.rules import DomainError, InvalidInput, NotAllowed, NotFound
from bot.i18n import N_
from handlers.common import (
    BotContext,
    answer_stale,
    ask,
    deliver_now,
    drop_keyboard,
    edit_or_send,
    is_private,
    keyboard,
    refuse_outside_private,
    reply,
    viewer_of,
)

FLOW = "return"
AWAITING_RETURN_REASON = "AWAITING_RETURN_REASON"
END = ConversationHandler.END


# A name in a button-press answer: Telegram refuses answers over 200 characters, and a
# Telegram name may be 129 emoji long.
ANSWER_NAME_MAX = 32


def _case_id(data: str) -> int | None:
    """The id in ``v:<action>:<id>``; anything else (extra parts, signs, huge numbers) is None."""
    parts = data.split(":")
    return rules.parse_id(parts[2]) if len(parts) == 3 else None


def _already(context: BotContext, viewer: Viewer, case: Case) -> str:
    """ "Already acknowledged by X at 10:42" and the like."""
    when = context.texts.format_datetime(viewer.lang, case.acted_at)
    name = case.acted_by_name or "—"
    if len(name) > ANSWER_NAME_MAX:
        name = name[: ANSWER_NAME_MAX - 1] + "…"
    if case.status is Status.ACKNOWLEDGED:
        msgid = N_("Already acknowledged by %(name)s at %(when)s.")
    elif case.status is Status.RETURNED:
        msgid = N_("Already returned by %(name)s at %(when)s.")
    elif case.status is Status.RESOLVED:
        msgid = N_("Its outcome was already recorded.")
    else:  # still awaiting acknowledgement: an outcome button cannot be pressed yet
        msgid = N_("This button is no longer active.")
    return context.texts.t(viewer.lang, msgid, name=name, when=when)


async def _tell_already(
    query: CallbackQuery, context: BotContext, viewer: Viewer, case: Case
) -> None:
    """A press that came after the matter moved on: say what happened, drop the buttons."""
    await query.answer(_already(context, viewer, case), show_alert=True)
    await drop_keyboard(query)


async def _refusal(update: Update, context: BotContext, viewer: Viewer, exc: DomainError) -> None:
    query = update.callback_query
    assert query is not None
    if isinstance(exc, NotFound):
        text = context.texts.t(viewer.lang, "This matter no longer exists.")
    else:
        text = context.texts.t(viewer.lang, "Only staff of the addressed court can answer this.")
    await query.answer(text, show_alert=True)


async def _pressed(update: Update, context: BotContext) -> tuple[Viewer, int] | None:
    """Who pressed which matter's button; None (the press answered) when the button is not
    in a private chat or its data is no case id."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    if await refuse_outside_private(update, context, viewer):
        return None
    case_id = _case_id(query.data)
    if case_id is None:
        await answer_stale(update, context, viewer)
        return None
    return viewer, case_id


async def acknowledge(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    pressed = await _pressed(update, context)
    if pressed is None:
        return
    viewer, case_id = pressed
    try:
        outcome = await context.svc.acknowledge(viewer, case_id)
    except (NotAllowed, NotFound) as exc:
        await _refusal(update, context, viewer, exc)
        return
    case = outcome.case
    if not outcome.changed:
        await _tell_already(query, context, viewer, case)
        return
    await query.answer(context.texts.t(viewer.lang, "Acknowledged %(number)s.", number=case.number))
    await edit_or_send(
        query, context, context.texts.render(viewer.lang, "answered_court", case=case)
    )
    await deliver_now(context)


async def ask_reason(update: Update, context: BotContext) -> str | int:
    """The Return button: the court must say why, so ask for the reason."""
    query = update.callback_query
    assert query is not None
    pressed = await _pressed(update, context)
    if pressed is None:
        return END
    viewer, case_id = pressed
    try:
        case = await context.svc.check_answerer(viewer, case_id)
    except (NotAllowed, NotFound) as exc:
        await _refusal(update, context, viewer, exc)
        return END
    if case.status is not Status.SUBMITTED:
        await _tell_already(query, context, viewer, case)
        return END
    await query.answer()
    await context.svc.save_draft(
        Draft(viewer.user_id, FLOW, AWAITING_RETURN_REASON, {"case_id": case.id})
    )
    await ask(
        update,
        context,
        context.texts.render(viewer.lang, "return_reason", case=case),
        keyboard([[(context.texts.t(viewer.lang, "✖ Cancel"), "v:cancel")]]),
    )
    return AWAITING_RETURN_REASON


async def reason_received(update: Update, context: BotContext) -> str | int:
    message = update.effective_message
    assert message is not None and message.text is not None
    viewer = await viewer_of(update, context)
    draft = await context.svc.load_draft(viewer.user_id, FLOW)
    if draft is None:
        # The return was already completed (perhaps its confirmation never arrived).
        await reply(update, context, context.texts.render(viewer.lang, "error", code="return_done"))
        return END
    try:
        outcome = await context.svc.return_case(viewer, int(draft.data["case_id"]), message.text)
    except InvalidInput as exc:
        await reply(
            update, context, context.texts.render(viewer.lang, "error", code=exc.code, **exc.params)
        )
        return AWAITING_RETURN_REASON
    except (NotAllowed, NotFound) as exc:
        await context.svc.delete_draft(viewer.user_id, FLOW)
        await reply(update, context, context.texts.render(viewer.lang, "error", code=exc.code))
        return END
    await context.svc.delete_draft(viewer.user_id, FLOW)
    case = outcome.case
    if not outcome.changed:
        await reply(
            update,
            context,
            context.texts.render(viewer.lang, "plain", text=_already(context, viewer, case)),
        )
        return END
    await reply(update, context, context.texts.render(viewer.lang, "answered_court", case=case))
    await deliver_now(context)
    return END


async def cancel(update: Update, context: BotContext) -> int:
    viewer = await viewer_of(update, context)
    await context.svc.delete_draft(viewer.user_id, FLOW)
    query = update.callback_query
    if query is not None:
        await query.answer()
        await drop_keyboard(query)
    await reply(update, context, context.texts.render(viewer.lang, "return_cancelled"))
    return END


async def not_a_reason(update: Update, context: BotContext) -> str:
    viewer = await viewer_of(update, context)
    await reply(
        update,
        context,
        context.texts.render(viewer.lang, "error", code="wrong_input", expected="text"),
    )
    return AWAITING_RETURN_REASON


async def cancel_pressed_late(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    await answer_stale(update, context, viewer)
    if is_private(update):  # never strip a group message of its buttons
        await drop_keyboard(query)


async def choose_outcome(update: Update, context: BotContext) -> None:
    """ "Record outcome" on an acknowledged matter: the kind's outcomes as buttons."""
    query = update.callback_query
    assert query is not None
    pressed = await _pressed(update, context)
    if pressed is None:
        return
    viewer, case_id = pressed
    try:
        case = await context.svc.check_answerer(viewer, case_id)
    except (NotAllowed, NotFound) as exc:
        await _refusal(update, context, viewer, exc)
        return
    if case.status is not Status.ACKNOWLEDGED:
        await _tell_already(query, context, viewer, case)
        return
    await query.answer()
    kind = KINDS[case.kind]
    rows = [
        [(context.texts.t(viewer.lang, label), f"v:out:{case.id}:{code}")]
        for code, label in kind.outcomes
    ]
    await reply(
        update,
        context,
        context.texts.render(viewer.lang, "choose_outcome", case=case),
        keyboard(rows),
    )


async def outcome_chosen(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    if await refuse_outside_private(update, context, viewer):
        return
    parts = query.data.split(":")
    case_id = rules.parse_id(parts[2]) if len(parts) == 4 else None
    if case_id is None:
        await answer_stale(update, context, viewer)
        return
    try:
        outcome = await context.svc.resolve(viewer, case_id, parts[3])
    except (NotAllowed, NotFound) as exc:
        await _refusal(update, context, viewer, exc)
        return
    except InvalidInput:
        await answer_stale(update, context, viewer)
        return
    case = outcome.case
    if not outcome.changed:
        await _tell_already(query, context, viewer, case)
        return
    await query.answer(context.texts.t(viewer.lang, "Outcome recorded."))
    await edit_or_send(
        query, context, context.texts.render(viewer.lang, "answered_court", case=case)
    )
    await deliver_now(context)


def build_handler() -> ConversationHandler[BotContext]:
    return ConversationHandler(
        entry_points=[CallbackQueryHandler(ask_reason, pattern=r"^v:ret:")],
        states={
            AWAITING_RETURN_REASON: [
                MessageHandler(filters.TEXT & ~filters.COMMAND, reason_received),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CallbackQueryHandler(cancel, pattern=r"^v:cancel$"),
            MessageHandler(
                filters.ChatType.PRIVATE & ~filters.COMMAND & ~filters.UpdateType.EDITED,
                not_a_reason,
            ),
        ],
        name=FLOW,
        persistent=True,
        allow_reentry=True,
    )


def build_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [
        build_handler(),
        CallbackQueryHandler(acknowledge, pattern=r"^v:ack:"),
        CallbackQueryHandler(choose_outcome, pattern=r"^v:res:"),
        CallbackQueryHandler(outcome_chosen, pattern=r"^v:out:"),
        CallbackQueryHandler(cancel_pressed_late, pattern=r"^v:cancel$"),
    ]
