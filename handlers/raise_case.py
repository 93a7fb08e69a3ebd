"""Raising a matter: /new → kind → the kind's fields → summary → Submit / Edit / Cancel.

The questions come from the kind's declaration (``bot.domain.kinds``); this module only knows
how to ask each *type* of field. Every step saves the draft and the state it now waits in,
in one write, so a restart of the bot resumes the conversation where it was.
"""

from __future__ import annotations

import calendar
import functools
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from telegram import Message, Update
from telegram.error import BadRequest
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.domain import rules
from bot.domain.kinds import KINDS, FieldSpec, FieldType, KindSpec
from bot.domain.models import Draft, Viewer
from bot.domain.rules import DomainError, InvalidInput, NotAllowed
from handlers.common import (
    BotContext,
    Button,
    answer_stale,
    ask,
    chunk,
    deliver_now,
    drop_keyboard,
    edit_or_send,
    is_private,
    keyboard,
    private_only,
    reply,
    require_member,
    viewer_of,
)

logger = logging.getLogger(__name__)

FLOW = "raise"

AWAITING_KIND = "AWAITING_KIND"
AWAITING_TEXT = "AWAITING_TEXT"
AWAITING_CHOICE = "AWAITING_CHOICE"
AWAITING_DATE = "AWAITING_DATE"
AWAITING_FILES = "AWAITING_FILES"
AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
AWAITING_FIELD_TO_EDIT = "AWAITING_FIELD_TO_EDIT"
END = ConversationHandler.END

STATE_FOR_TYPE: dict[FieldType, str] = {
    FieldType.TEXT: AWAITING_TEXT,
    FieldType.LONG_TEXT: AWAITING_TEXT,
    FieldType.ADDRESSEE: AWAITING_CHOICE,
    FieldType.ORGANISATION: AWAITING_CHOICE,
    FieldType.CHOICE: AWAITING_CHOICE,
    FieldType.DATE: AWAITING_DATE,
    FieldType.FILES: AWAITING_FILES,
}
QUICK_DAYS = (3, 7, 14, 30)
# Filler for calendar cells that cannot be pressed. Telegram rejects a button whose text is
# blank (BUTTON_TEXT_INVALID), so a space would break the whole calendar.
NO_DAY = "·"
_CACHE_KEY = "raise_draft"


# ---------------------------------------------------------------------------- draft state


async def _load(update: Update, context: BotContext) -> Draft | None:
    """The user's draft: from memory, or from the database after a restart."""
    user_data = context.user_data
    assert user_data is not None
    draft = user_data.get(_CACHE_KEY)
    if draft is None:
        user = update.effective_user
        assert user is not None
        draft = await context.svc.load_draft(user.id, FLOW)
        user_data[_CACHE_KEY] = draft
    return draft  # type: ignore[no-any-return]


async def _save(context: BotContext, draft: Draft, state: str, **changes: Any) -> str:
    data = {**draft.data, **changes}
    new = Draft(draft.user_id, FLOW, state, data)
    await context.svc.save_draft(new)
    assert context.user_data is not None
    context.user_data[_CACHE_KEY] = new
    return state


async def _discard(context: BotContext, user_id: int) -> None:
    await context.svc.delete_draft(user_id, FLOW)
    assert context.user_data is not None
    context.user_data.pop(_CACHE_KEY, None)


def _kind(draft: Draft) -> KindSpec:
    return KINDS[draft.data["kind"]]


def _field(draft: Draft) -> FieldSpec:
    return _kind(draft).field(draft.data["field"])


def _next_field(kind: KindSpec, name: str | None) -> FieldSpec | None:
    names = [f.name for f in kind.fields]
    index = 0 if name is None else names.index(name) + 1
    return kind.fields[index] if index < len(names) else None


def _cancel_button(context: BotContext, lang: str) -> Button:
    return (context.texts.t(lang, "✖ Cancel"), "r:cancel")


# ---------------------------------------------------------------------------- asking


def _options(context: BotContext, spec: FieldSpec, lang: str) -> list[Button]:
    committee = context.svc.committee
    if spec.type is FieldType.ADDRESSEE:
        return [
            (committee.addressee_name(c, lang), f"r:opt:{c}")
            for c in rules.addressee_codes(committee)
        ]
    if spec.type is FieldType.ORGANISATION:
        return [(o.name(lang), f"r:opt:{o.code}") for o in committee.orgs_of_kind(*spec.org_kinds)]
    return [(context.texts.t(lang, label), f"r:opt:{value}") for value, label in spec.choices]


