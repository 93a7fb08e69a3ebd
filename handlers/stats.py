"""/stats [period]: the evaluation figures (绩效考核) for the office and observers — a compact
table per organisation, a chart of the on-time rates, and a button per organisation that
lists the matters behind its figures.

The figures are defined in ``bot.domain.stats``; this module only lays them out. The chart
is drawn in a worker thread (``handlers.charts``) and sent as a photo after the table."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import unicodedata
from collections.abc import Sequence
from datetime import date

from telegram import InputFile, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain.models import Viewer
from bot.domain.periods import Period, PeriodError, parse_period
from bot.domain.privacy import Audience, of_kind
from bot.domain.stats import (
    FIGURE,
    NO_VALUE,
    MattersPage,
    Scorecard,
    formatted,
    rates_for_chart,
)
from bot.i18n import N_
from bot.services.stats import may_see_stats
from handlers import buttons, charts
from handlers.common import (
    BotContext,
    Button,
    answer_stale,
    chunk,
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
from handlers.texts import Texts

logger = logging.getLogger(__name__)

STATS = "st"  # button namespace: st:o:<period>:<org> (list), st:p:<period>:<org>:<page>
PAGE_SIZE = 10
NAME_WIDTH = 12  # display columns of an organisation's name in the table (a CJK char is 2)

# The table's columns: one or two figures each (a time's median/90th percentile together).
TIMES: tuple[tuple[str, ...], ...] = (
    ("raised",),
    ("received",),
    ("ack_median", "ack_p90"),
    ("ack_on_time",),
    ("reply_median", "reply_p90"),
    ("reply_on_time",),
)
RATES: tuple[tuple[str, ...], ...] = (
    ("resolution",),
    ("appearance",),
    ("request_reply",),
    ("bulletin_read",),
)
REFUSED = N_("Only the linkage office and observers can see the evaluation figures.")
ACK_LEGEND = N_("On-time acknowledgement rate")
REPLY_LEGEND = N_("On-time reply rate")


def width(text: str) -> int:
    """Display columns of a text in a monospace block: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def fit(text: str, columns: int) -> str:
    """A text cut to ``columns`` display columns (with "…" where cut)."""
    if width(text) <= columns:
        return text
    out = ""
    for char in text:
        if width(out + char) > columns - 1:
            break
        out += char
    return out + "…"


def right(text: str, columns: int) -> str:
    return " " * max(0, columns - width(text)) + text


def period_title(texts: Texts, lang: str, period: Period) -> str:
    """A period as titles name it: 2026年11月, 2026年第三季度, 2026年, or its two days."""
    zh = lang == "zh_CN"
    if period.kind == "month":
        return texts.month_title(lang, period.first)
    if period.kind == "quarter":
        if zh:
            return f"{period.first.year}年第{'一二三四'[period.quarter - 1]}季度"
        return f"Q{period.quarter} {period.first.year}"
    if period.kind == "year":
        return f"{period.first.year}年" if zh else str(period.first.year)

    def day(d: date) -> str:
        return f"{d.year}年{d.month}月{d.day}日" if zh else f"{d.day} {d:%b %Y}"

    return (
        f"{day(period.first)}至{day(period.last)}"
        if zh
        else f"{day(period.first)} – {day(period.last)}"
    )


def table(
    texts: Texts, lang: str, card: Scorecard, columns: Sequence[tuple[str, ...]]
) -> list[str]:
    """A monospace table: a heading line, then per organisation its name and, below it, its
    figures right-aligned under the headings. Organisations with none of them are left out."""
    committee = texts.committee
    headings = [texts.t(lang, FIGURE[codes[0]].heading) for codes in columns]
    cells: list[tuple[str, list[str]]] = []
    for org in card.orgs:
        values = [
            "/".join(formatted(FIGURE[c], org.value(c)) for c in codes)
            if len(codes) == 1 or org.value(codes[0]) is not None
            else NO_VALUE
            for codes in columns
        ]
        if all(v in (NO_VALUE, "0") for v in values):
            continue
        cells.append((committee.button_name(org.org, lang), values))
    if not cells:
        return []
    widths = [
        max([width(h)] + [width(values[i]) for _, values in cells]) + 1
        for i, h in enumerate(headings)
    ]
    lines = ["".join(right(h, w) for h, w in zip(headings, widths, strict=True))]
    for name, values in cells:
        lines.append(fit(name, NAME_WIDTH * 2))
        lines.append("".join(right(v, w) for v, w in zip(values, widths, strict=True)))
    return lines


# What the committee group reads of a quarter under group_detail = "minimal".
OVERALL = (
    "ack_on_time",
    "reply_on_time",
    "resolution",
    "appearance",
    "request_reply",
    "bulletin_read",
)


def scorecard_html(
    texts: Texts, lang: str, card: Scorecard, *, report: bool = False, minimal: bool = False
) -> str:
    """The figures as a message: the tables per organisation, or (``minimal``: a group that
    may not learn who raised or answered what) the committee's totals only."""
    overall = None
    if minimal:
        total = card.overall
        overall = [
            (texts.t(lang, FIGURE[code].name), formatted(FIGURE[code], total.value(code)))
            for code in OVERALL
        ]
    return texts.render(
        lang,
        "stats",
        title=period_title(texts, lang, card.period),
        period=card.period,
        matters=card.matters,
        times=table(texts, lang, card, TIMES),
        rates=table(texts, lang, card, RATES),
        report=report,
        overall=overall,
    )


