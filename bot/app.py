"""Building the Application: the one ordered place where handlers are registered.

Resources are opened in ``post_init`` and closed in ``post_shutdown``; nothing happens at
import time.
"""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeDefault,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest
from telegram.warnings import PTBUserWarning

from bot.clock import Clock, SystemClock
from bot.config import Committee, Settings
from bot.i18n import LANGS, N_, gettext_for
from bot.jobs.tick import schedule_jobs
from bot.persistence import DraftPersistence
from bot.runtime import Runtime
from handlers import admin, cases, meetings, once, raise_case, review, start
from handlers.common import AppType, BotContext
from handlers.notifications import build_courier

logger = logging.getLogger(__name__)

# (command, description msgid) per chat scope; descriptions are translated per language.
PRIVATE_COMMANDS: tuple[tuple[str, str], ...] = (
    ("new", N_("Raise a consultation or a dispute referral")),
    ("my", N_("My open matters")),
    ("case", N_("Show a matter by its number")),
    ("meetings", N_("Upcoming joint meetings")),
    ("cancel", N_("Cancel what you are doing")),
    ("lang", N_("Language / 语言")),
    ("whoami", N_("Who am I")),
    ("help", N_("Help")),
    ("invite", N_("Office: invite a member")),
    ("members", N_("Office: members")),
    ("digest", N_("Office: weekly digest now")),
    ("meeting", N_("Office: schedule a joint meeting")),
)
GROUP_COMMANDS: tuple[tuple[str, str], ...] = (
    ("bindgroup", N_("Office: make this the committee group")),
    ("help", N_("Help")),
)
# Telegram addresses command menus by two-letter language codes.
TELEGRAM_LANG = {"zh_CN": "zh", "en": "en"}


def register_handlers(app: AppType) -> None:
    """Order matters: conversations first, so a step's answer is never taken by a command
    handler; then single-update handlers; the private-chat catch-all last."""
    app.add_handler(once.build_handler(), group=-1)
    # The meeting conversation goes first: while it is open it answers /new itself ("finish
    # or /cancel first") instead of letting a second conversation start underneath it.
    app.add_handler(meetings.build_handler())
    app.add_handlers(raise_case.build_handlers())
    app.add_handlers(review.build_handlers())
    app.add_handlers(meetings.build_handlers())
    app.add_handlers(start.build_handlers())
    app.add_handlers(cases.build_handlers())
    app.add_handlers(admin.build_handlers())
    app.add_handler(start.build_fallback())
    app.add_error_handler(on_error)


async def set_command_menus(app: AppType) -> None:
    bot = app.bot
    for lang in LANGS:
        code = TELEGRAM_LANG[lang]
        private = [BotCommand(c, gettext_for(lang, d)) for c, d in PRIVATE_COMMANDS]
        group = [BotCommand(c, gettext_for(lang, d)) for c, d in GROUP_COMMANDS]
        await bot.set_my_commands(
            private, scope=BotCommandScopeAllPrivateChats(), language_code=code
        )
        await bot.set_my_commands(group, scope=BotCommandScopeAllGroupChats(), language_code=code)
    # Users whose Telegram language is neither get the default language's menus.
    default = [BotCommand(c, gettext_for("zh_CN", d)) for c, d in PRIVATE_COMMANDS]
    await bot.set_my_commands(default, scope=BotCommandScopeAllPrivateChats())
    await bot.set_my_commands(
        [BotCommand(c, gettext_for("zh_CN", d)) for c, d in GROUP_COMMANDS],
        scope=BotCommandScopeAllGroupChats(),
    )
    await bot.set_my_commands(default, scope=BotCommandScopeDefault())


async def post_init(app: AppType) -> None:
    runtime: Runtime = app.bot_data["runtime"]
    await runtime.open()
    runtime.courier = build_courier(app)
    recovered = await runtime.outbox.recover()
    if recovered:
        logger.warning("%s outbox message(s) were being sent when the bot stopped", recovered)
    warn_about_calendar(runtime)
    if app.job_queue is not None and runtime.schedule_jobs:
        schedule_jobs(app)
    try:
        await set_command_menus(app)
    except TelegramError as exc:  # menus are a convenience; the bot works without them
        logger.warning("could not set command menus: %s", exc)
    logger.info("fuyuan-bot ready as @%s", app.bot.username)


def warn_about_calendar(runtime: Runtime) -> None:
    """Loudly, at start-up: deadlines in the next 60 days resting on estimated holidays."""
    svc = runtime.svc
    for gap in svc.calendar.coverage_warnings(svc.today()):
        logger.warning(
            "WORKING-DAY CALENDAR: %s to %s rests on %s data (year %s). Add the official "
            "holidays and make-up working days of %s to [calendar.%s] in the committee file.",
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


def build_application(
    settings: Settings,
    committee: Committee,
    *,
    clock: Clock | None = None,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
    rate_limiter: bool = True,
    jobs: bool = True,
) -> AppType:
    """The bot with all its handlers. Tests pass a fake ``request`` and a manual ``clock``."""
    runtime = Runtime(settings, committee, clock or SystemClock(), schedule_jobs=jobs)
    builder: Any = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_base_url)
        .base_file_url(settings.file_base_url)
        .context_types(ContextTypes(context=BotContext))
        .persistence(DraftPersistence(runtime))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .concurrent_updates(False)
    )
    if rate_limiter:
        # max_retries=0: a 429 is surfaced, never blindly retried (a retried send may duplicate).
        builder = builder.rate_limiter(AIORateLimiter(max_retries=0))
    if request is not None:
        builder = builder.request(request).get_updates_request(updates_request or request)
    app: AppType = builder.build()
    app.bot_data["runtime"] = runtime
    with warnings.catch_warnings():
        # CallbackQueryHandlers inside per-user conversations are intended (per_message=False).
        warnings.filterwarnings("ignore", category=PTBUserWarning)
        register_handlers(app)
    return app


# ---------------------------------------------------------------------------- logging

_TOKEN_PATTERN = re.compile(r"bot\d+:[A-Za-z0-9_-]+|\b\d{6,}:[A-Za-z0-9_-]{30,}\b")


class RedactingFormatter(logging.Formatter):
    """Formats records with any bot token removed — from messages, arguments and tracebacks."""

    def __init__(self, fmt: str, token: str) -> None:
        super().__init__(fmt)
        self._token = token

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if self._token:
            text = text.replace(self._token, "<token>")
        return _TOKEN_PATTERN.sub("bot<token>", text)


# Loggers known to write request URLs (which contain the token): python-telegram-bot logs
# "Set Bot API URL: .../bot<token>" at DEBUG, httpx every request URL at INFO.
URL_LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot", "httpx", "httpcore")


class RedactingFilter(logging.Filter):
    """Removes tokens from a record where it is logged, before any handler sees it."""

    def __init__(self, token: str = "") -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = _TOKEN_PATTERN.sub(
            "bot<token>", text.replace(self._token, "<token>") if self._token else text
        )
        if clean != text:
            record.msg, record.args = clean, None
        return True


def install_redaction(token: str = "") -> None:
    """Put the redacting filter on the loggers that write URLs (once per logger)."""
    for name in URL_LOGGERS:
        source = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in source.filters):
            source.addFilter(RedactingFilter(token))


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", settings.token)
    )
    install_redaction(settings.token)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # httpx logs every request URL — which contains the token — at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
