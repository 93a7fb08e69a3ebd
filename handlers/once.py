"""Each update is handled once, even if Telegram delivers it again.

The record of a handled update id commits in the update's first write transaction, together
with what the update changed (``Database.unit``): a crash after that commit cannot make a
redelivered update act again, and the record costs no transaction of its own. An update that
writes nothing leaves its record to the next write transaction of any kind, or to one write
of its own shortly after (``LEFT_OVER_WITHIN``, shared by the updates ending meanwhile; also
written before the bot stops).
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, BaseHandler, TypeHandler

from handlers.common import BotContext

logger = logging.getLogger(__name__)


async def skip_repeats(update: Update, context: BotContext) -> None:
    """Runs before every other handler but the gate (group -1): a repeated update id stops
    here."""
    if not await context.svc.first_sighting(update.update_id):
        logger.info("update %s was delivered again; skipped", update.update_id)
        raise ApplicationHandlerStop


def build_handler() -> BaseHandler[Update, BotContext, None]:
    return TypeHandler(Update, skip_repeats)


class OnceApplication(Application[Any, Any, Any, Any, Any, Any]):
    """Handles each update as one unit of work of the database (see the module's notes)."""

    async def process_update(self, update: object) -> None:
        try:
            runtime = self.bot_data["runtime"]
            db = runtime.svc.db
        except (KeyError, RuntimeError):  # not opened yet: nothing can be recorded either
            await super().process_update(update)
            return
        # Deliveries it started begin once the unit is over (``Runtime.after_update``).
        await runtime.handling(self._unit(db.unit(), update))

    async def _unit(self, unit: AbstractAsyncContextManager[None], update: object) -> None:
        async with unit:
            await super().process_update(update)