def _option_values(context: BotContext, spec: FieldSpec) -> set[str]:
    return {data.removeprefix("r:opt:") for _, data in _options(context, spec, "en")}


def _date_buttons(context: BotContext, spec: FieldSpec, lang: str) -> list[list[Button]]:
    today = context.svc.today()
    quick = [
        (
            context.texts.t(lang, "In %(n)s days", n=n),
            f"r:date:{(today + timedelta(days=n)).isoformat()}",
        )
        for n in QUICK_DAYS
    ]
    rows = chunk(quick, 2)
    rows.append([(context.texts.t(lang, "📅 Pick a date"), f"r:cal:{today:%Y-%m}")])
    if not spec.required:
        rows.append([(context.texts.t(lang, "No specific date"), "r:skip")])
    return rows


def calendar_rows(context: BotContext, lang: str, year: int, month: int) -> list[list[Button]]:
    """A month as inline buttons; days before today are shown but cannot be chosen."""
    today = context.svc.today()
    first = date(year, month, 1)
    prev_month = (first - timedelta(days=1)).replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    title = context.texts.month_title(lang, first)
    nav: list[Button] = [
        ("◀", f"r:cal:{prev_month:%Y-%m}")
        if prev_month >= today.replace(day=1)
        else (NO_DAY, "r:noop"),
        (title, "r:noop"),
        ("▶", f"r:cal:{next_month:%Y-%m}")
        if next_month <= today + rules.MAX_DATE_AHEAD
        else (NO_DAY, "r:noop"),
    ]
    rows: list[list[Button]] = [nav, [(d, "r:noop") for d in context.texts.weekdays(lang)]]
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        row: list[Button] = []
        for day in week:
            if day.month != month or day < today or day - today > rules.MAX_DATE_AHEAD:
                row.append((NO_DAY, "r:noop"))
            else:
                row.append((str(day.day), f"r:date:{day.isoformat()}"))
        rows.append(row)
    rows.append([(context.texts.t(lang, "↩ Back"), "r:quick")])
    return rows


async def _ask(
    update: Update,
    context: BotContext,
    viewer: Viewer,
    draft: Draft,
    spec: FieldSpec,
    note: str = "",
) -> str:
    """Ask for one field, with buttons wherever there is a choice; returns the waiting state."""
    kind = _kind(draft)
    lang = viewer.lang
    texts = context.texts
    rows: list[list[Button]] = []
    if spec.type in (FieldType.ADDRESSEE, FieldType.ORGANISATION):
        rows = chunk(_options(context, spec, lang), 1 if spec.type is FieldType.ADDRESSEE else 2)
    elif spec.type is FieldType.CHOICE:
        rows = [_options(context, spec, lang)]
    elif spec.type is FieldType.DATE:
        rows = _date_buttons(context, spec, lang)
    elif spec.type is FieldType.FILES:
        rows = [[(texts.t(lang, "✔ Done"), "r:done")]]
    elif not spec.required:
        rows = [[(texts.t(lang, "Skip"), "r:skip")]]
    rows.append([_cancel_button(context, lang)])
    step = [f.name for f in kind.fields].index(spec.name) + 1
    html = texts.render(
        lang,
        "ask",
        kind=kind,
        spec=spec,
        step=step,
        steps=len(kind.fields),
        note=note,
        current=draft.data["values"].get(spec.name),
        editing=draft.data.get("editing", False),
    )
    # Save first: once the user sees the question, their answer must be taken for it,
    # even if the bot is killed right after sending.
    state = await _save(context, draft, STATE_FOR_TYPE[spec.type], field=spec.name)
    await ask(update, context, html, keyboard(rows))
    return state


