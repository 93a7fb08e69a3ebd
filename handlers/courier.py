"""Delivers outbox rows to Telegram and decides, per error, whether to try again.

- before rendering, each row's recipient is checked as it is now (an active member who may
  still see what the row is about; the committee group as bound now): otherwise the row fails
  with the reason — expected, so not reported;
- network errors and 5xx: retry with exponential backoff. Any error after the request may have
  been written is ambiguous (the message may have arrived): the resent message says it may be
  a repeat — a duplicate is never silent. Only a failure to connect is known to have sent
  nothing;
- 429: wait as Telegram says; that is no failure and never makes a message give up;
- a message still failing when it is ``GIVE_UP_AFTER`` old is given up, and the office told;
- the bot was blocked / removed / the chat is gone, or Telegram rejects the message: no retry;
  the office is told (never about such a report itself);
- a database error while recording one row's outcome does not stop the batch; that row stays
  'sending' until the tick recovers it as possibly sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
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

from bot.services.delivery import FailureReason, Outbox, OutboxMessage
from handlers.pacing import bulk
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
FailureReporter = Callable[[OutboxMessage, str, FailureReason], Awaitable[object]]
MigrationHandler = Callable[[int, int], Awaitable[None]]
# Outbox id → why the row must not go to its chat now (see bot.services.delivery.AUDIENCES).
AudienceCheck = Callable[[list[OutboxMessage]], Awaitable[dict[int, str]]]

# httpx errors raised before any byte of the request was written (python-telegram-bot keeps
# them as ``__cause__`` of its NetworkError / TimedOut): nothing can have arrived.
NOT_WRITTEN = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def may_have_arrived(exc: NetworkError) -> bool:
    """Whether Telegram may have acted on a request that ended with this error."""
    return not isinstance(exc.__cause__, NOT_WRITTEN)


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
        audience: AudienceCheck | None = None,
    ) -> None:
        self.outbox = outbox
        self.renderers = renderers
        self.on_permanent_failure = on_permanent_failure
        self.audience = audience
        self._lock = asyncio.Lock()
        self.sent_count = 0
        self._queued_more = False
        self._resume_at = timedelta(seconds=1)
        self.on_migration: MigrationHandler | None = None

    async def flush(self, bot: Bot, limit: int = 200, *, key_prefix: str | None = None) -> int:
        """Deliver the due rows now (only those whose key starts with ``key_prefix``, when
        given: what a user's action just queued); one delivery run at a time. Never raises:
        whatever goes wrong is recorded on the row (or logged, when recording fails).
        Returns how many were sent."""
        sent = 0
        async with self._lock:
            while sent < limit:
                size = min(50, limit - sent)
                self._queued_more = False
                try:
                    batch = await self.outbox.claim_due(size, key_prefix=key_prefix)
                except Exception:
                    logger.exception("could not claim due outbox rows")
                    break
                done, stop = await self._run(bot, batch)
                sent += done
                # A short batch held everything that was due: claiming again would cost a
                # write transaction to find nothing — unless a failure report was queued.
                if stop or (len(batch) < size and not self._queued_more):
                    break
        return self._done(sent)

    async def recover(self) -> int:
        """Rows left 'sending' while no delivery run is going on were stranded (a crash, or a
        database error while recording an outcome): they may have gone, so they are resent
        marked as possible repeats. Skipped while a run holds the lock."""
        if self._lock.locked():
            return 0
        async with self._lock:
            return await self.outbox.recover()

    async def _run(self, bot: Bot, batch: list[OutboxMessage]) -> tuple[int, bool]:
        """Deliver one claimed batch; returns (how many were sent, stop the run). A row whose
        outcome cannot be recorded is logged and stays 'sending' for ``recover``; rows not
        tried because the run stops are given back as they were (not uncertain)."""
        sent = 0
        untried = list(batch)
        pause = timedelta(0)
        token = _memo.set({})
        try:
            refused = await self.audience(batch) if self.audience is not None and batch else {}
            while untried:
                message = untried.pop(0)
                try:
                    reason = refused.get(message.id)
                    if reason is not None:
                        logger.info("outbox %s not delivered: %s", message.key, reason)
                        await self.outbox.failed(message, f"not delivered: {reason}")
                        continue
                    outcome = await self._deliver(bot, message)
                except Exception:
                    logger.exception(
                        "outbox %s: could not record what happened to it; it is resent as a "
                        "possible repeat once no delivery run is going on",
                        message.key,
                    )
                    continue
                if outcome is _THROTTLED:
                    # Telegram asked us to wait: sending the rest now would only earn more
                    # 429s and lengthen the wait. Put them back.
                    pause = self._resume_at
                    return sent, True
                if outcome:
                    sent += 1
        except Exception:
            logger.exception("outbox: a delivery run stopped; %s row(s) given back", len(untried))
            return sent, True
        finally:
            _memo.reset(token)
            if untried:
                try:
                    await self.outbox.release(untried, pause)
                except Exception:
                    logger.exception("outbox: could not give %s row(s) back", len(untried))
        return sent, False

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
            with bulk():
                sent = await self._send(bot, message.chat_id, rendered)
        except Skip as exc:
            await self.outbox.failed(message, f"skipped: {exc}")
            return False
        except PartlySent as exc:
            return await self._partly_sent(message, exc)
        except RetryAfter as exc:
            after = _seconds(exc.retry_after)
            self._resume_at = after
            await self.outbox.throttled(message, after)
            return _THROTTLED
        except ChatMigrated as exc:
            await self._migrated(message, exc.new_chat_id)
            return False
        except Forbidden as exc:
            await self._give_up(message, f"forbidden: {exc.message}")
            return False
        except BadRequest as exc:
            await self._give_up(message, f"rejected: {exc.message}")
            return False
        except NetworkError as exc:  # TimedOut included
            label = "timed out" if isinstance(exc, TimedOut) else "network"
            await self._retry(message, f"{label}: {exc}", uncertain=may_have_arrived(exc))
            return False
        except Exception as exc:
            logger.exception("outbox %s: unexpected failure", message.key)
            await self._retry(message, f"unexpected: {exc!r}")
            return False
        await self.outbox.sent(message, sent.message_id if sent is not None else None)
        return True

    async def _retry(self, message: OutboxMessage, error: str, *, uncertain: bool = False) -> None:
        if not await self.outbox.retry(message, error, uncertain=uncertain):
            logger.warning("outbox %s to %s: gave up: %s", message.key, message.chat_id, error)
            await self._report(message, error, "gave_up")

    async def _partly_sent(self, message: OutboxMessage, exc: PartlySent) -> bool | object:
        """Some parts arrived: a resend would repeat them, so it must say so — or, when the
        rest can never be sent, the row counts as sent (what arrived is what can arrive)."""
        cause = exc.cause
        if isinstance(cause, (Forbidden, BadRequest)):
            logger.error("outbox %s: only part of it was delivered: %s", message.key, cause)
            await self.outbox.sent(message, exc.first_message_id)
            return True
        if isinstance(cause, RetryAfter):
            self._resume_at = _seconds(cause.retry_after)
            await self.outbox.throttled(message, self._resume_at, uncertain=True)
            return _THROTTLED
        await self._retry(message, f"partly sent: {cause}", uncertain=True)
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
        await self._report(message, error, "refused")

    async def _report(self, message: OutboxMessage, error: str, reason: FailureReason) -> None:
        if self.on_permanent_failure is not None:
            await self.on_permanent_failure(message, error, reason)
            self._queued_more = True  # the report is due now: this flush takes it

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
