"""Every request the bot makes to a chat waits for its turn within Telegram's flood limits.

One pacer for the whole bot, installed as the Application's rate limiter: Telegram counts the
courier's notifications and the replies to users against the same limits, so they share one
budget. It never lets a burst through:

- overall, requests to chats leave one at a time at least ``1 / per_second`` apart (a leaky
  bucket of capacity one; python-telegram-bot's ``AIORateLimiter`` lets a full second's worth
  through at once, which Telegram answers with 429s), and never more than ``per_second``
  (rounded up) leave in any second, however late some of them woke up (a late one must not
  leave bunched with the next ones, which kept their times);
- a group gets at most ``group_per_minute`` requests in any minute (a sliding window: never
  more than Telegram allows, however they are spread);
- the courier's sends (``bulk()``) to one chat are at least ``chat_interval`` apart: a chat
  gets a stream of messages only from the courier. Replies to a user's action are not spaced
  in their chat: the user waits for them;
- a 429 holds that chat for Telegram's ``retry_after``; the courier, which decides what to send
  next, holds the rest.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

PER_SECOND = 29  # Telegram's ~30, less one: room for requests that arrive a little bunched
GROUP_PER_MINUTE = 20
CHAT_INTERVAL = 1.0
# Added to per-chat spacing and to the group's minute: requests arrive with some jitter, and
# a window Telegram measures from the arrival must not see two that left exactly in time.
MARGIN = 0.05
_TICK = 0.001  # the least a wait lasts: a wait rounded down to nothing would spin
_PRUNE_AT = 1024  # chats remembered before the ones whose turn has long come are forgotten

_bulk: ContextVar[bool] = ContextVar("pacing_bulk", default=False)


@contextmanager
def bulk() -> Iterator[None]:
    """Requests made inside are the courier's: spaced in their chat as well."""
    token = _bulk.set(True)
    try:
        yield
    finally:
        _bulk.reset(token)


class Pacer(BaseRateLimiter[None]):
    """The bot's rate limiter (see the module). ``now`` and ``sleep`` measure and pass time
    in seconds; a test may pass its own."""

    def __init__(
        self,
        per_second: float = PER_SECOND,
        group_per_minute: int = GROUP_PER_MINUTE,
        chat_interval: float = CHAT_INTERVAL,
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.interval = 1 / per_second
        self.group_per_minute = group_per_minute
        self.chat_interval = chat_interval
        self._now = now
        self._sleep = sleep
        self.per_window = math.ceil(per_second)
        self._next = 0.0  # when the next request to any chat may leave
        self._left: deque[float] = deque()  # when requests left, over the last second
        self._chat_next: dict[int | str, float] = {}  # per chat: courier spacing, 429 holds
        self._group_sent: dict[int | str, deque[float]] = {}

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat = _chat(data.get("chat_id"))
        if chat is None:  # answerCallbackQuery, getMe ...: not a message to a chat
            return await callback(*args, **kwargs)
        await self.turn(chat, bulk=_bulk.get())
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            self.hold(chat, exc.retry_after)
            raise

    async def turn(self, chat: int | str, *, bulk: bool = False) -> None:
        """Wait until a request to ``chat`` may leave, and take that moment."""
        group = isinstance(chat, str) or chat < 0
        while True:
            now = self._now()
            ready = self._chat_next.get(chat, 0.0)
            sent = self._group_sent.get(chat) if group else None
            if sent is not None:
                while sent and sent[0] + 60 + MARGIN <= now:
                    sent.popleft()
                if len(sent) >= self.group_per_minute:
                    ready = max(ready, sent[0] + 60 + MARGIN)
            if ready <= now:
                break
            await self._sleep(max(ready - now, _TICK))
        # The chat's turn has come: take the next overall slot (first come, first served).
        slot = max(now, self._next)
        self._next = slot + self.interval
        if bulk:
            self._chat_next[chat] = slot + self.chat_interval + MARGIN
        if group:
            self._group_sent.setdefault(chat, deque()).append(slot)
        if len(self._chat_next) > _PRUNE_AT:
            self._prune(now)
        if slot > now:
            await self._sleep(slot - now)
        while True:
            now = self._now()
            left = self._left
            while left and left[0] <= now - 1:
                left.popleft()
            if len(left) < self.per_window:
                left.append(now)
                return
            await self._sleep(max(left[0] + 1 - now, _TICK))

    def hold(self, chat: int | str, retry_after: timedelta | float) -> None:
        """Telegram said to wait: nothing more to this chat until then."""
        seconds = (
            retry_after.total_seconds()
            if isinstance(retry_after, timedelta)
            else float(retry_after)
        )
        until = self._now() + seconds
        self._chat_next[chat] = max(self._chat_next.get(chat, 0.0), until)

    def _prune(self, now: float) -> None:
        for chat in [c for c, at in self._chat_next.items() if at <= now]:
            del self._chat_next[chat]
        for chat in [c for c, sent in self._group_sent.items() if not sent or sent[-1] + 61 <= now]:
            del self._group_sent[chat]


def _chat(value: object) -> int | str | None:
    """The chat a request goes to: an id, or a public @username (a channel or supergroup)."""
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        return str(value)
