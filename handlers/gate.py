"""Which chats the bot talks in: private chats and the committee group, nothing else.

Anyone can add a bot to a group. Before this gate a stranger's group could keep the bot busy
with commands, each answered with a group send; now every update from a chat other than a
private one and the bound committee group stops here, before it costs a database write. Once
a committee group is bound, the bot leaves any other group it finds itself in (unless an office
admin put it there, to move the committee with ``/bindgroup``, or it is the committee group's
own new id after an upgrade to a supergroup). Before that, the only thing it
answers in a group is ``/bindgroup`` (and that only for an office admin).
"""

from __future__ import annotations

import logging

from telegram import Chat, Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, BaseHandler, TypeHandler

from bot.domain import rules
from handlers.common import BotContext

logger = logging.getLogger(__name__)

BIND_COMMAND = "bindgroup"


def is_bind_command(update: Update, bot_username: str | None) -> bool:
    """``/bindgroup`` or ``/bindgroup@<this bot>`` as a group message."""
    message = update.message
    if message is None or not message.text:
        return False
    head = message.text.split(maxsplit=1)[0] if message.text.strip() else ""
    command, _, target = head.partition("@")
    if command != f"/{BIND_COMMAND}":
        return False
    return not target or (bot_username is not None and target.lower() == bot_username.lower())


def concerns_group(update: Update, group_id: int | None) -> bool:
    """The update is from the committee group, or announces that group's move to a new id
    (a group that becomes a supergroup speaks once from each id)."""
    chat = update.effective_chat
    if chat is None or group_id is None:
        return False
    if chat.id == group_id:
        return True
    message = update.effective_message
    return message is not None and message.migrate_from_chat_id == group_id


async def admit(update: Update, context: BotContext) -> None:
    """First of all handlers: updates from chats the bot does not serve stop here."""
    chat = update.effective_chat
    if chat is None or chat.type == Chat.PRIVATE:
        return
    group_id = await context.svc.group_chat_id()
    if concerns_group(update, group_id):
        message = update.effective_message
        if message is not None and message.migrate_to_chat_id:
            # Noted before anything is awaited: members' updates from the new id may be
            # handled side by side with this one, before the binding has moved.
            context.runtime.adopted_groups.add(message.migrate_to_chat_id)
        return
    if chat.type in (Chat.GROUP, Chat.SUPERGROUP) and is_bind_command(update, context.bot.username):
        return  # the office binds (or moves) the committee group; bind_group checks who asks
    if group_id is not None and not await _stays(update, context, chat.id):
        leave(context, chat.id)
    raise ApplicationHandlerStop


async def _stays(update: Update, context: BotContext, chat_id: int) -> bool:
    """Whether the bot stays, silent, in a group that is not the committee group: an office
    admin brought it there (or speaks there), to move the committee with /bindgroup, whatever
    others say there first; or it is the committee group's new id after an upgrade to a
    supergroup, announced but not yet recorded."""
    adopted = context.runtime.adopted_groups
    if chat_id in adopted:
        return True
    user = update.effective_user
    if user is None or user.is_bot:
        return False
    viewer = await context.svc.viewer(user.id, user.full_name, user.username)
    if rules.is_admin(viewer.member):
        adopted.add(chat_id)
        return True
    return False


def leave(context: BotContext, chat_id: int) -> None:
    """Leave a chat that is not the committee group, in the background."""
    logger.info("leaving chat %s: it is not the committee group", chat_id)

    async def _leave() -> None:
        try:
            await context.bot.leave_chat(chat_id)
        except TelegramError as exc:
            logger.info("could not leave chat %s: %s", chat_id, exc)

    context.runtime.spawn(_leave())


def build_handler() -> BaseHandler[Update, BotContext, None]:
    return TypeHandler(Update, admit)
