"""/find <words>: the matters a member may see that hold the words, best first, five a page.

The query is searched by ``bot.services.find``; a list with more than one page keeps it in
the database (``searches``) so its page buttons carry a short id, not the words."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain.models import Viewer
from bot.domain.privacy import audience_of, of_kind
from bot.domain.search import MAX_QUERY, QueryProblem
from bot.services.find import Found
from handlers import buttons
from handlers.cases import CASE
from handlers.common import (
    BotContext,
    Button,
    answer_stale,
    edit_or_send,
    keyboard,
    page_nav,
    private_only,
    refuse_outside_private,
    reply,
    require_member,
    viewer_of,
)
from handlers.sending import Markup

PAGE_SIZE = 5
FIND = "fd"  # button namespace: fd:<search id>:<page>


def _page(
    context: BotContext, viewer: Viewer, found: Found, search_id: int | None, page: int
) -> tuple[str, Markup | None]:
    pages = max(1, -(-found.total // PAGE_SIZE))
    svc = context.svc
    audience = audience_of(viewer.member)
    lines = [
        # A member in a private chat sees a matter's title; privacy says so, not this module.
        (hit, of_kind(audience, svc.committee.group_detail, svc.kinds, hit.case.kind))
        for hit in found.hits
    ]
    html = context.texts.render(
        viewer.lang,
        "find",
        query=found.query.text,
        lines=lines,
        total=found.total,
        more=found.more,
        page=page + 1,
        pages=pages,
    )
    rows: list[list[Button]] = [
        [(hit.case.number, buttons.pack(CASE, "view", hit.case.id))] for hit in found.hits
    ]
    if search_id is not None:
        rows.append(
            page_nav(
                context.texts,
                viewer.lang,
                page,
                pages,
                lambda p: buttons.pack(FIND, search_id, p),
            )
        )
    rows = [r for r in rows if r]
    return html, keyboard(rows) if rows else None


async def _problem(update: Update, context: BotContext, viewer: Viewer, code: str) -> None:
    if code == "too_long":
        text = context.texts.t(
            viewer.lang,
            "That is too long to search: at most %(n)s characters.",
            n=MAX_QUERY,
        )
        await reply(update, context, text)
        return
    await reply(update, context, context.texts.render(viewer.lang, "find_usage"))


async def find_command(update: Update, context: BotContext) -> None:
    """/find 征收补偿"""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    if not await require_member(update, context, viewer):
        return
    message = update.effective_message
    text = ""
    if message is not None and message.text:
        # The words as typed (the command's arguments lose their spacing).
        text = message.text.partition(" ")[2] if " " in message.text else ""
    text = text.strip() or " ".join(context.args or []).strip()
    if not text:
        await _problem(update, context, viewer, "empty")
        return
    try:
        found = await context.svc.find(viewer, text, 0, PAGE_SIZE)
    except QueryProblem as exc:
        await _problem(update, context, viewer, exc.code)
        return
    search_id = None
    if found.total > PAGE_SIZE:
        search_id = await context.svc.save_search(viewer, found.query.text)
    await reply(update, context, *_page(context, viewer, found, search_id, 0))


async def find_page_pressed(update: Update, context: BotContext) -> None:
    """A page of a search: ``fd:<search id>:<page>``."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    if await refuse_outside_private(update, context, viewer):
        return
    parts = buttons.unpack(query.data, FIND, parts=(2,)) or ["", ""]
    search_id, page = buttons.number(parts[0]), buttons.number(parts[1])
    shown = None
    if viewer.member is not None and search_id is not None and page is not None and page < 1000:
        words = await context.svc.saved_search(viewer, search_id)
        if words is not None:
            try:
                found = await context.svc.find(viewer, words, page * PAGE_SIZE, PAGE_SIZE)
            except QueryProblem:
                found = None
            if found is not None and found.hits:
                shown = _page(context, viewer, found, search_id, page)
    if shown is None:
        await answer_stale(update, context, viewer)
        return
    await query.answer()
    await edit_or_send(query, context, *shown)


def build_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [
        CommandHandler("find", find_command),
        CallbackQueryHandler(find_page_pressed, pattern=r"^fd:"),
    ]