async def _show_summary(
    update: Update, context: BotContext, viewer: Viewer, draft: Draft, note: str = ""
) -> str:
    kind = _kind(draft)
    texts = context.texts
    lang = viewer.lang
    html = texts.render(lang, "summary", kind=kind, values=draft.data["values"], note=note)
    rows = [
        [(texts.t(lang, "📨 Submit"), f"r:submit:{draft.data['token']}")],
        [(texts.t(lang, "✏ Edit a field"), "r:edit"), _cancel_button(context, lang)],
    ]
    state = await _save(context, draft, AWAITING_CONFIRMATION, editing=False)
    await ask(update, context, html, keyboard(rows))
    return state


async def _advance(
    update: Update, context: BotContext, viewer: Viewer, draft: Draft, value: Any
) -> str:
    """Store a field's answer and move on: the next field, or back to the summary."""
    values = {**draft.data["values"], draft.data["field"]: value}
    draft = Draft(draft.user_id, FLOW, draft.state, {**draft.data, "values": values})
    following = (
        None if draft.data.get("editing") else _next_field(_kind(draft), draft.data["field"])
    )
    if following is None:
        return await _show_summary(update, context, viewer, draft)
    return await _ask(update, context, viewer, draft, following)


async def _error(update: Update, context: BotContext, viewer: Viewer, exc: DomainError) -> None:
    await reply(
        update, context, context.texts.render(viewer.lang, "error", code=exc.code, **exc.params)
    )


Step = Callable[[Update, BotContext], Awaitable[Any]]


def _members_only(step: Step) -> Step:
    """Every step checks the membership again: someone revoked (or moved to a role that
    cannot raise) while a draft is open is told so at once, and the draft is discarded.
    The submit checks once more, inside its transaction."""

    @functools.wraps(step)
    async def guarded(update: Update, context: BotContext) -> Any:
        viewer = await viewer_of(update, context)
        if rules.raisable_kinds(viewer.member):
            return await step(update, context)
        if update.callback_query is not None:
            await update.callback_query.answer()
        code = "not_member" if viewer.member is None else "cannot_raise"
        await _error(update, context, viewer, NotAllowed(code))
        await _discard(context, viewer.user_id)
        return END

    return guarded


# ---------------------------------------------------------------------------- entry


async def new(update: Update, context: BotContext) -> str | int:
    """/new — the entry of the conversation."""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return END
    if not await require_member(update, context, viewer):
        return END
    kinds = rules.raisable_kinds(viewer.member)
    if not kinds:
        await _error(update, context, viewer, NotAllowed("cannot_raise"))
        return END
    draft = Draft(
        viewer.user_id,
        FLOW,
        AWAITING_KIND,
        {
            "token": secrets.token_hex(8),
            "kind": None,
            "field": None,
            "values": {},
            "editing": False,
        },
    )
    rows = [[(context.texts.t(viewer.lang, k.label), f"r:kind:{k.code}")] for k in kinds]
    rows.append([_cancel_button(context, viewer.lang)])
    state = await _save(context, draft, AWAITING_KIND)
    await ask(
        update,
        context,
        context.texts.render(viewer.lang, "choose_kind", kinds=kinds),
        keyboard(rows),
    )
    return state


# ---------------------------------------------------------------------------- answers


async def kind_chosen(update: Update, context: BotContext) -> str | int | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    code = query.data.removeprefix("r:kind:")
    kind = KINDS.get(code)
    if draft is None or kind is None or not rules.can_raise(viewer.member, kind):
        await answer_stale(update, context, viewer)
        return None
    await query.answer()
    await edit_or_send(query, context, context.texts.render(viewer.lang, "kind_chosen", kind=kind))
    draft = Draft(draft.user_id, FLOW, draft.state, {**draft.data, "kind": kind.code})
    first = kind.fields[0]
    return await _ask(update, context, viewer, draft, first)


async def text_received(update: Update, context: BotContext) -> str | None:
    message = update.effective_message
    assert message is not None and message.text is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        return None
    spec = _field(draft)
    try:
        value = rules.validate_text(spec, message.text)
    except InvalidInput as exc:
        await _error(update, context, viewer, exc)
        return AWAITING_TEXT
    return await _advance(update, context, viewer, draft, value)


