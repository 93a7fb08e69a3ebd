"""Telegram's command menus, per role (``bot.domain.menus``), kept in step with the members.

Each member's private chat gets a menu of its own (``BotCommandScopeChat``) in their
language; everyone else sees the stranger's menu in private chats and the group's menu in
groups. What was last set is kept as a digest per chat (settings ``menu:*``), so only menus
that changed are sent: at start-up (a role, a language or the committee file may have changed
while the bot was down) and after a member joins, changes language or is revoked — in the
background, never awaited by the update that caused it. A failed call leaves the old digest,
so the next start-up sends it again. The digests of one sync are written together when it
ends (one write transaction, not one per chat): a crash before that only sends those menus
again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Sequence

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
)
from telegram.error import TelegramError

from bot.domain import menus
from bot.i18n import DEFAULT_LANG, gettext_for
from bot.services.members import MENU_PREFIX
from handlers.common import BotContext
from handlers.runtime import Runtime

logger = logging.getLogger(__name__)

# Telegram addresses menus by two-letter language codes; no code is the fallback.
TELEGRAM_LANG = {"zh_CN": "zh", "en": "en"}
SHARED_KEY = MENU_PREFIX + "shared"


def commands(lang: str, menu: Sequence[menus.Command]) -> list[BotCommand]:
    return [BotCommand(command, gettext_for(lang, msgid)) for command, msgid in menu]


def digest(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def shared_menus() -> list[tuple[BotCommandScope, str | None, list[BotCommand]]]:
    """The menus of everyone without one of their own: (scope, language code, commands).
    A private chat falls back to all-private-chats, so the stranger's menu goes there (and
    to the default scope, for clients that ask for nothing narrower)."""
    found: list[tuple[BotCommandScope, str | None, list[BotCommand]]] = []
    for lang, code in [(DEFAULT_LANG, None), *TELEGRAM_LANG.items()]:
        found.append((BotCommandScopeAllPrivateChats(), code, commands(lang, menus.STRANGER_MENU)))
        found.append((BotCommandScopeAllGroupChats(), code, commands(lang, menus.GROUP_MENU)))
    found.append((BotCommandScopeDefault(), None, commands(DEFAULT_LANG, menus.STRANGER_MENU)))
    return found


def _plain(scope: BotCommandScope, code: str | None, cmds: list[BotCommand]) -> object:
    return [scope.type, code, [(c.command, c.description) for c in cmds]]


async def sync(bot: Bot, runtime: Runtime, user_ids: Collection[int] | None = None) -> int:
    """Send the menus that differ from what was last set: everyone's (``user_ids`` None,
    at start-up), or those members' private chats. Returns how many calls were made.
    Never raises: a menu is a convenience, and the bot works without it."""
    try:
        async with runtime.menu_lock:  # two at once would only send the same twice
            return await _sync(bot, runtime, user_ids)
    except Exception:
        logger.exception("command menus: could not bring them up to date")
        return 0


async def _sync(bot: Bot, runtime: Runtime, user_ids: Collection[int] | None) -> int:
    done: dict[str, str | None] = {}  # menus set (None: removed), written when the sync ends
    try:
        return await _send_menus(bot, runtime, user_ids, done)
    finally:
        if done:
            await runtime.svc.store_menus(done)


async def _send_menus(
    bot: Bot, runtime: Runtime, user_ids: Collection[int] | None, done: dict[str, str | None]
) -> int:
    svc = runtime.svc
    calls = 0
    keys = None if user_ids is None else [MENU_PREFIX + str(u) for u in user_ids]
    stored = await svc.stored_menus(keys)
    if user_ids is None:
        shared = shared_menus()
        wanted = digest([_plain(*menu) for menu in shared])
        if stored.get(SHARED_KEY) != wanted:
            try:
                for scope, code, cmds in shared:
                    await bot.set_my_commands(cmds, scope=scope, language_code=code)
                    calls += 1
            except TelegramError as exc:
                logger.warning("could not set the shared command menus: %s", exc)
            else:
                done[SHARED_KEY] = wanted
    members = await svc.menu_members(user_ids)
    had = {int(key[len(MENU_PREFIX) :]) for key in stored if key != SHARED_KEY}
    for user_id in sorted(set(members) | had):
        key = MENU_PREFIX + str(user_id)
        scope = BotCommandScopeChat(user_id)
        viewer = members.get(user_id)
        try:
            if viewer is None or viewer.member is None:  # revoked: the stranger's menu again
                await bot.delete_my_commands(scope=scope)
                calls += 1
                done[key] = None
                continue
            menu = menus.member_menu(viewer.member, runtime.kinds, svc.committee)
            cmds = commands(viewer.lang, menu)
            wanted = digest(_plain(scope, None, cmds))
            if stored.get(key) == wanted:
                continue
            await bot.set_my_commands(cmds, scope=scope)
            calls += 1
            done[key] = wanted
        except TelegramError as exc:  # e.g. an admin who never opened the chat
            logger.info("could not set the command menu of chat %s: %s", user_id, exc)
    if calls:
        logger.info("command menus: %s call(s) made", calls)
    return calls


def refresh(context: BotContext, *user_ids: int) -> None:
    """After a member joined, changed language or was revoked: their menu, in the
    background (the update that caused it does not wait for Telegram)."""
    context.runtime.spawn(sync(context.bot, context.runtime, user_ids))
