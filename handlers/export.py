"""/export [period]: the office's spreadsheets of the matters raised in a period.

The command reads the period (``bot.domain.periods``) and asks for a format with two
buttons; the press shows "preparing…", has ``bot.services.export`` write the file(s) into a
temporary folder (in a worker thread: the bot keeps answering), then says what comes and
sends them as documents, part by part when one file would pass Telegram's upload limit."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from telegram import InputFile, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import rules
from bot.domain.models import Viewer
from bot.domain.periods import Period, PeriodError, parse_period
from bot.services.export import FORMATS
from handlers import buttons
from handlers.common import (
    BotContext,
    answer_stale,
    edit_or_send,
    keyboard,
    private_only,
    refuse_outside_private,
    reply,
    require_member,
    viewer_of,
)

logger = logging.getLogger(__name__)

EXPORT = "ex"  # button namespace: ex:<format>:<period's token> (20261101-20261130)
UPLOAD_TIMEOUT = 300  # seconds for one file of up to 50 MB to go up


def _refusal(context: BotContext, viewer: Viewer) -> str:
    return context.texts.t(
        viewer.lang,
        "Only the committee office can export matters: the spreadsheets hold every matter, "
        "with the applicants' personal data.",
    )


# Prompts already used, remembered for a double tap (in memory: a restart forgets them).
USED_PROMPTS_KEPT = 1000


async def export_command(update: Update, context: BotContext) -> None:
    """/export, /export 上月, /export 2026Q3, /export 2026-01-01 2026-03-31"""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    if not await require_member(update, context, viewer):
        return
    if not rules.is_admin(viewer.member):
        await reply(update, context, _refusal(context, viewer))
        return
    message = update.effective_message
    text = ""
    if message is not None and message.text and " " in message.text:
        text = message.text.partition(" ")[2]
    try:
        period = parse_period(text, context.svc.today())
    except PeriodError as exc:
        html = context.texts.render(viewer.lang, "export_usage", problem=exc.reason)
        await reply(update, context, html)
        return
    labels = {"xlsx": "📊 XLSX", "csv": "🗂 CSV"}
    await reply(
        update,
        context,
        context.texts.render(viewer.lang, "export_choose", first=period.first, last=period.last),
        keyboard([[(labels[f], buttons.pack(EXPORT, f, period.token)) for f in FORMATS]]),
    )


async def export_pressed(update: Update, context: BotContext) -> None:
    """XLSX or CSV pressed: ``ex:<format>:<first>:<last>``."""
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    if await refuse_outside_private(update, context, viewer):
        return
    if not rules.is_admin(viewer.member):
        await query.answer(_refusal(context, viewer), show_alert=True)
        return
    parts = buttons.unpack(query.data, EXPORT, parts=(2,))
    period = Period.from_token(parts[1]) if parts else None
    if parts is None or period is None or parts[0] not in FORMATS:
        await answer_stale(update, context, viewer)
        return
    lang = viewer.lang
    texts = context.texts
    # A prompt makes one export: a second press (a double tap reaches the bot after the first
    # export, as one sender's updates are handled in order) would send the files again.
    prompt = (query.message.chat.id, query.message.message_id) if query.message else None
    used: dict[tuple[int, int], None] = context.bot_data.setdefault("export_prompts_used", {})
    if prompt is not None and prompt in used:
        again = texts.t(lang, "This export was already made. Send /export for another one.")
        await query.answer(again, show_alert=True)
        return
    if prompt is not None:
        used[prompt] = None
        while len(used) > USED_PROMPTS_KEPT:
            del used[next(iter(used))]
    await query.answer()
    heading = {"first": period.first, "last": period.last}
    await edit_or_send(query, context, texts.t(lang, "Preparing the export…"))
    chat_id = query.message.chat.id if query.message is not None else viewer.user_id
    stem = f"{texts.t(lang, 'matters-export')}_{period.first}_{period.last}"
    with tempfile.TemporaryDirectory(prefix="export-") as directory:
        try:
            exported = await context.svc.export(
                viewer,
                period,
                parts[0],
                texts.labels(lang),
                Path(directory),
                stem=stem,
                limits=context.runtime.export_limits,
            )
        except Exception:
            logger.exception("export of %s to %s failed", period.first, period.last)
            failed = texts.t(lang, "The export failed. Please try again.")
            await edit_or_send(query, context, failed)
            return
        mb = f"{context.runtime.export_limits.max_bytes / 1_000_000:g}"
        html = texts.render(
            lang, "export_ready", matters=exported.matters, parts=exported.parts, mb=mb, **heading
        )
        await edit_or_send(query, context, html)
        for number, path in enumerate(exported.files, start=1):
            caption = None
            if exported.parts > 1:
                caption = texts.t(lang, "Part %(n)s of %(total)s", n=number, total=exported.parts)
            try:
                with path.open("rb") as content:
                    await context.bot.send_document(
                        chat_id,
                        InputFile(content, filename=path.name),
                        caption=caption,
                        write_timeout=UPLOAD_TIMEOUT,
                    )
            except TelegramError:
                logger.exception("export file %s of %s not sent", number, exported.parts)
                failed = texts.t(lang, "The export could not be sent. Please try again.")
                await context.bot.send_message(chat_id, failed)
                return


def build_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [
        CommandHandler("export", export_command),
        CallbackQueryHandler(export_pressed, pattern=rf"^{EXPORT}:"),
    ]
