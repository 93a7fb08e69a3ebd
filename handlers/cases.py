"""Looking at matters: /case <number>, /my (paginated), and a case's documents."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import privacy, rules
from bot.domain.committee import GroupDetail
from bot.domain.errors import DomainError, NotAllowed
from bot.domain.models import Case, Viewer
from bot.i18n import N_
from bot.services.cases import ALL, OVERDUE, RAISED, TODO
from handlers import buttons
from handlers.actions import case_markup
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

logger = logging.getLogger(__name__)

PAGE_SIZE = 5
CASE, MY = "c", "my"  # button namespaces: a matter's view or documents, a page of /my


async def show_case(update: Update, context: BotContext, viewer: Viewer, case: Case) -> None:
    """Details and history, to those allowed to see them."""
    try:
        events = await context.svc.case_for_viewer(viewer, case)
    except DomainError as exc:
        await reply(update, context, context.texts.render(viewer.lang, "error", code=exc.code))
        return
    kind = context.svc.kinds[case.kind]
    seen = rules.addressees_seen(viewer.member, case, context.svc.committee, kind)
    html = context.texts.render(
        viewer.lang,
        "case",
        case=replace(case, assignments=seen),
        kind=kind,
        events=events,
        shown=privacy.disclosure(privacy.audience_of(viewer.member), GroupDetail.FULL),
    )
    await reply(update, context, html, case_markup(context, viewer, case))


async def case_command(update: Update, context: BotContext) -> None:
    """/case 协调〔2026〕12号"""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    if not await require_member(update, context, viewer):
        return
    number = " ".join(context.args or []).strip()
    if not number:
        await reply(update, context, context.texts.render(viewer.lang, "case_usage"))
        return
    try:
        case = await context.svc.find_case(number)
    except DomainError as exc:
        await reply(
            update,
            context,
            context.texts.render(viewer.lang, "error", code=exc.code, number=number[:64]),
        )
        return
    await show_case(update, context, viewer, case)


# /my's lists, as buttons: (view, label). The whole list comes first.
MY_VIEWS: tuple[tuple[str, str], ...] = (
    (ALL, N_("All")),
    (TODO, N_("Waiting for me")),
    (RAISED, N_("Raised by us")),
    (OVERDUE, N_("Overdue")),
)


@dataclass(frozen=True, slots=True)
class MyLine:
    """One matter on /my: its nearest deadline the viewer may see, and how many working days
    it is late (None: not yet due)."""

    case: Case
    due: date | None
    late: int | None


def _line(context: BotContext, viewer: Viewer, case: Case, today: date) -> MyLine:
    kind = context.svc.kinds[case.kind]
    seen = rules.addressees_seen(viewer.member, case, context.svc.committee, kind)
    due = min((a.due for a in seen if a.due is not None), default=None)
    late = None
    if due is not None and due < today:
        late = context.svc.calendar.working_days_between(due, today)
    return MyLine(case, due, late)


async def _my_page(
    context: BotContext, viewer: Viewer, page: int, view: str = ALL
) -> tuple[str, Markup | None] | None:
    """Page ``page`` of one of the viewer's lists of open matters, nearest deadline first;
    None when there is no such page (any more: matters were closed since the page buttons
    were made)."""
    svc = context.svc
    cases, total = await svc.open_cases(viewer, page * PAGE_SIZE, PAGE_SIZE, view)
    pages = max(1, -(-total // PAGE_SIZE))
    if page >= pages:
        return None
    today = svc.clock.now().astimezone(svc.tz).date()
    html = context.texts.render(
        viewer.lang,
        "my",
        lines=[_line(context, viewer, c, today) for c in cases],
        title=N_("Open matters") if view == ALL else dict(MY_VIEWS)[view],
        view=view,
        total=total,
        page=page + 1,
        pages=pages,
    )
    rows: list[list[Button]] = [[(c.number, buttons.pack(CASE, "view", c.id))] for c in cases]
    rows.append(
        page_nav(context.texts, viewer.lang, page, pages, lambda p: buttons.pack(MY, view, p))
    )
    if total or view != ALL:  # nothing open at all: no list to choose
        rows.append(
            [
                (
                    ("• " if code == view else "") + context.texts.t(viewer.lang, label),
                    buttons.pack(MY, code, 0),
                )
                for code, label in MY_VIEWS
            ]
        )
    rows = [r for r in rows if r]
    return html, keyboard(rows) if rows else None


async def my_command(update: Update, context: BotContext) -> None:
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    if not await require_member(update, context, viewer):
        return
    shown = await _my_page(context, viewer, 0)
    assert shown is not None  # the first page always exists
    await reply(update, context, *shown)


async def my_page_pressed(update: Update, context: BotContext) -> None:
    """A page or a list of /my: ``my:<view>:<page>`` (``my:<page>`` from before the lists)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    if await refuse_outside_private(update, context, viewer):
        return
    found = buttons.unpack(query.data, MY, parts=(1, 2))
    view, page = ALL, None
    if found:
        view = found[0] if len(found) == 2 else ALL
        page = buttons.number(found[-1])
    shown = None
    if viewer.member is not None and page is not None and page <= 10_000 and view in dict(MY_VIEWS):
        shown = await _my_page(context, viewer, page, view)
    if shown is None:
        await answer_stale(update, context, viewer)
        return
    await query.answer()
    await edit_or_send(query, context, *shown)


async def view_pressed(update: Update, context: BotContext) -> None:
    """A case number button (from /my) or a documents button."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    if await refuse_outside_private(update, context, viewer):
        return
    parts = buttons.unpack(query.data, CASE, parts=(2,)) or ["", ""]
    action, case_id = parts[0], buttons.number(parts[1])
    if viewer.member is None or case_id is None or action not in ("view", "files"):
        await answer_stale(update, context, viewer)
        return
    try:
        case = await context.svc.get_case(case_id)
        if not rules.can_view(viewer.member, case, context.svc.committee):
            raise NotAllowed("cannot_view")
    except DomainError as exc:
        if exc.code == "cannot_view":
            text = context.texts.t(viewer.lang, "You cannot see this matter.")
        else:
            text = context.texts.t(viewer.lang, "This matter no longer exists.")
        await query.answer(text, show_alert=True)
        return
    await query.answer()
    if action == "view":
        await show_case(update, context, viewer, case)
        return
    chat_id = viewer.user_id
    for f in case.files:
        try:
            if f.media == "photo":
                await context.bot.send_photo(chat_id, f.file_id, caption=case.number)
            else:
                await context.bot.send_document(chat_id, f.file_id, caption=case.number)
        except TelegramError as exc:
            logger.warning("could not send a file of case %s: %s", case.id, exc)


def build_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [
        CommandHandler("case", case_command),
        CommandHandler("my", my_command),
        CallbackQueryHandler(my_page_pressed, pattern=r"^my:"),
        CallbackQueryHandler(view_pressed, pattern=r"^c:(view|files):"),
    ]