async def option_pressed(update: Update, context: BotContext) -> str | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        return None
    spec = _field(draft)
    value = query.data.removeprefix("r:opt:")
    if spec.type not in (
        FieldType.ADDRESSEE,
        FieldType.ORGANISATION,
        FieldType.CHOICE,
    ) or value not in _option_values(context, spec):
        await answer_stale(update, context, viewer)
        return None
    await query.answer()
    label = next(
        lbl for lbl, data in _options(context, spec, viewer.lang) if data.endswith(f":{value}")
    )
    await edit_or_send(
        query, context, context.texts.render(viewer.lang, "answered", spec=spec, answer=label)
    )
    return await _advance(update, context, viewer, draft, value)


async def date_pressed(update: Update, context: BotContext) -> str | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None or _field(draft).type is not FieldType.DATE:
        await answer_stale(update, context, viewer)
        return None
    try:
        chosen = rules.validate_reply_date(
            date.fromisoformat(query.data.removeprefix("r:date:")), context.svc.today()
        )
    except (ValueError, InvalidInput):
        await query.answer(
            context.texts.t(viewer.lang, "That date can no longer be chosen."), show_alert=True
        )
        return None
    await query.answer()
    await edit_or_send(
        query,
        context,
        context.texts.render(
            viewer.lang,
            "answered",
            spec=_field(draft),
            answer=context.texts.format_date(viewer.lang, chosen),
        ),
    )
    return await _advance(update, context, viewer, draft, chosen.isoformat())


_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{1,2})")


def _month(text: str, today: date) -> date | None:
    """The first day of a calendar page (``2026-12``), if the calendar can show that month."""
    match = _MONTH_RE.fullmatch(text)
    if match is None or not 1 <= int(match[2]) <= 12:
        return None
    first = date(int(match[1]), int(match[2]), 1)
    last = (today + rules.MAX_DATE_AHEAD).replace(day=1)
    return first if today.replace(day=1) <= first <= last else None


