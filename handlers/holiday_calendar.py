"""/calendar: the office keeps the holiday calendar from chat.

``/calendar`` asks for the text of the State Council's notice on next year's holidays (or, when
that year is stored already, shows it and offers to replace it); ``/calendar 2027`` shows a
year as the bot counts it now. The pasted notice is read (``bot.domain.holiday_notice``) and
shown as a month view with Confirm / Cancel; Confirm stores it and counts the open matters'
deadlines again (``bot.services.holiday_calendar``).

A notice longer than one message arrives in parts (Telegram cuts a message at 4,096
characters): a part that leaves the notice incomplete, or that is as long as a cut message,
is kept and the next message read on after it. The conversation is saved as a draft (flow
``calendar``) at every step, so a restart resumes it; each preview's buttons carry a token,
so a button of an earlier preview, or of one confirmed or cancelled, does nothing.
"""

from __future__ import annotations

import calendar as month_calendar
import logging
import secrets
from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.domain import rules
from bot.domain.errors import DomainError
from bot.domain.holiday_notice import HolidayNotice, NoticeProblem, parse_notice
from bot.domain.models import Draft, Viewer
from bot.i18n import N_
from bot.services.holiday_calendar import StoredYear, notice_hash
from handlers import buttons, forms
from handlers.common import (
    BotContext,
    Button,
    answer_stale,
    deliver_now,
    drop_keyboard,
    keyboard,
    private_only,
    refuse_outside_private,
    reply,
    viewer_of,
)

logger = logging.getLogger(__name__)

NAME = "calendar"  # the ConversationHandler's name and the drafts' flow
END = ConversationHandler.END
AWAITING_NOTICE = "CAL_AWAITING_NOTICE"
AWAITING_CONFIRMATION = "CAL_AWAITING_CONFIRMATION"
CAL = "cal"  # buttons: cal:ok:<token>, cal:no:<token>, cal:new
# A message at least this long may have been cut by Telegram (at 4,096 characters): the next
# message is read as its continuation.
LONG_MESSAGE = 3500
MAX_NOTICE = 20_000  # characters of a notice, all its parts together
# What a part that leaves the notice unfinished is told: send the rest.
_UNFINISHED = frozenset({"notice_incomplete", "notice_no_items"})

HOLIDAY_LABELS = {
    "元旦": N_("New Year's Day"),
    "春节": N_("Spring Festival"),
    "清明节": N_("Qingming Festival"),
    "劳动节": N_("Labour Day"),
    "端午节": N_("Dragon Boat Festival"),
    "中秋节": N_("Mid-Autumn Festival"),
    "国庆节": N_("National Day"),
}


# ----------------------------------------------------------------------------- showing


def month_grid(
    context: BotContext,
    lang: str,
    year: int,
    month: int,
    off: Collection[date],
    on: Collection[date],
) -> str:
    """One month, Monday first, in monospace: ``*`` after a day off, ``+`` after a make-up
    working day. Every cell is four columns (a Chinese weekday name is two)."""
    names = context.texts.weekdays(lang)
    pad = 2 if lang == "zh_CN" else 3
    lines = ["".join(n + " " * pad for n in names).rstrip()]
    for week in month_calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        cells = []
        for day in week:
            if day.month != month:
                cells.append("    ")
                continue
            mark = "*" if day in off else "+" if day in on else " "
            cells.append(f"{day.day:>2}{mark} ")
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


def _months(
    context: BotContext,
    lang: str,
    months: Sequence[tuple[int, int]],
    off: Collection[date],
    on: Collection[date],
) -> list[tuple[str, str]]:
    return [
        (
            context.texts.month_title(lang, date(y, m, 1)),
            month_grid(context, lang, y, m, off, on),
        )
        for y, m in months
    ]


def _names(context: BotContext, lang: str, names: Sequence[str]) -> str:
    """Holidays' names in the reader's language (the notice writes them in Chinese)."""
    texts = context.texts
    return texts.join(lang, (texts.t(lang, HOLIDAY_LABELS.get(n, n)) for n in names))


def _holiday_lines(context: BotContext, lang: str, notice: HolidayNotice) -> list[dict[str, Any]]:
    return [
        {
            "name": _names(context, lang, h.names),
            "first": h.first,
            "last": h.last,
            "days": len(h.days),
        }
        for h in notice.holidays
    ]


def notice_view(
    context: BotContext,
    lang: str,
    notice: HolidayNotice,
    mode: str,
    stored: StoredYear | None = None,
) -> str:
    """A notice's year as the office checks it: its holidays, its make-up working days, and
    a month view of every month it changes. ``mode``: "preview" or "stored"."""
    return context.texts.render(
        lang,
        "calendar_view",
        mode=mode,
        year=notice.year,
        holidays=_holiday_lines(context, lang, notice),
        workdays=sorted(notice.workdays),
        months=_months(context, lang, notice.months(), notice.days_off, notice.workdays),
        stored=stored,
        source="notice",
    )


