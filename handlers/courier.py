"""Delivers outbox rows to Telegram and decides, per error, whether to try again.

Several chats are sent to side by side (``CONCURRENCY``), each chat's rows one at a time in
queue order; the bot's rate limiter (``handlers.pacing``) keeps the whole within Telegram's
flood limits. Outcomes are written in batches; until its outcome is written a row stays
'sending', so a crash in between makes it a possible repeat, never a loss.

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
- a database error while writing outcomes does not stop the run: they are written one by one,
  and a row whose outcome cannot be written stays 'sending' until the tick recovers it as
  possibly sent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
from telegram import Bot, InputFile, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.services.delivery import FailureReason, Outbox, OutboxMessage, Outcome
from handlers.pacing import bulk
from handlers.sending import Markup, post_text, telegram_markup
from handlers.texts import split_html

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rendered:
    """What one outbox row looks like on Telegram; ``None`` from a renderer drops the row."""

    html: str
    markup: Markup | None = None
    document: tuple[str, bytes] | None = None  # (file name, content) sent after the text
    photo: tuple[str, bytes] | None = None  # (file name, PNG) sent as a photo after the text
    # A message already delivered to the chat, to edit instead of sending a new one.
    edit: int | None = None
    # A matter's notice: the matter's newest event it reflects (see ``Outbox.record``).
    rendered_at: int | None = None


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


# Telegram's answers to an edit that mean there is nothing (more) to change.
EDIT_DONE = (
    "message is not modified",
    "message to edit not found",
    "message can't be edited",
    "message_id_invalid",
)

# A row's progress in its payload: how many of its parts arrived, the first one's message id,
# and whether it was rendered with the "may be a repeat" note (``Courier._deliver``).
PROGRESS = "_delivered"
CAPTION_LIMIT = 1024  # Telegram's limit on a photo's caption (visible UTF-16 units)

CONCURRENCY = 10  # sends in flight at once: enough to fill ~30/s at a 100-300 ms round trip
BATCH = 50  # rows claimed at once (each 'sending' until its outcome is written)
RECORD_EVERY = 25  # outcomes written together ...
RECORD_WITHIN = 0.5  # ... or once the oldest unwritten one is this old (seconds)


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
        self.on_migration: MigrationHandler | None = None

    async def flush(self, bot: Bot, limit: int = 200, *, key_prefix: str | None = None) -> int:
        """Deliver the due rows now (only those whose key starts with ``key_prefix``, when
        given: what a user's action just queued); one delivery run at a time. Never raises:
        whatever goes wrong is recorded on the row (or logged, when recording fails).
        Returns how many were sent."""
        async with self._lock:
            run = _Run(self, bot, limit, key_prefix)
            sent = await run.go()
        self.sent_count += sent
        return sent

    async def recover(self) -> int:
        """Rows left 'sending' while no delivery run is going on were stranded (a crash, or a
        database error while recording an outcome): they may have gone, so they are resent
        marked as possible repeats. Skipped while a run holds the lock."""
        if self._lock.locked():
            return 0
        async with self._lock:
            return await self.outbox.recover()

    async def _deliver(self, bot: Bot, message: OutboxMessage, run: _Run) -> Outcome:
        """Send one row; what happened to it, to be recorded. Reports to the office are
        queued from here; a 429 stops the run.

        A row partly delivered before (``PROGRESS`` in its payload: a report's text went,
        its chart did not) sends only what did not arrive, rendered as it was then (with the
        "may be a repeat" note or without), so the parts fall as they fell the first time."""
        outbox = self.outbox
        renderer = self.renderers.get(message.kind)
        if renderer is None:
            return outbox.failed(message, f"no renderer for {message.kind}")
        progress = message.payload.get(PROGRESS)
        done, first_id, noted = 0, None, message.uncertain
        if isinstance(progress, dict):
            done, first_id, noted = progress["parts"], progress["first"], progress["noted"]
            payload = {k: v for k, v in message.payload.items() if k != PROGRESS}
            message = replace(message, payload=payload)
        try:
            rendered = await renderer(message, noted)
            with bulk():
                sent = await self._send(bot, message.chat_id, rendered, done)
        except Skip as exc:
            return outbox.failed(message, f"skipped: {exc}")
        except PartlySent as exc:
            if first_id is not None:  # the row's first message arrived on an earlier try
                exc.first_message_id = first_id
            return await self._partly_sent(message, exc, run, noted)
        except RetryAfter as exc:
            after = _seconds(exc.retry_after)
            run.throttled(after)
            return outbox.throttled(message, after)
        except ChatMigrated as exc:
            return await self._migrated(message, exc.new_chat_id, run)
        except Forbidden as exc:
            return await self._give_up(message, f"forbidden: {exc.message}", run)
        except BadRequest as exc:
            return await self._give_up(message, f"rejected: {exc.message}", run)
        except NetworkError as exc:  # TimedOut included
            label = "timed out" if isinstance(exc, TimedOut) else "network"
            error = f"{label}: {exc}"
            return await self._retry(message, error, run, uncertain=may_have_arrived(exc))
        except Exception as exc:
            logger.exception("outbox %s: unexpected failure", message.key)
            return await self._retry(message, f"unexpected: {exc!r}", run)
        if first_id is not None:
            sent = first_id
        outcome = outbox.sent(message, sent, rendered.rendered_at)
        if progress is not None:
            # Done: the row's payload is its own again (other readers of sent rows use it).
            outcome.values["payload"] = message.payload
        return outcome

    async def _retry(
        self, message: OutboxMessage, error: str, run: _Run, *, uncertain: bool = False
    ) -> Outcome:
        outcome = self.outbox.retry(message, error, uncertain=uncertain)
        if outcome.gave_up:
            logger.warning("outbox %s to %s: gave up: %s", message.key, message.chat_id, error)
            await self._report(message, error, "gave_up", run)
        return outcome

    async def _partly_sent(
        self, message: OutboxMessage, exc: PartlySent, run: _Run, noted: bool
    ) -> Outcome:
        """Some parts arrived: the row records how many (``PROGRESS``), and a resend sends
        only the rest — or, when the rest can never be sent, the row counts as sent (what
        arrived is what can arrive). The part that failed may have arrived all the same
        after a network error: the row is then marked uncertain."""
        cause = exc.cause
        if isinstance(cause, (Forbidden, BadRequest)):
            logger.error("outbox %s: only part of it was delivered: %s", message.key, cause)
            return self.outbox.sent(message, exc.first_message_id)
        progress = {"parts": exc.delivered, "first": exc.first_message_id, "noted": noted}
        logger.info("outbox %s: %s part(s) delivered, the rest later", message.key, exc.delivered)
        if isinstance(cause, RetryAfter):
            after = _seconds(cause.retry_after)
            run.throttled(after)
            outcome = self.outbox.throttled(message, after)
        else:
            uncertain = not isinstance(cause, NetworkError) or may_have_arrived(cause)
            outcome = await self._retry(message, f"partly sent: {cause}", run, uncertain=uncertain)
        outcome.values["payload"] = {**message.payload, PROGRESS: progress}
        return outcome

    async def _migrated(self, message: OutboxMessage, new_chat_id: int, run: _Run) -> Outcome:
        """A group became a supergroup: follow it (and the committee group binding)."""
        logger.warning("chat %s migrated to %s", message.chat_id, new_chat_id)
        if self.on_migration is not None:
            await self.on_migration(message.chat_id, new_chat_id)
        run.more_due = True  # due again at once, in the new chat: this run takes it
        return self.outbox.move(message, new_chat_id)

    async def _give_up(self, message: OutboxMessage, error: str, run: _Run) -> Outcome:
        logger.warning(
            "outbox %s to %s failed permanently: %s", message.key, message.chat_id, error
        )
        await self._report(message, error, "refused", run)
        return self.outbox.failed(message, error)

    async def _report(
        self, message: OutboxMessage, error: str, reason: FailureReason, run: _Run
    ) -> None:
        if self.on_permanent_failure is not None:
            await self.on_permanent_failure(message, error, reason)
            run.more_due = True  # the report is due now: this run takes it

    @staticmethod
    async def _send(bot: Bot, chat_id: int, rendered: Rendered, done: int = 0) -> int | None:
        """Send (or edit) one rendered row; the id of its (first) message. Its parts are
        the text's messages, then the document, then the photo; the first ``done`` of them
        arrived before and are not sent again. A photo whose text fits its caption goes as
        one message: nothing can arrive without the rest."""
        if rendered.edit is not None:
            return await Courier._edit(bot, chat_id, rendered.edit, rendered)
        if rendered.photo is not None and rendered.document is None and not done:
            caption = split_html(rendered.html, CAPTION_LIMIT)
            if len(caption) == 1:
                name, content = rendered.photo
                sent = await bot.send_photo(
                    chat_id,
                    InputFile(content, filename=name),
                    caption=caption[0],
                    parse_mode="HTML",
                    reply_markup=telegram_markup(rendered.markup),
                )
                return sent.message_id
        parts = split_html(rendered.html)
        sends: list[Callable[[], Awaitable[int]]] = [
            functools.partial(
                post_text,
                bot,
                chat_id,
                part,
                rendered.markup if i == len(parts) - 1 else None,
            )
            for i, part in enumerate(parts)
        ]
        if rendered.document is not None:
            name, content = rendered.document
            document = InputFile(content, filename=name)
            sends.append(functools.partial(_sent_id, bot.send_document, chat_id, document))
        if rendered.photo is not None:
            name, content = rendered.photo
            photo = InputFile(content, filename=name)
            sends.append(functools.partial(_sent_id, bot.send_photo, chat_id, photo))
        first: int | None = None
        delivered = done
        try:
            for part in sends[done:]:
                message_id = await part()
                first = first or message_id
                delivered += 1
        except TelegramError as exc:
            if delivered == 0:
                raise
            raise PartlySent(exc, first, delivered) from exc
        return first

    @staticmethod
    async def _edit(bot: Bot, chat_id: int, message_id: int, rendered: Rendered) -> int:
        """Bring a delivered message up to date. A message that is already as rendered, or
        is gone (deleted, too old to edit), is done with: there is nothing left to change.
        An edit changes one message: a text longer than one keeps its first part."""
        try:
            await post_text(
                bot, chat_id, split_html(rendered.html)[0], rendered.markup, message_id=message_id
            )
        except BadRequest as exc:
            if not any(reason in exc.message.lower() for reason in EDIT_DONE):
                raise
            logger.info("message %s in chat %s left as it is: %s", message_id, chat_id, exc)
        return message_id


async def _sent_id(send: Callable[..., Awaitable[Message]], *args: Any) -> int:
    """A file's send, as the message id it made."""
    return (await send(*args)).message_id


class PartlySent(Exception):
    """The first ``delivered`` part(s) of a row were delivered (now or before), then
    sending failed; ``first_message_id``: the first part's message (None: not known)."""

    def __init__(self, cause: TelegramError, first_message_id: int | None, delivered: int) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.first_message_id = first_message_id
        self.delivered = delivered


def _seconds(value: timedelta | float | int) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


class _Run:
    """One delivery run: claims due rows in batches and sends them with up to
    ``CONCURRENCY`` in flight — one chat's rows one at a time, in queue order (a chat that was
    just sent to goes to the back of the line) — paced by the bot's rate limiter. Outcomes are
    written in batches; a 429 stops the run and gives the untried rows back."""

    def __init__(self, courier: Courier, bot: Bot, limit: int, key_prefix: str | None) -> None:
        self.courier = courier
        self.bot = bot
        self.limit = limit
        self.key_prefix = key_prefix
        self.queues: dict[int, deque[OutboxMessage]] = {}  # claimed, untried, per chat
        self.ready: deque[int] = deque()  # chats with rows queued and none in flight
        self.queued = 0
        self.in_flight = 0
        self.claimed = 0
        self.sent = 0
        self.feeding = True
        self.stopped = False
        self.more_due = False  # a report or a migrated row was queued: claim again
        self.pause = timedelta(0)
        self.refused: dict[int, str] = {}
        self.changed = asyncio.Condition()
        self.outcomes: list[Outcome] = []
        self.oldest = 0.0
        self.writing = asyncio.Lock()
        self.memo: dict[Hashable, Any] = {}

    async def go(self) -> int:
        token = _memo.set(self.memo)
        workers = [asyncio.create_task(self._work()) for _ in range(CONCURRENCY)]
        try:
            await self._feed()
        except Exception:
            logger.exception("outbox: a delivery run stopped; its untried rows are given back")
            self.stopped = True
        except BaseException:  # cancelled: what was claimed stays 'sending' for recover()
            for worker in workers:
                worker.cancel()
            raise
        finally:
            async with self.changed:
                self.feeding = False
                self.changed.notify_all()
            await asyncio.gather(*workers, return_exceptions=True)
            _memo.reset(token)
        await self._write()
        await self._give_back()
        return self.sent

    def throttled(self, after: timedelta) -> None:
        """Telegram asked us to wait: sending the rest now would only earn more 429s and
        lengthen the wait. Nothing more starts; the untried rows wait as long."""
        self.stopped = True
        self.pause = max(self.pause, after)

    async def _feed(self) -> None:
        """Claim a batch whenever the queue runs low, until nothing more is due."""
        exhausted = False
        while not self.stopped and self.claimed < self.limit:
            async with self.changed:
                if exhausted:  # claim again only for what this run queued itself
                    await self.changed.wait_for(
                        lambda: self.stopped or (self.queued == 0 and self.in_flight == 0)
                    )
                    if self.stopped or not self.more_due:
                        return
                else:
                    await self.changed.wait_for(lambda: self.stopped or self.queued < CONCURRENCY)
                    if self.stopped:
                        return
                self.more_due = False
            await self._write()  # a row moved to its new chat must be due before claiming
            size = min(BATCH, self.limit - self.claimed)
            try:
                batch = await self.courier.outbox.claim_due(size, key_prefix=self.key_prefix)
            except Exception:
                logger.exception("could not claim due outbox rows")
                return
            exhausted = len(batch) < size
            if not batch:
                continue
            self.claimed += len(batch)
            self.memo.clear()  # renderers read matters afresh for each batch
            try:
                # Judged before any row of the batch starts.
                audience = self.courier.audience
                self.refused.update(await audience(batch) if audience is not None else {})
            except Exception:
                logger.exception("outbox: could not check the recipients of a batch")
                self.stopped = True
                self._enqueue(batch)  # given back untried
                return
            async with self.changed:
                self._enqueue(batch)
                self.changed.notify_all()

    def _enqueue(self, batch: list[OutboxMessage]) -> None:
        for message in batch:
            if message.chat_id not in self.queues:
                self.queues[message.chat_id] = deque()
                self.ready.append(message.chat_id)
            self.queues[message.chat_id].append(message)
        self.queued += len(batch)

    async def _work(self) -> None:
        while True:
            async with self.changed:
                await self.changed.wait_for(
                    lambda: self.stopped or bool(self.ready) or not self.feeding
                )
                if self.stopped or not self.ready:
                    return
                chat = self.ready.popleft()
                message = self.queues[chat].popleft()
                self.queued -= 1
                self.in_flight += 1
                self.changed.notify_all()  # the feeder may want to claim more
            try:
                await self._one(message)
            finally:
                async with self.changed:
                    self.in_flight -= 1
                    if self.queues[chat]:
                        self.ready.append(chat)
                    else:
                        del self.queues[chat]
                    self.changed.notify_all()

    async def _one(self, message: OutboxMessage) -> None:
        courier = self.courier
        try:
            reason = self.refused.pop(message.id, None)
            if reason is not None:
                logger.info("outbox %s not delivered: %s", message.key, reason)
                outcome = courier.outbox.failed(message, f"not delivered: {reason}")
            else:
                outcome = await courier._deliver(self.bot, message, self)
        except Exception:
            logger.exception(
                "outbox %s: could not tell what happened to it; it is resent as a possible "
                "repeat once no delivery run is going on",
                message.key,
            )
            return
        if outcome.delivered:
            self.sent += 1
        if not self.outcomes:
            self.oldest = time.monotonic()
        self.outcomes.append(outcome)
        if self.stopped:
            async with self.changed:
                self.changed.notify_all()
        if len(self.outcomes) >= RECORD_EVERY or time.monotonic() - self.oldest >= RECORD_WITHIN:
            await self._write()

    async def _write(self) -> None:
        """Write the outcomes collected so far in one transaction. If that fails, each is
        tried alone: a row whose outcome cannot be written is logged and stays 'sending' for
        ``Courier.recover`` (it may have been delivered)."""
        async with self.writing:
            outcomes, self.outcomes = self.outcomes, []
            outbox = self.courier.outbox
            if len(outcomes) > 1:
                try:
                    await outbox.record(outcomes)
                    return
                except Exception:
                    logger.warning("outbox: writing %s outcomes failed; one by one", len(outcomes))
            for outcome in outcomes:
                try:
                    await outbox.record([outcome])
                except Exception:
                    logger.exception(
                        "outbox %s: could not record what happened to it; it is resent as a "
                        "possible repeat once no delivery run is going on",
                        outcome.message.key,
                    )

    async def _give_back(self) -> None:
        """Rows claimed but never tried go back as they were (not uncertain, no attempt),
        due after a 429's pause or at once."""
        untried = [m for queue in self.queues.values() for m in queue]
        if not untried:
            return
        try:
            await self.courier.outbox.release(untried, self.pause)
        except Exception:
            logger.exception("outbox: could not give %s row(s) back", len(untried))