async def calendar_pressed(update: Update, context: BotContext) -> str | None:
    """Month navigation and the way back to the quick choices; the state does not change."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None or _field(draft).type is not FieldType.DATE:
        await answer_stale(update, context, viewer)
        return None
    if query.data == "r:quick":
        rows = _date_buttons(context, _field(draft), viewer.lang)
    else:
        first = _month(query.data.removeprefix("r:cal:"), context.svc.today())
        if first is None:
            await answer_stale(update, context, viewer)
            return None
        rows = calendar_rows(context, viewer.lang, first.year, first.month)
    await query.answer()
    message = query.message
    rows.append([_cancel_button(context, viewer.lang)])
    if isinstance(message, Message):
        try:
            await message.edit_reply_markup(reply_markup=keyboard(rows))
        except BadRequest as exc:  # a double tap: the first one already showed this month
            if "not modified" not in exc.message.lower():
                raise
    return None


async def date_typed(update: Update, context: BotContext) -> str | None:
    message = update.effective_message
    assert message is not None and message.text is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        return None
    try:
        chosen = rules.validate_reply_date(
            rules.parse_date(message.text, context.svc.today()), context.svc.today()
        )
    except InvalidInput as exc:
        await _error(update, context, viewer, exc)
        return AWAITING_DATE
    return await _advance(update, context, viewer, draft, chosen.isoformat())


async def file_received(update: Update, context: BotContext) -> str | None:
    message = update.effective_message
    assert message is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        return None
    spec = _field(draft)
    files = list(draft.data["values"].get(spec.name) or [])
    if message.document is not None:
        doc = message.document
        entry = {
            "media": "document",
            "file_id": doc.file_id,
            "file_unique_id": doc.file_unique_id,
            "file_name": (doc.file_name or "")[:200] or None,
            "file_size": doc.file_size,
        }
    elif message.photo:
        photo = message.photo[-1]
        entry = {
            "media": "photo",
            "file_id": photo.file_id,
            "file_unique_id": photo.file_unique_id,
            "file_name": None,
            "file_size": photo.file_size,
        }
    else:
        return None
    try:
        rules.validate_file(entry["file_size"], len(files), spec)  # type: ignore[arg-type]
    except InvalidInput as exc:
        await _error(update, context, viewer, exc)
        return AWAITING_FILES
    files.append(entry)
    values = {**draft.data["values"], spec.name: files}
    state = await _save(context, draft, AWAITING_FILES, values=values)
    await ask(
        update,
        context,
        context.texts.render(viewer.lang, "file_received", count=len(files), max=spec.max_files),
        keyboard([[(context.texts.t(viewer.lang, "✔ Done"), "r:done")]]),
    )
    return state


async def files_done(update: Update, context: BotContext) -> str | None:
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    # PTB lets a press without data through every pattern: only "r:done" means Done.
    if draft is None or query.data != "r:done" or _field(draft).type is not FieldType.FILES:
        await answer_stale(update, context, viewer)
        return None
    await query.answer()
    await drop_keyboard(query)
    files = draft.data["values"].get(_field(draft).name) or []
    return await _advance(update, context, viewer, draft, files)


async def skipped(update: Update, context: BotContext) -> str | None:
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None or _field(draft).required:
        await answer_stale(update, context, viewer)
        return None
    await query.answer()
    await edit_or_send(
        query,
        context,
        context.texts.render(
            viewer.lang, "answered", spec=_field(draft), answer=context.texts.t(viewer.lang, "—")
        ),
    )
    return await _advance(update, context, viewer, draft, None)


async def wrong_input(update: Update, context: BotContext) -> None:
    """Anything the current step cannot use: say what it expects and ask again."""
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        return
    # "field" still names the last field asked while the summary or the field menu is shown;
    # there, as at the kind choice, only a button will do.
    asking = draft.state in (AWAITING_TEXT, AWAITING_CHOICE, AWAITING_DATE, AWAITING_FILES)
    expected = _field(draft).type.value if asking and draft.data.get("field") else "button"
    await reply(
        update,
        context,
        context.texts.render(viewer.lang, "error", code="wrong_input", expected=expected),
    )


async def submit_pressed(update: Update, context: BotContext) -> str | int | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None or query.data != f"r:submit:{draft.data['token']}":
        await answer_stale(update, context, viewer)
        return None
    try:
        outcome = await context.svc.submit(
            viewer, draft.data["kind"], draft.data["values"], draft.data["token"]
        )
    except InvalidInput as exc:
        await query.answer()
        await _error(update, context, viewer, exc)
        field_name = exc.params.get("field")
        if field_name:
            editing = Draft(draft.user_id, FLOW, draft.state, {**draft.data, "editing": True})
            return await _ask(update, context, viewer, editing, _kind(draft).field(field_name))
        return await _show_summary(update, context, viewer, draft)
    except NotAllowed as exc:
        await query.answer()
        await _error(update, context, viewer, exc)
        await _discard(context, viewer.user_id)
        return END
    assert context.user_data is not None
    context.user_data.pop(_CACHE_KEY, None)  # the submit removed the draft from the database
    case = outcome.case
    await query.answer(context.texts.t(viewer.lang, "Submitted as %(number)s", number=case.number))
    await drop_keyboard(query)
    await deliver_now(context)
    reached = outcome.notified if outcome.changed else None
    await reply(
        update,
        context,
        context.texts.render(
            viewer.lang, "receipt", case=case, kind=KINDS[case.kind], reached=reached
        ),
    )
    return END


async def edit_pressed(update: Update, context: BotContext) -> str | None:
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        await answer_stale(update, context, viewer)
        return None
    await query.answer()
    kind = _kind(draft)
    buttons = [(context.texts.t(viewer.lang, f.label), f"r:field:{f.name}") for f in kind.fields]
    rows = chunk(buttons, 2)
    rows.append([(context.texts.t(viewer.lang, "↩ Back"), "r:back")])
    await edit_or_send(
        query, context, context.texts.render(viewer.lang, "choose_field"), keyboard(rows)
    )
    return await _save(context, draft, AWAITING_FIELD_TO_EDIT)


async def field_chosen(update: Update, context: BotContext) -> str | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    name = query.data.removeprefix("r:field:")
    if draft is None or name not in {f.name for f in _kind(draft).fields}:
        await answer_stale(update, context, viewer)
        return None
    await query.answer()
    await drop_keyboard(query)
    draft = Draft(draft.user_id, FLOW, draft.state, {**draft.data, "editing": True})
    return await _ask(update, context, viewer, draft, _kind(draft).field(name))


async def back_to_summary(update: Update, context: BotContext) -> str | None:
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        await answer_stale(update, context, viewer)
        return None
    await query.answer()
    await drop_keyboard(query)
    return await _show_summary(update, context, viewer, draft)


async def cancel(update: Update, context: BotContext) -> int:
    """/cancel or the Cancel button: the draft is discarded, nothing is submitted."""
    viewer = await viewer_of(update, context)
    await _discard(context, viewer.user_id)
    query = update.callback_query
    if query is not None:
        await query.answer()
        await drop_keyboard(query)
    await reply(update, context, context.texts.render(viewer.lang, "cancelled"))
    return END


async def remind(update: Update, context: BotContext) -> str | None:
    """/new while a draft is open: show where the user is instead of losing the draft."""
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        return None
    note = context.texts.t(
        viewer.lang,
        "You are already raising a matter. Continue here, or send /cancel to discard it.",
    )
    if draft.state == AWAITING_CONFIRMATION or draft.state == AWAITING_FIELD_TO_EDIT:
        return await _show_summary(update, context, viewer, draft, note=note)
    if draft.state == AWAITING_KIND or not draft.data.get("field"):
        await reply(
            update, context, context.texts.render(viewer.lang, "error", code="finish_choice")
        )
        return None
    return await _ask(update, context, viewer, draft, _field(draft), note=note)


async def stale_pressed(update: Update, context: BotContext) -> None:
    """A raise-flow button pressed outside its step: after a submit, a cancel, or a restart."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    if query.data.startswith("r:submit:"):
        case = await context.svc.case_by_submit_token(query.data.removeprefix("r:submit:"))
        if case is not None and case.raiser_user_id == viewer.user_id:
            await query.answer(
                context.texts.t(
                    viewer.lang, "Already submitted as %(number)s.", number=case.number
                ),
                show_alert=True,
            )
            if is_private(update):
                await drop_keyboard(query)
            return
    if query.data == "r:noop":
        await query.answer()
        return
    await answer_stale(update, context, viewer)
    if is_private(update):  # never strip a group message of its buttons
        await drop_keyboard(query)