def current_view(context: BotContext, lang: str, year: int) -> str:
    """A year as the bot counts it now, from whichever source it has."""
    calendar = context.svc.calendar
    off, on = calendar.marks(year)
    months = sorted({(d.year, d.month) for d in off | on})
    return context.texts.render(
        lang,
        "calendar_view",
        mode="current",
        year=year,
        holidays=[],
        workdays=sorted(on),
        months=_months(context, lang, months, off, on),
        stored=None,
        source=calendar.source(date(year, 6, 1)),
    )


# ------------------------------------------------------------------------------ asking


async def _office(update: Update, context: BotContext) -> Viewer | None:
    """The office member asking, in a private chat; anyone else is told and gets None."""
    viewer = await viewer_of(update, context)
    if update.callback_query is not None:
        if await refuse_outside_private(update, context, viewer):
            return None
    elif not await private_only(update, context, viewer):
        return None
    if not rules.is_admin(viewer.member):
        if update.callback_query is not None:
            await update.callback_query.answer()
        await reply(update, context, context.texts.render(viewer.lang, "error", code="admin_only"))
        return None
    return viewer


async def _save(context: BotContext, viewer: Viewer, state: str, **data: Any) -> None:
    await context.svc.save_draft(Draft(viewer.user_id, NAME, state, data))


async def _ask(update: Update, context: BotContext, viewer: Viewer) -> str:
    await _save(context, viewer, AWAITING_NOTICE, parts=[])
    await reply(update, context, context.texts.render(viewer.lang, "calendar_ask"))
    return AWAITING_NOTICE


def _offer(context: BotContext, lang: str, replace: bool) -> Any:
    label = N_("Replace from a new notice") if replace else N_("Paste the notice")
    return keyboard([[(context.texts.t(lang, label), buttons.pack(CAL, "new"))]])


async def calendar_command(update: Update, context: BotContext) -> object:
    """/calendar (next year: ask for its notice, or show it when stored) or /calendar 2027."""
    viewer = await _office(update, context)
    if viewer is None:
        return END
    if await forms.load(update, context) is not None:
        await reply(update, context, context.texts.render(viewer.lang, "error", code="busy_form"))
        return END
    svc = context.svc
    lang = viewer.lang
    args = context.args or []
    today = svc.today()
    if args:
        # isdecimal, not isdigit: 「²」 and 「①」 are digits that int() refuses.
        year = int(args[0]) if len(args) == 1 and args[0].isdecimal() else 0
        if not 2000 <= year <= 2100:
            await reply(update, context, context.texts.render(lang, "calendar_usage"))
            return END
        await svc.delete_draft(viewer.user_id, NAME)
        stored = await svc.stored_year(year)
        html = (
            notice_view(context, lang, stored.notice, "stored", stored)
            if stored is not None
            else current_view(context, lang, year)
        )
        offer = _offer(context, lang, stored is not None) if year >= today.year else None
        await reply(update, context, html, offer)
        return END
    stored = await svc.stored_year(today.year + 1)
    if stored is not None:
        await svc.delete_draft(viewer.user_id, NAME)
        html = notice_view(context, lang, stored.notice, "stored", stored)
        await reply(update, context, html, _offer(context, lang, True))
        return END
    return await _ask(update, context, viewer)


async def paste_pressed(update: Update, context: BotContext) -> object:
    """「Paste the notice」 under a year shown: ask for it."""
    query = update.callback_query
    assert query is not None
    viewer = await _office(update, context)
    if viewer is None:
        return END
    if await forms.load(update, context) is not None:
        await query.answer(context.texts.t(viewer.lang, "Finish what you are doing first."))
        return END
    await query.answer()
    await drop_keyboard(query)
    return await _ask(update, context, viewer)


