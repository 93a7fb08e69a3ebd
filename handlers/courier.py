"""Delivers outbox rows to Telegram and decides, per error, whether to try again.

- network errors and 5xx: retry with exponential backoff;
- 429: retry after Telegram's ``retry_after``;
- a timeout is ambiguous (the message may have arrived): retry, but the resent message says
  it may be a repeat — a duplicate is never silent;
- the bot was blocked / removed / the chat is gone, or Telegram rejects the message: no retry;
  the office is told (unless the failed message was itself such a report).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.services.delivery import Outbox, OutboxMessage
from handlers.texts import split_html

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rendered:
    """What one outbox row looks like on Telegram; ``None`` from a renderer drops the row."""

    html: str
    markup: InlineKeyboardMarkup | None = None
    document: tuple[str, bytes] | None = None  # (file name, content) sent after the text


class Skip(Exception):
    """The row no longer makes sense (its matter is gone): fail it without retrying."""


Renderer = Callable[[OutboxMessage, bool], Awaitable[Rendered]]
FailureReporter = Callable[[OutboxMessage, str], Awaitable[None]]
MigrationHandler = Callable[[int, int], Awaitable[None]]

_memo: ContextVar[dict[Hashable, Any] | None] = ContextVar("courier_memo", default=None)


def delivery_memo() -> dict[Hashable, Any] | None:
    """A dict shared by the renderers of one claimed batch — a new matter is rendered once
    per recipient, and each would otherwise read it again; None outside a delivery run."""
    return _memo.get()


class Courier:
    def __init__(
        self,
        outbox: Outbox,
        renderers: dict[str, Renderer],
        on_permanent_failure: FailureReporter | None = None,
    ) -> None:
        self.outbox = outbox
        self.renderers = renderers
        self.on_permanent_failure = on_permanent_failure
        self._lock = asyncio.Lock()
        self.sent_count = 0
        self._queued_more = False
        self._resume_at = timedelta(seconds=1)
        self.on_migration: MigrationHandler | None = None

    async def flush(self, bot: Bot, limit: int = 200, *, key_prefix: str | None = None) -> int:
        """Deliver the due rows now (only those whose key starts with ``key_prefix``, when
        given: what a user's action just queued); one delivery run at a time. Never raises:
        whatever goes wrong is recorded on the row. Returns how many were sent."""
        sent = 0
        async with self._lock:
            while sent < limit:
                size = min(50, limit - sent)
                self._queued_more = False
                batch = await self.outbox.claim_due(size, key_prefix=key_prefix)
                token = _memo.set({})
                try:
                    for index, message in enumerate(batch):
                        outcome = await self._deliver(bot, message)
                        if outcome is _THROTTLED:
                            # Telegram asked us to wait: sending the rest now would only
                            # earn more 429s and lengthen the wait. Put them back.
                            await self.outbox.release(batch[index + 1 :], self._resume_at)
                            return self._done(sent)
                        if outcome:
                            sent += 1
                finally:
                    _memo.reset(token)
                # A short batch held everything that was due: claiming again would cost a
                # write transaction to find nothing — unless a failure report was queued.
                if len(batch) < size and not self._queued_more:
                    break
        return self._done(sent)

    def _done(self, sent: int) -> int:
        self.sent_count += sent
        return sent

    async def _deliver(self, bot: Bot, message: OutboxMessage) -> bool | object:
        renderer = self.renderers.get(message.kind)
        if renderer is None:
            await self.outbox.failed(message, f"no renderer for {message.kind}")
            return False
        try:
            rendered = await renderer(message, message.uncertain)
            sent = await self._send(bot, message.chat_id, rendered)
        except Skip as exc:
            await self.outbox.failed(message, f"skipped: {exc}")
            return False
        except PartlySent as exc:
            return await self._partly_sent(message, exc)
        except RetryAfter as exc:
            after = _seconds(exc.retry_after)
            self._resume_at = after
            await self.outbox.retry(message, "429 retry after", after=after)
            return _THROTTLED
        except ChatMigrated as exc:
            await self._migrated(message, exc.new_chat_id)
            return False
        except TimedOut as exc:
            await self.outbox.retry(message, f"timed out: {exc}", uncertain=True)
            return False
        except Forbidden as exc:
            await self._give_up(message, f"forbidden: {exc.message}")
            return False
        except BadRequest as exc:
            await self._give_up(message, f"rejected: {exc.message}")
            return False
        except NetworkError as exc:
            await self.outbox.retry(message, f"network: {exc}")
            return False
        except Exception as exc:
            logger.exception("outbox %s: unexpected failure", message.key)
            await self.outbox.retry(message, f"unexpected: {exc!r}")
            return False
        await self.outbox.sent(message, sent.message_id if sent is not None else None)
        return True

    async def _partly_sent(self, message: OutboxMessage, exc: PartlySent) -> bool:
        """Some parts arrived: a resend would repeat them, so it must say so — or, when the
        rest can never be sent, the row counts as sent (what arrived is what can arrive)."""
        cause = exc.cause
        if isinstance(cause, (Forbidden, BadRequest)):
            logger.error("outbox %s: only part of it was delivered: %s", message.key, cause)
            await self.outbox.sent(message, exc.first_message_id)
            return True
        after = _seconds(cause.retry_after) if isinstance(cause, RetryAfter) else None
        await self.outbox.retry(message, f"partly sent: {cause}", after=after, uncertain=True)
        return False

    async def _migrated(self, message: OutboxMessage, new_chat_id: int) -> None:
        """A group became a supergroup: follow it (and the committee group binding)."""
        logger.warning("chat %s migrated to %s", message.chat_id, new_chat_id)
        if self.on_migration is not None:
            await self.on_migration(message.chat_id, new_chat_id)
        await self.outbox.move(message, new_chat_id)
        self._queued_more = True  # due again at once: this flush takes it

    async def _give_up(self, message: OutboxMessage, error: str) -> None:
        logger.warning(
            "outbox %s to %s failed permanently: %s", message.key, message.chat_id, error
        )
        await self.outbox.failed(message, error)
        if self.on_permanent_failure is not None:
            await self.on_permanent_failure(message, error)
            self._queued_more = True

    @staticmethod
    async def _send(bot: Bot, chat_id: int, rendered: Rendered) -> Message | None:
        parts = split_html(rendered.html)
        first: Message | None = None
        try:
            for i, part in enumerate(parts):
                sent = await bot.send_message(
                    chat_id,
                    part,
                    parse_mode="HTML",
                    disable_web_page_preview=True,
                    reply_markup=rendered.markup if i == len(parts) - 1 else None,
                )
                first = first or sent
            if rendered.document is not None:
                name, content = rendered.document
                await bot.send_document(chat_id, InputFile(content, filename=name))
        except TelegramError as exc:
            if first is None:
                raise
            raise PartlySent(exc, first.message_id) from exc
        return first


class PartlySent(Exception):
    """The first part(s) of a message were delivered, then sending failed."""

    def __init__(self, cause: TelegramError, first_message_id: int) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.first_message_id = first_message_id


_THROTTLED = object()


def _seconds(value: timedelta | float | int) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))