def build_handler() -> ConversationHandler[BotContext]:
    text = filters.TEXT & ~filters.COMMAND
    files = filters.Document.ALL | filters.PHOTO
    anything_else = ~filters.COMMAND & ~filters.UpdateType.EDITED
    noop = CallbackQueryHandler(stale_pressed, pattern=r"^r:noop$")
    m = _members_only
    return ConversationHandler(
        entry_points=[CommandHandler("new", new)],
        states={
            AWAITING_KIND: [CallbackQueryHandler(m(kind_chosen), pattern=r"^r:kind:")],
            AWAITING_TEXT: [
                MessageHandler(text, m(text_received)),
                CallbackQueryHandler(m(skipped), pattern=r"^r:skip$"),
            ],
            AWAITING_CHOICE: [CallbackQueryHandler(m(option_pressed), pattern=r"^r:opt:")],
            AWAITING_DATE: [
                CallbackQueryHandler(m(date_pressed), pattern=r"^r:date:"),
                CallbackQueryHandler(m(calendar_pressed), pattern=r"^r:(cal:|quick$)"),
                CallbackQueryHandler(m(skipped), pattern=r"^r:skip$"),
                MessageHandler(text, m(date_typed)),
            ],
            AWAITING_FILES: [
                MessageHandler(files, m(file_received)),
                CallbackQueryHandler(m(files_done), pattern=r"^r:done$"),
            ],
            AWAITING_CONFIRMATION: [
                CallbackQueryHandler(submit_pressed, pattern=r"^r:submit:"),
                CallbackQueryHandler(m(edit_pressed), pattern=r"^r:edit$"),
            ],
            AWAITING_FIELD_TO_EDIT: [
                CallbackQueryHandler(m(field_chosen), pattern=r"^r:field:"),
                CallbackQueryHandler(m(back_to_summary), pattern=r"^r:back$"),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CallbackQueryHandler(cancel, pattern=r"^r:cancel$"),
            CommandHandler("new", m(remind)),
            noop,
            MessageHandler(filters.ChatType.PRIVATE & anything_else, m(wrong_input)),
        ],
        name=FLOW,
        persistent=True,
        allow_reentry=False,
    )


def build_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    """The conversation, then the catcher for its buttons pressed out of turn."""
    return [build_handler(), CallbackQueryHandler(stale_pressed, pattern=r"^r:")]