def chart_png(texts: Texts, lang: str, card: Scorecard) -> bytes | None:
    """The on-time rates chart (PNG), or None when no organisation has either rate. CPU
    work: call it in a worker thread."""
    rows = rates_for_chart(card, lambda code: texts.committee.button_name(code, lang))
    if not rows:
        return None
    title = texts.t(
        lang, "On-time rates · %(period)s", period=period_title(texts, lang, card.period)
    )
    legend = (texts.t(lang, ACK_LEGEND), texts.t(lang, REPLY_LEGEND))
    return charts.rates_chart(title, rows, legend, NO_VALUE)


def org_buttons(texts: Texts, lang: str, card: Scorecard) -> list[list[Button]]:
    """One button per organisation that received matters: the matters behind its figures."""
    found = [
        (
            texts.committee.button_name(org.org, lang),
            buttons.pack(STATS, "o", card.period.token, org.org),
        )
        for org in card.orgs
        if org.received
    ]
    return chunk(found, 3)


async def stats_command(update: Update, context: BotContext) -> None:
    """/stats, /stats 上月, /stats 2026Q3, /stats 2026-01-01 2026-03-31"""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    if not await require_member(update, context, viewer):
        return
    if not may_see_stats(viewer):
        await reply(update, context, "⚠ " + context.texts.t(viewer.lang, REFUSED))
        return
    message = update.effective_message
    # What follows the command, after a space or a line break (a phone's keyboard often
    # puts the period on the next line).
    words = message.text.split(None, 1) if message is not None and message.text else []
    text = words[1] if len(words) == 2 else ""
    try:
        period = parse_period(text, context.svc.today())
    except PeriodError:
        await reply(update, context, context.texts.render(viewer.lang, "stats_usage"))
        return
    chat = update.effective_chat
    if chat is not None:
        # A year at scale takes seconds to count: show that the bot is on it.
        with contextlib.suppress(TelegramError):
            await context.bot.send_chat_action(chat.id, ChatAction.TYPING)
    card = await context.svc.stats(viewer, period)
    texts = context.texts
    rows = org_buttons(texts, viewer.lang, card)
    await reply(
        update, context, scorecard_html(texts, viewer.lang, card), keyboard(rows) if rows else None
    )
    png = await asyncio.to_thread(chart_png, texts, viewer.lang, card)
    if png is not None and chat is not None:
        try:
            await context.bot.send_photo(
                chat.id,
                InputFile(png, filename="stats.png"),
                caption=period_title(texts, viewer.lang, period),
            )
        except TelegramError as exc:
            logger.warning("could not send the /stats chart: %s", exc)


def _matters_page(
    context: BotContext,
    viewer: Viewer,
    period: Period,
    org: str,
    found: MattersPage,
    page: int,
) -> tuple[str, Markup | None]:
    texts, svc = context.texts, context.svc
    pages = max(1, -(-found.total // PAGE_SIZE))
    shown = [
        # The office and observers read matters as members do: privacy says what that is.
        (line, of_kind(Audience.MEMBER, svc.committee.group_detail, svc.kinds, line.kind))
        for line in found.lines
    ]
    html = texts.render(
        viewer.lang,
        "stats_matters",
        org=org,
        title=period_title(texts, viewer.lang, period),
        lines=shown,
        total=found.total,
        late=found.late,
        page=page + 1,
        pages=pages,
    )
    nav = page_nav(
        texts, viewer.lang, page, pages, lambda p: buttons.pack(STATS, "p", period.token, org, p)
    )
    return html, keyboard([nav]) if nav else None


async def stats_pressed(update: Update, context: BotContext) -> None:
    """An organisation's button under the table (a new message listing its matters), or a
    page of that list (the list edited in place)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    if await refuse_outside_private(update, context, viewer):
        return
    parts = buttons.unpack(query.data, STATS, parts=(3, 4)) or ["", "", ""]
    op = parts[0]
    period = Period.from_token(parts[1])
    org = parts[2]
    page = buttons.number(parts[3]) if len(parts) == 4 else 0
    committee = context.svc.committee
    valid = (
        period is not None
        and page is not None
        and page < 1000
        and (op, len(parts)) in (("o", 3), ("p", 4))
        and (org in committee.organisations or org in committee.centers)
    )
    if not valid or not may_see_stats(viewer):
        await answer_stale(update, context, viewer)
        return
    assert period is not None and page is not None
    found = await context.svc.stats_matters(viewer, period, org, page, PAGE_SIZE)
    if page and page * PAGE_SIZE >= found.total:
        await answer_stale(update, context, viewer)
        return
    await query.answer()
    shown = _matters_page(context, viewer, period, org, found, page)
    if op == "o":
        await reply(update, context, *shown)
    else:
        await edit_or_send(query, context, *shown)


def build_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [
        CommandHandler("stats", stats_command),
        CallbackQueryHandler(stats_pressed, pattern=r"^st:"),
    ]
