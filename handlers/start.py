"""Getting in: /start (with invite or case deep links), /help, /whoami and /lang."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, TypeHandler, filters

from bot.domain import rules
from bot.domain.errors import DomainError
from bot.i18n import LANGS
from handlers import buttons, menus
from handlers.cases import show_case
from handlers.common import (
    CASE_PREFIX,
    INVITE_PREFIX,
    BotContext,
    answer_stale,
    edit_or_send,
    is_private,
    keyboard,
    private_only,
    reply,
    require_member,
    viewer_of,
)

LANG = "lang"  # button namespace: a language chosen under /lang


async def start(update: Update, context: BotContext) -> None:
    """Entry of every user: an invite link, a link to a case, or a plain /start."""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    payload = context.args[0] if context.args else ""
    texts = context.texts
    if payload.startswith(INVITE_PREFIX):
        user = update.effective_user
        assert user is not None
        try:
            member = await context.svc.redeem_invite(
                payload[len(INVITE_PREFIX) :], viewer, user.full_name
            )
        except DomainError as exc:
            await reply(
                update, context, texts.render(viewer.lang, "error", code=exc.code, **exc.params)
            )
            return
        menus.refresh(context, member.user_id)
        viewer = await viewer_of(update, context)
        await reply(update, context, texts.render(viewer.lang, "joined", member=member))
        await reply(update, context, texts.render(viewer.lang, "help", member=member))
        return
    if not await require_member(update, context, viewer):
        return
    case_id = None
    if payload.startswith(CASE_PREFIX):
        case_id = rules.parse_id(payload[len(CASE_PREFIX) :])
    if case_id is not None:
        try:
            case = await context.svc.get_case(case_id)
        except DomainError as exc:
            await reply(update, context, texts.render(viewer.lang, "error", code=exc.code))
            return
        await show_case(update, context, viewer, case)
        return
    await reply(update, context, texts.render(viewer.lang, "help", member=viewer.member))


async def help_command(update: Update, context: BotContext) -> None:
    """A member's commands; to anyone else, how to get in and what they can do meanwhile."""
    viewer = await viewer_of(update, context)
    if viewer.member is None:
        html = context.texts.render(viewer.lang, "stranger_help", user_id=viewer.user_id)
        await reply(update, context, html)
        return
    await reply(update, context, context.texts.render(viewer.lang, "help", member=viewer.member))


async def whoami(update: Update, context: BotContext) -> None:
    """Membership details: private, never posted to the group."""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    await reply(update, context, context.texts.render(viewer.lang, "whoami", viewer=viewer))


# What may follow /lang to name a language at once: /lang en, /lang zh, /lang 中文.
LANG_ARGS = {
    "en": "en",
    "english": "en",
    "zh": "zh_CN",
    "zh_cn": "zh_CN",
    "zh-cn": "zh_CN",
    "cn": "zh_CN",
    "中文": "zh_CN",
}


async def choose_lang(update: Update, context: BotContext) -> None:
    """/lang asks which language; /lang en (or zh) sets it directly, as people expect."""
    viewer = await viewer_of(update, context)
    lang = LANG_ARGS.get((context.args or [""])[0].strip().lower()) if context.args else None
    if lang is not None:
        viewer = await context.svc.set_lang(viewer, lang)
        if viewer.member is not None:  # their menu is in their language
            menus.refresh(context, viewer.user_id)
        await reply(update, context, context.texts.render(viewer.lang, "lang_set"))
        return
    labels = {"zh_CN": "简体中文", "en": "English"}
    await reply(
        update,
        context,
        context.texts.render(viewer.lang, "lang_choose"),
        keyboard([[(labels[lang], buttons.pack(LANG, lang)) for lang in LANGS]]),
    )


LANG_LABELS = {"zh_CN": "中文", "en": "English"}  # each in its own language


def _offers_english(update: Update) -> bool:
    """A message in a private chat from someone whose Telegram speaks English (not /lang,
    which asks the question itself)."""
    user = update.effective_user
    message = update.effective_message
    return (
        user is not None
        and (user.language_code or "").lower().startswith("en")
        and bool(_UNEXPECTED_MESSAGE.check_update(update))
        and not (message is not None and (message.text or "").startswith("/lang"))
    )


async def offer_english(update: Update, context: BotContext) -> None:
    """After the answer to the first message of a user whose Telegram is in English: the
    bot speaks Chinese by default, so offer English, in both languages, once."""
    if not _offers_english(update):
        return
    viewer = await viewer_of(update, context)
    if not await context.svc.offer_lang_once(viewer):
        return
    texts = context.texts
    html = "\n".join(texts.render(lang, "lang_offer") for lang in ("en", "zh_CN"))
    await reply(
        update,
        context,
        html,
        keyboard([[(LANG_LABELS[lang], buttons.pack(LANG, lang)) for lang in LANGS]]),
    )


def build_offer() -> BaseHandler[Update, BotContext, None]:
    """In a group after everything else, so the offer comes under the answer."""
    return TypeHandler(Update, offer_english)


async def lang_chosen(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    found = buttons.unpack(query.data, LANG, parts=(1,))
    lang = found[0] if found else ""
    viewer = await viewer_of(update, context)
    if lang not in LANGS:
        await answer_stale(update, context, viewer)
        return
    viewer = await context.svc.set_lang(viewer, lang)
    if viewer.member is not None:  # their menu is in their language
        menus.refresh(context, viewer.user_id)
    if not is_private(update):  # a group's message is everyone's: answer the presser alone
        await query.answer(context.texts.t(viewer.lang, "Language set to English."))
        return
    await query.answer()
    await edit_or_send(query, context, context.texts.render(viewer.lang, "lang_set"))


async def nothing_to_cancel(update: Update, context: BotContext) -> None:
    """/cancel (it is in the menu) when no conversation is open: say so, not "I did not
    understand"."""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    if not await require_member(update, context, viewer):
        return
    text = context.texts.t(viewer.lang, "There is nothing to cancel.")
    await reply(update, context, context.texts.render(viewer.lang, "plain", text=text))


def build_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    """After the conversations, which take /cancel first while one of them is open."""
    return [
        CommandHandler("start", start),
        CommandHandler("cancel", nothing_to_cancel),
        CommandHandler("help", help_command),
        CommandHandler("whoami", whoami),
        CommandHandler("lang", choose_lang),
        CallbackQueryHandler(lang_chosen, pattern=r"^lang:"),
    ]


async def unknown(update: Update, context: BotContext) -> None:
    """Whatever no flow expects: a hint for members, the polite explanation for others."""
    viewer = await viewer_of(update, context)
    if not await require_member(update, context, viewer):
        return
    await reply(update, context, context.texts.render(viewer.lang, "hint"))


async def unknown_button(update: Update, context: BotContext) -> None:
    """A press no handler took: forged data, or a button of an older version of the bot.
    Answered, so the button does not keep spinning; nothing else happens."""
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    await answer_stale(update, context, viewer)


_UNEXPECTED_MESSAGE = (
    filters.ChatType.PRIVATE & ~filters.UpdateType.EDITED & ~filters.StatusUpdate.ALL
)


async def leftover(update: Update, context: BotContext) -> None:
    if update.callback_query is not None:
        await unknown_button(update, context)
    elif _UNEXPECTED_MESSAGE.check_update(update):
        await unknown(update, context)


def build_fallback() -> BaseHandler[Update, BotContext, None]:
    """Last of all: private messages no flow expects, and button presses nobody handled."""
    return TypeHandler(Update, leftover)
