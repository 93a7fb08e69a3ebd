"""Each update is handled once, even if Telegram delivers it again."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop, BaseHandler, TypeHandler

from handlers.common import BotContext

logger = logging.getLogger(__name__)


async def skip_repeats(update: Update, context: BotContext) -> None:
    """Runs before every other handler (group -1): a repeated update id stops here."""
    if not await context.svc.first_sighting(update.update_id):
        logger.info("update %s was delivered again; skipped", update.update_id)
        raise ApplicationHandlerStop


def build_handler() -> BaseHandler[Update, BotContext, None]:
    return TypeHandler(Update, skip_repeats)
