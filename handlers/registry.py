"""The Telegram adapter's one ordered registration point: handlers, command menus, the error
handler, the courier with its renderers, and what happens when the bot starts and stops."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.i18n import N_
from handlers import (
    actions,
    admin,
    cases,
    export,
    find,
    form_steps,
    forms,
    gate,
    holiday_calendar,
    meeting_form,
    meeting_notices,
    meetings,
    menus,
    once,
    raise_case,
    start,
    stats,
    status,
)
from handlers.common import AppType, BotContext
from handlers.courier import Courier
from handlers.jobs import schedule_jobs
from handlers.notifications import Renderers
from handlers.runtime import Runtime

logger = logging.getLogger(__name__)


def register_handlers(app: AppType) -> None:
    """Order matters: conversations first, so a step's answer is never taken by a command
    handler; then single-update handlers; the private-chat catch-all last."""
    # Chats the bot does not serve stop first, before they cost a database write.
    app.add_handler(gate.build_handler(), group=-2)
    app.add_handler(once.build_handler(), group=-1)
    # Every form is one conversation: while one is open, /new, /meeting and the buttons that
    # would start another say so instead of starting a second one underneath it.
    app.add_handler(form_conversation())
    # /calendar: the office pastes the State Council's notice (a conversation of its own).
    app.add_handler(holiday_calendar.build_conversation())
    # A form's button pressed when no form is open (after a submit, a cancel, a restart).
    app.add_handler(CallbackQueryHandler(form_steps.pressed, pattern=r"^f:"))
    # Buttons of conversations carried over from release 0.1: show the current question.
    app.add_handler(CallbackQueryHandler(form_steps.legacy_pressed, pattern=LEGACY_FORM_BUTTONS))
    app.add_handlers(actions.entry_points())
    app.add_handlers(meetings.build_handlers())
    app.add_handlers(start.build_handlers())
    app.add_handlers(cases.build_handlers())
    app.add_handlers(find.build_handlers())
    app.add_handlers(stats.build_handlers())
    app.add_handlers(export.build_handlers())
    app.add_handlers(admin.build_handlers())
    app.add_handlers(status.build_handlers())
    app.add_handlers(holiday_calendar.build_handlers())
    app.add_handler(start.build_fallback())
    app.add_handler(start.build_offer(), group=1)
    app.add_error_handler(on_error)


LEGACY_FORM_BUTTONS = (
    r"^(r:|mt:(date|cal|quick|time|redate|org|all|orgs|ag|agx|agdone|go|edit|ed|back|cancel)"
    r"(:|$))"
)


def form_conversation() -> ConversationHandler[BotContext]:
    """Every form (raising a matter, an action's inputs) in one conversation per user: the
    draft says which form it is, every state takes the engine's answers."""
    text = filters.TEXT & ~filters.COMMAND
    files = filters.Document.ALL | filters.PHOTO
    steps: list[BaseHandler[Update, BotContext, object]] = [
        CallbackQueryHandler(form_steps.pressed, pattern=r"^f:"),
        MessageHandler(text, form_steps.text_received),
        MessageHandler(files, form_steps.file_received),
    ]
    anything_else = filters.ChatType.PRIVATE & ~filters.COMMAND & ~filters.UpdateType.EDITED
    return ConversationHandler(
        entry_points=[
            *raise_case.entry_points(),
            *meeting_form.entry_points(),
            *actions.entry_points(),
        ],
        states={state: steps for state in forms.STATES},
        fallbacks=[
            CommandHandler("cancel", forms.cancel),
            *raise_case.fallbacks(),
            *meeting_form.fallbacks(),
            *actions.fallbacks(),
            MessageHandler(anything_else, form_steps.anything_else),
        ],
        name=forms.FLOW,
        persistent=True,
        allow_reentry=False,
    )


CALENDAR_CHECK_DELAY = 0.5  # seconds after start


async def post_init(app: AppType) -> None:
    runtime: Runtime = app.bot_data["runtime"]
    await runtime.open()
    runtime.courier = build_courier(app)
    recovered = await runtime.courier.recover()
    if recovered:
        logger.warning("%s outbox message(s) were being sent when the bot stopped", recovered)
    # Resolving the holiday data costs a tenth of a second: not on the way to the first
    # answer (the first tick, a second after start, needs it anyway).
    asyncio.get_running_loop().call_later(CALENDAR_CHECK_DELAY, warn_about_calendar, runtime)
    if app.job_queue is not None and runtime.schedule_jobs:
        schedule_jobs(app)
    # Only the menus that changed since they were last set; not on the way to the first
    # answer.
    runtime.spawn(menus.sync(app.bot, runtime))
    logger.info("fuyuan-bot ready as @%s", app.bot.username)


def warn_about_calendar(runtime: Runtime) -> None:
    """Loudly, at start-up: deadlines in the next 60 days resting on estimated holidays."""
    svc = runtime.svc
    for gap in svc.calendar.coverage_warnings(svc.today()):
        logger.warning(
            "WORKING-DAY CALENDAR: %s to %s rests on %s data (year %s). Once the State "
            "Council's notice for %s is out, the office sends /calendar and pastes it (or add "
            "the year to [calendar.%s] in the committee file).",
            gap.first,
            gap.last,
            gap.source,
            gap.year,
            gap.year,
            gap.year,
        )


async def post_shutdown(app: AppType) -> None:
    runtime: Runtime = app.bot_data["runtime"]
    await runtime.close()


INTERNAL_ERROR = N_("Something went wrong. Please check with /my or /case before trying again.")


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure; tell the user nothing was changed (every operation is atomic)."""
    logger.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.type != "private":
        return
    lang = "zh_CN"
    user = update.effective_user
    try:
        if user is not None:
            lang = (await context.svc.viewer(user.id, user.full_name, user.username)).lang
    except Exception:
        logger.debug("no language for the error message")
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(
                context.texts.t(lang, INTERNAL_ERROR),
                show_alert=True,
            )
        else:
            await context.bot.send_message(
                update.effective_chat.id,
                context.texts.render(lang, "error", code="internal"),
                parse_mode="HTML",
            )
    except TelegramError:
        logger.debug("could not report the error to the user")


def build_courier(app: AppType) -> Courier:
    """The courier with a renderer for every kind of outbox row; each row's recipient is
    checked as it is when sent, and the office hears of what could not be delivered."""
    runtime: Runtime = app.bot_data["runtime"]
    renderers = Renderers(app)
    svc = runtime.svc
    courier = Courier(
        runtime.outbox,
        {**renderers.all(), **meeting_notices.renderers(renderers)},
        svc.report_delivery_failure,
        svc.undeliverable,
    )
    courier.on_migration = svc.chat_migrated
    return courier
