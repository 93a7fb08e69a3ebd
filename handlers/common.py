"""What every handler module shares: the context type, the acting user, sending and keyboards."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from telegram import (
    CallbackQuery,
    Chat,
    Message,
    Update,
)
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, CallbackContext, ExtBot

from bot.domain.models import Viewer
from bot.services.coordination import Coordination
from handlers.runtime import Runtime
from handlers.sending import Keyboard, Markup, post_markup, post_text
from handlers.texts import Texts, split_html

logger = logging.getLogger(__name__)

Button = tuple[str, str]  # (label, callback data) — or (label, "url:" + link)

# Deep-link payloads of /start: an invite, or a matter to open.
INVITE_PREFIX = "i_"
CASE_PREFIX = "c_"


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """Callback context with typed access to the shared runtime."""

    @property
    def runtime(self) -> Runtime:
        return self.application.bot_data["runtime"]  # type: ignore[no-any-return]

    @property
    def svc(self) -> Coordination:
        return self.runtime.svc

    @property
    def texts(self) -> Texts:
        return self.runtime.texts


AppType = Application[Any, BotContext, Any, Any, Any, Any]


async def viewer_of(update: Update, context: BotContext) -> Viewer:
    """The user behind an update, with their language and membership."""
    user = update.effective_user
    assert user is not None
    return await context.svc.viewer(user.id, user.full_name, user.username)


def keyboard(rows: Sequence[Sequence[Button]]) -> Keyboard:
    """Inline keyboard from (label, data) pairs; data starting with ``url:`` is a link.
    Empty rows are left out."""
    return Keyboard(rows)


def page_nav(
    texts: Texts, lang: str, page: int, pages: int, data: Callable[[int], str]
) -> list[Button]:
    """◀ Previous / Next ▶ for page ``page`` (from 0) of ``pages``; ``data`` makes a page's
    button data."""
    nav: list[Button] = []
    if page > 0:
        nav.append((texts.t(lang, "◀ Previous"), data(page - 1)))
    if page + 1 < pages:
        nav.append((texts.t(lang, "Next ▶"), data(page + 1)))
    return nav


def chunk(buttons: Sequence[Button], per_row: int) -> list[list[Button]]:
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


async def send_html(
    context: BotContext,
    chat_id: int,
    html: str,
    markup: Markup | None = None,
) -> int:
    """Send a possibly long HTML text; the keyboard goes with the last part. Returns the last
    part's message id."""
    parts = split_html(html)
    message_id = 0
    for i, part in enumerate(parts):
        message_id = await post_text(
            context.bot, chat_id, part, markup if i == len(parts) - 1 else None
        )
    return message_id


# Answers in the group going out in the background at once, at most; more are dropped.
GROUP_REPLIES_WAITING = 3


async def reply(
    update: Update, context: BotContext, html: str, markup: Markup | None = None
) -> int | None:
    """Answer in the chat of the update. In a private chat the answer is sent before the
    update is done (its message id is returned); in the group it goes out in the background,
    since a group send can wait for the group's flood limit (20 messages a minute) and
    nothing else should wait with it."""
    chat = update.effective_chat
    assert chat is not None
    if chat.type == Chat.PRIVATE:
        return await send_html(context, chat.id, html, markup)
    chat_id = chat.id
    waiting = context.runtime.group_replies
    if waiting.get(chat_id, 0) >= GROUP_REPLIES_WAITING:
        # Someone keeps the group busy with commands: their answers would only queue ahead of
        # the committee's own posts under the group's flood limit.
        logger.info("chat %s has %s answers waiting; one dropped", chat_id, waiting[chat_id])
        return None
    waiting[chat_id] = waiting.get(chat_id, 0) + 1

    async def _send() -> None:
        try:
            await send_html(context, chat_id, html, markup)
        except TelegramError as exc:
            logger.warning("could not answer in chat %s: %s", chat_id, exc)
        finally:
            waiting[chat_id] -= 1
            if not waiting[chat_id]:
                del waiting[chat_id]

    context.runtime.spawn(_send())
    return None


async def ask(
    update: Update,
    context: BotContext,
    html: str,
    markup: Markup | None = None,
    *,
    query: CallbackQuery | None = None,
) -> int | None:
    """Send a conversation's next question, after its state was saved; the new message's id
    when one was sent in a private chat (None for an edit).

    If sending fails the conversation still waits for the answer (a timed-out message may
    well have arrived), so the failure is logged rather than raised: raising would leave
    python-telegram-bot's state behind the saved one. Never resent blindly."""
    try:
        if query is not None:
            await edit_or_send(query, context, html, markup)
            return None
        return await reply(update, context, html, markup)
    except TelegramError as exc:
        logger.warning("a question may not have reached the user: %s", exc)
        return None


