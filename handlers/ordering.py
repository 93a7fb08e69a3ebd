"""In what order updates are handled: one user's updates one after another, different users'
side by side.

python-telegram-bot either handles every update in turn (then one busy or hostile sender
delays everybody) or all of them concurrently (then one user's quick presses could overtake
each other, and a conversation assumes its updates arrive in order). This processor takes the
middle way: updates are queued per sender — the user, or the chat when there is no user — so a
conversation sees its updates in order, while a flood from one sender only delays that sender.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

logger = logging.getLogger(__name__)

# python-telegram-bot's own bound applies before an update reaches its sender's queue, where a
# flooding sender's updates wait; it must not be what a flood uses up.
_OUTER_BOUND = 1_000_000


def sender_key(update: object) -> int | None:
    """Whose queue an update joins: its user, else its chat; None runs it unqueued."""
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return None


class PerSenderProcessor(BaseUpdateProcessor):
    """At most ``workers`` updates in handling at once, never two of one sender; a sender with
    ``max_waiting`` updates already waiting has further ones dropped (and logged)."""

    def __init__(self, workers: int = 16, max_waiting: int = 50) -> None:
        super().__init__(_OUTER_BOUND)
        self.workers = workers
        self.max_waiting = max_waiting
        self._slots = asyncio.BoundedSemaphore(workers)
        self._queues: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self.dropped = 0

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = sender_key(update)
        if key is None:
            async with self._slots:
                await coroutine
            return
        if self._waiting.get(key, 0) >= self.max_waiting:
            self.dropped += 1
            logger.warning(
                "sender %s has %s updates waiting; one more dropped", key, self.max_waiting
            )
            if isinstance(coroutine, Coroutine):
                coroutine.close()
            return
        lock = self._queues.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        waiting = True
        try:
            async with lock:
                self._waiting[key] -= 1
                waiting = False
                async with self._slots:
                    await coroutine
        finally:
            if waiting:  # cancelled while waiting for its turn
                self._waiting[key] -= 1
            if not self._waiting.get(key) and not lock.locked():
                # Nobody waits on this sender any more: forget it (memory stays bounded by
                # the senders active right now).
                self._waiting.pop(key, None)
                self._queues.pop(key, None)

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free: python-telegram-bot waits for the updates in handling."""
