"""/status: the office's view of the bot's health in chat — the same judgement as GET /healthz
and ``python -m bot.health`` (``bot.health.check``), plus the release, the schema revision,
how updates arrive and how far the working-day calendar knows the holidays."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.backup import OperatorError
from bot.domain import rules
from bot.health import Health, check, database_of, version
from handlers.common import BotContext, private_only, reply, viewer_of

logger = logging.getLogger(__name__)


async def status(update: Update, context: BotContext) -> None:
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    if not rules.is_admin(viewer.member):
        await reply(update, context, context.texts.render(viewer.lang, "error", code="admin_only"))
        return
    runtime = context.runtime
    now = runtime.clock.now()
    health: Health | None = None
    try:
        path = database_of(runtime.settings.database_url)
        # Read in a thread, read-only, exactly as the health endpoint reads it.
        health = await asyncio.to_thread(check, path, now=now)
    except (OperatorError, ValueError) as exc:  # as bot.health.report
        logger.warning("/status: cannot read the database: %s", exc)
    last_tick = datetime.fromisoformat(health.last_tick) if health and health.last_tick else None
    svc = context.svc
    await reply(
        update,
        context,
        context.texts.render(
            viewer.lang,
            "status",
            health=health,
            last_tick=last_tick,
            version=version(),
            webhook=runtime.settings.webhook_url is not None,
            known_through=svc.calendar.known_through(svc.today()),
            year=svc.today().year,
            ago=lambda seconds: ago(context, viewer.lang, seconds),
        ),
    )


def ago(context: BotContext, lang: str, seconds: int) -> str:
    """A time span as /status shows it: seconds, minutes or hours (as ``bot.health``)."""
    if seconds < 120:
        return context.texts.t(lang, "%(n)s s", n=seconds)
    if seconds < 7200:
        return context.texts.t(lang, "%(n)s min", n=seconds // 60)
    return context.texts.t(lang, "%(n)s h", n=seconds // 3600)


def build_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [CommandHandler("status", status)]