async def text_received(update: Update, context: BotContext) -> object:
    """A notice, or a part of one."""
    message = update.effective_message
    assert message is not None and message.text is not None
    viewer = await _office(update, context)
    if viewer is None:  # no longer of the office: told so, and the update is dropped
        user = update.effective_user
        if user is not None:
            await context.svc.delete_draft(user.id, NAME)
        return END
    svc = context.svc
    lang = viewer.lang
    draft = await svc.load_draft(viewer.user_id, NAME)
    parts: list[str] = list(draft.data.get("parts") or []) if draft is not None else []
    waiting = draft is not None and draft.state == AWAITING_NOTICE
    if parts and not (waiting or len(parts[-1]) >= LONG_MESSAGE):
        parts = []  # a new notice in place of the one previewed
    parts.append(message.text)
    text = "\n".join(parts)
    if len(text) > MAX_NOTICE:
        await _save(context, viewer, AWAITING_NOTICE, parts=[])
        html = context.texts.render(
            lang, "calendar_problem", code="notice_too_long", line="", params={"max": MAX_NOTICE}
        )
        await reply(update, context, html)
        return AWAITING_NOTICE
    try:
        notice = parse_notice(text)
        svc.check_notice_year(notice)
    except NoticeProblem as problem:
        if problem.code in _UNFINISHED or len(message.text) >= LONG_MESSAGE:
            await _save(context, viewer, AWAITING_NOTICE, parts=parts)
            missing = str(problem.params.get("missing") or "")
            html = context.texts.render(
                lang,
                "calendar_part",
                missing=_names(context, lang, [n for n in missing.split("、") if n]),
                parts=len(parts),
            )
            await reply(update, context, html)
            return AWAITING_NOTICE
        await _save(context, viewer, AWAITING_NOTICE, parts=[])
        await _problem(update, context, lang, problem)
        return AWAITING_NOTICE
    except DomainError as problem:
        await _save(context, viewer, AWAITING_NOTICE, parts=[])
        await _problem(update, context, lang, problem)
        return AWAITING_NOTICE
    token = secrets.token_hex(4)
    await _save(context, viewer, AWAITING_CONFIRMATION, parts=parts, token=token, year=notice.year)
    rows: list[list[Button]] = [
        [
            (context.texts.t(lang, "✅ Confirm"), buttons.pack(CAL, "ok", token)),
            (context.texts.t(lang, "✖ Cancel"), buttons.pack(CAL, "no", token)),
        ]
    ]
    await reply(update, context, notice_view(context, lang, notice, "preview"), keyboard(rows))
    return AWAITING_CONFIRMATION


async def _problem(update: Update, context: BotContext, lang: str, problem: DomainError) -> None:
    params = {k: v for k, v in problem.params.items() if k != "line"}
    if "missing" in params:
        params["missing"] = _names(context, lang, str(params["missing"]).split("、"))
    html = context.texts.render(
        lang,
        "calendar_problem",
        code=problem.code,
        line=str(problem.params.get("line") or ""),
        params=params,
    )
    await reply(update, context, html)


async def decision_pressed(update: Update, context: BotContext) -> object:
    """Confirm or Cancel under a preview: only the latest preview's buttons act."""
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    if await refuse_outside_private(update, context, viewer):
        return None
    found = buttons.unpack(query.data, CAL, parts=(2,))
    draft = await context.svc.load_draft(viewer.user_id, NAME)
    if (
        found is None
        or draft is None
        or draft.state != AWAITING_CONFIRMATION
        or draft.data.get("token") != found[1]
    ):
        await answer_stale(update, context, viewer)
        return None
    lang = viewer.lang
    if found[0] == "no":
        await context.svc.delete_draft(viewer.user_id, NAME)
        await query.answer()
        await drop_keyboard(query)
        await reply(update, context, context.texts.render(lang, "calendar_cancelled"))
        return END
    if found[0] != "ok":
        await answer_stale(update, context, viewer)
        return None
    text = "\n".join(draft.data.get("parts") or [])
    try:
        notice = parse_notice(text)
        change = await context.svc.confirm_notice(viewer, notice, notice_hash(text), finishes=NAME)
    except DomainError as problem:
        await query.answer()
        await drop_keyboard(query)
        if problem.code == "admin_only":
            await context.svc.delete_draft(viewer.user_id, NAME)
            await reply(update, context, context.texts.render(lang, "error", code="admin_only"))
            return END
        await _problem(update, context, lang, problem)
        return None
    await query.answer(context.texts.t(lang, "Saved."))
    await drop_keyboard(query)
    html = context.texts.render(
        lang, "calendar_saved", year=change.year, replaced=change.replaced, moved=change.moved
    )
    await reply(update, context, html)
    await deliver_now(context)
    return END


async def cancel(update: Update, context: BotContext) -> object:
    viewer = await viewer_of(update, context)
    await context.svc.delete_draft(viewer.user_id, NAME)
    await reply(update, context, context.texts.render(viewer.lang, "calendar_cancelled"))
    return END


async def stale_pressed(update: Update, context: BotContext) -> None:
    """A preview's button when no preview waits (confirmed, cancelled, or replaced)."""
    viewer = await viewer_of(update, context)
    await answer_stale(update, context, viewer)


def build_conversation() -> ConversationHandler[BotContext]:
    """After the form conversation (a form open takes what is typed first; /calendar says
    to finish it); before the commands, so /cancel ends a calendar update."""
    text = filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE & ~filters.UpdateType.EDITED
    steps: list[BaseHandler[Update, BotContext, object]] = [
        MessageHandler(text, text_received),
        CallbackQueryHandler(decision_pressed, pattern=r"^cal:(ok|no):"),
    ]
    return ConversationHandler(
        entry_points=[
            CommandHandler("calendar", calendar_command),
            CallbackQueryHandler(paste_pressed, pattern=r"^cal:new$"),
        ],
        states={AWAITING_NOTICE: steps, AWAITING_CONFIRMATION: steps},
        fallbacks=[CommandHandler("cancel", cancel)],
        name=NAME,
        persistent=True,
        allow_reentry=True,
    )


def build_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    """Buttons of a preview when no calendar update is open."""
    return [CallbackQueryHandler(stale_pressed, pattern=r"^cal:")]