async def notify(
    context: BotContext,
    chat_id: int,
    html: str,
    markup: Markup | None = None,
) -> int | None:
    """Send a message the bot decided to send on its own; a recipient who cannot be reached
    (never started the bot, blocked it, left the group) must not break the action that caused it.
    """
    try:
        return await send_html(context, chat_id, html, markup)
    except Forbidden as exc:
        logger.warning("cannot reach chat %s: %s", chat_id, exc.message)
    except BadRequest as exc:
        logger.error("message to chat %s rejected: %s", chat_id, exc.message)
    except TelegramError as exc:
        logger.error("message to chat %s failed: %s", chat_id, exc)
    return None


async def edit_or_send(
    query: CallbackQuery,
    context: BotContext,
    html: str,
    markup: Markup | None = None,
) -> None:
    """Replace the pressed message's text; send a new message when it cannot be edited."""
    message = query.message
    parts = split_html(html)
    if isinstance(message, Message) and len(parts) == 1:
        try:
            await post_text(
                context.bot, message.chat.id, parts[0], markup, message_id=message.message_id
            )
            return
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return
            logger.info("could not edit message: %s", exc.message)
    chat_id = message.chat.id if message is not None else query.from_user.id
    await send_html(context, chat_id, html, markup)


async def drop_keyboard(query: CallbackQuery) -> None:
    """Remove the buttons from a pressed message (stale or used up); failures do not matter.
    Only in a private chat: a group message's buttons are everyone's, whoever pressed."""
    message = query.message
    if (
        isinstance(message, Message)
        and message.chat.type == Chat.PRIVATE
        and message.reply_markup is not None
    ):
        try:
            await post_markup(message.get_bot(), message.chat.id, message.message_id, None)
        except TelegramError as exc:
            logger.debug("could not drop keyboard: %s", exc)


def is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == Chat.PRIVATE


async def private_only(update: Update, context: BotContext, viewer: Viewer) -> bool:
    """True in a private chat; elsewhere explains where to go and returns False."""
    if is_private(update):
        return True
    username = context.bot.username
    await reply(
        update,
        context,
        context.texts.render(viewer.lang, "private_only", link=f"https://t.me/{username}"),
    )
    return False


async def refuse_outside_private(update: Update, context: BotContext, viewer: Viewer) -> bool:
    """The bot's buttons act in private chats only; it puts none of them in groups, so a press
    there carries forged data. It is refused with a pointer to the private chat, and nothing
    is posted to the group or changed in it. True when refused."""
    if is_private(update):
        return False
    query = update.callback_query
    assert query is not None
    text = context.texts.t(
        viewer.lang,
        "Please use this in a private chat with me: %(link)s",
        link=f"https://t.me/{context.bot.username}",
    )
    await query.answer(text, show_alert=True)
    return True


async def answer_stale(update: Update, context: BotContext, viewer: Viewer) -> None:
    """Answer a press on a button that no longer does anything (its step or matter moved on,
    or its data is not the bot's)."""
    query = update.callback_query
    if query is not None:
        await query.answer(context.texts.t(viewer.lang, "This button is no longer active."))


async def require_member(update: Update, context: BotContext, viewer: Viewer) -> bool:
    """Members pass; anyone else is told politely who can let them in, and sees no case data."""
    if viewer.member is not None:
        return True
    await reply(
        update, context, context.texts.render(viewer.lang, "not_member", user_id=viewer.user_id)
    )
    return False


async def deliver_now(context: BotContext) -> None:
    """Start sending what the last action queued in the outbox, in the background, once
    the update is handled.

    The user's own reply does not wait for messages to other chats (the group's rate limit
    alone can hold a send for many seconds), nor for the courier's claiming and rendering:
    started while the update is still being handled, those ran between its own steps and
    delayed its answer. The periodic job would otherwise pick them up within seconds. The
    courier never raises: failures are recorded on their rows."""
    courier = context.runtime.courier
    if courier is not None:
        bot = context.bot
        context.runtime.after_update(lambda: courier.flush(bot))


def deep_link(context: BotContext, payload: str) -> str:
    return f"https://t.me/{context.bot.username}?start={payload}"
