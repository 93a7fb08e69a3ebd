"""Joint meetings (府院联席会议): /meeting schedules one, /meetings lists them, RSVP buttons.

/meeting (office, private chat) is a conversation: title → date → start time → place or video
link → invited organisations → agenda → summary with Schedule / Edit / Cancel. Like the raise
flow, every step saves the draft with the state it now waits in, so a restart resumes it. The
same conversation asks for a new date and time when an office member reschedules from
/meetings. The answer buttons on the group post are handled outside any conversation and
authorised against the database on every press: the buttons carry only a meeting and an answer.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from babel.dates import format_date
from telegram import CallbackQuery, Chat, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.domain import meetings as domain
from bot.domain import rules
from bot.domain.committee import OrgKind
from bot.domain.errors import DomainError, InvalidInput, NotAllowed, NotFound
from bot.domain.fields import parse_date, parse_time, validate_future_date
from bot.domain.models import Case, Draft, Viewer
from bot.i18n import DEFAULT_LANG, N_
from handlers import forms, widgets
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
from handlers.meeting_notices import post_html, rsvp_markup

logger = logging.getLogger(__name__)

FLOW = domain.FLOW  # drafts flow and ConversationHandler name: "meeting"

AWAITING_TITLE = "AWAITING_TITLE"
AWAITING_DATE = "AWAITING_DATE"
AWAITING_TIME = "AWAITING_TIME"
AWAITING_PLACE = "AWAITING_PLACE"
AWAITING_ORGS = "AWAITING_ORGS"
AWAITING_AGENDA = "AWAITING_AGENDA"
AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
END = ConversationHandler.END

STEPS = ("title", "date", "time", "place", "orgs", "agenda")
QUICK_DAYS = (0, 1, 2, 7)
TIME_CHOICES = ("09:00", "10:00", "14:00", "15:00", "16:00")
OPEN_MATTERS = 10
LIST_LIMIT = 10
RSVP_CODES = {"a": "attend", "d": "deputy", "x": "absent"}
ANSWER_LABELS = {
    "attend": N_("attend"),
    "deputy": N_("send a deputy"),
    "absent": N_("cannot attend"),
}
_CACHE_KEY = "meeting_draft"
_BABEL_LOCALE = {"zh_CN": "zh_Hans_CN", "en": "en_GB"}
_SHORT_DAY = {"zh_CN": "M月d日 EEE", "en": "EEE d MMM"}


def _short_day(lang: str, day: date) -> str:
    return format_date(day, _SHORT_DAY[lang], locale=_BABEL_LOCALE[lang])


def _offsets_text(context: BotContext, lang: str) -> str:
    parts: list[str] = []
    for offset in context.svc.committee.schedule.meeting_reminders:
        minutes = int(offset.total_seconds() // 60)
        if minutes % (24 * 60) == 0 and minutes >= 2 * 24 * 60:  # "24 hours", "2 days"
            parts.append(context.texts.t(lang, "%(n)s day(s)", n=minutes // (24 * 60)))
        elif minutes % 60 == 0:
            parts.append(context.texts.t(lang, "%(n)s hour(s)", n=minutes // 60))
        else:
            parts.append(context.texts.t(lang, "%(n)s minute(s)", n=minutes))
    return ("、" if lang == "zh_CN" else ", ").join(parts)


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
    return draft


def _with(draft: Draft, **changes: Any) -> Draft:
    return Draft(draft.user_id, FLOW, draft.state, {**draft.data, **changes})


async def _save(context: BotContext, draft: Draft, state: str, **changes: Any) -> str:
    new = Draft(draft.user_id, FLOW, state, {**draft.data, **changes})
    await context.svc.save_draft(new)
    assert context.user_data is not None
    context.user_data[_CACHE_KEY] = new
    return state


async def _discard(context: BotContext, user_id: int) -> None:
    await context.svc.delete_draft(user_id, FLOW)
    _forget(context)


def _forget(context: BotContext) -> None:
    assert context.user_data is not None
    context.user_data.pop(_CACHE_KEY, None)


def _fresh(user_id: int, mode: str, **data: Any) -> Draft:
    return Draft(
        user_id,
        FLOW,
        AWAITING_TITLE,
        {
            "mode": mode,
            "meeting_id": None,
            "token": secrets.token_hex(6),
            "title": None,
            "date": None,
            "time": None,
            "place": None,
            "orgs": [],
            "cases": [],  # [case id, "number title"] picked from the open matters
            "free": [],  # typed agenda items
            "editing": False,
            **data,
        },
    )


def _starts_at(context: BotContext, draft: Draft) -> datetime:
    day = date.fromisoformat(draft.data["date"])
    return datetime.combine(day, time.fromisoformat(draft.data["time"]), context.svc.tz)


def _agenda_texts(draft: Draft) -> list[str]:
    return [label for _, label in draft.data["cases"]] + list(draft.data["free"])


# ---------------------------------------------------------------------------- asking


def _cancel_button(context: BotContext, lang: str) -> Button:
    return (context.texts.t(lang, "✖ Cancel"), "mt:cancel")


async def _error(
    update: Update, context: BotContext, viewer: Viewer, exc: DomainError, **extra: Any
) -> None:
    params = {**exc.params, **extra}
    await reply(
        update,
        context,
        context.texts.render(viewer.lang, "meeting_error", code=exc.code, **params),
    )


async def _ask(
    update: Update,
    context: BotContext,
    viewer: Viewer,
    draft: Draft,
    state: str,
    step: str,
    rows: list[list[Button]],
    *,
    note: str = "",
    edit: bool = False,
    **extra: Any,
) -> str:
    """Save the draft in its new state, then show the step's question (or update it in place
    when a toggle was pressed)."""
    extra.setdefault("current", "")
    html = context.texts.render(
        viewer.lang,
        "meeting_ask",
        step=step,
        number=STEPS.index(step) + 1,
        steps=len(STEPS),
        mode=draft.data["mode"],
        title=draft.data.get("title") or "",
        editing=draft.data.get("editing", False),
        note=note,
        **extra,
    )
    # Save first: once the user sees the question, their answer must be taken for it.
    saved = await _save(context, draft, state)
    query = update.callback_query
    await ask(update, context, html, keyboard(rows), query=query if edit else None)
    return saved


async def _ask_title(
    update: Update, context: BotContext, viewer: Viewer, draft: Draft, note: str = ""
) -> str:
    rows = [[_cancel_button(context, viewer.lang)]]
    return await _ask(
        update,
        context,
        viewer,
        draft,
        AWAITING_TITLE,
        "title",
        rows,
        note=note,
        max=domain.MAX_TITLE,
        current=draft.data.get("title") or "",
    )


def _date_rows(context: BotContext, lang: str) -> list[list[Button]]:
    today = context.svc.today()
    names = {
        0: context.texts.t(lang, "Today"),
        1: context.texts.t(lang, "Tomorrow"),
        2: context.texts.t(lang, "Day after tomorrow"),
    }
    quick: list[Button] = []
    for n in QUICK_DAYS:
        day = today + timedelta(days=n)
        name = names.get(n) or context.texts.t(lang, "In %(n)s days", n=n)
        quick.append((f"{name} · {_short_day(lang, day)}", f"mt:date:{day.isoformat()}"))
    rows = chunk(quick, 2)
    rows.append([(context.texts.t(lang, "📅 Pick a date"), f"mt:cal:{today:%Y-%m}")])
    rows.append([_cancel_button(context, lang)])
    return rows


def _calendar(context: BotContext, lang: str, year: int, month: int) -> list[list[Button]]:
    """The forms' month calendar, with this flow's callback prefix."""
    rows = widgets.calendar_rows(
        context.texts,
        lang,
        context.svc.today(),
        year,
        month,
        lambda op, arg: f"mt:{op}:{arg}" if arg else f"mt:{op}",
    )
    rows.append([_cancel_button(context, lang)])
    return rows


async def _ask_date(
    update: Update, context: BotContext, viewer: Viewer, draft: Draft, note: str = ""
) -> str:
    current = ""
    if draft.data.get("date"):
        current = context.texts.format_date(viewer.lang, draft.data["date"])
    return await _ask(
        update,
        context,
        viewer,
        draft,
        AWAITING_DATE,
        "date",
        _date_rows(context, viewer.lang),
        note=note,
        current=current,
    )


async def _ask_time(
    update: Update, context: BotContext, viewer: Viewer, draft: Draft, note: str = ""
) -> str:
    day = date.fromisoformat(draft.data["date"])
    now = context.svc.clock.now()
    future = [
        c
        for c in TIME_CHOICES
        if datetime.combine(day, time.fromisoformat(c), context.svc.tz) > now
    ]
    rows = chunk([(c, f"mt:time:{c.replace(':', '')}") for c in future], 3)
    rows.append(
        [
            (context.texts.t(viewer.lang, "↩ Change the date"), "mt:redate"),
            _cancel_button(context, viewer.lang),
        ]
    )
    return await _ask(
        update,
        context,
        viewer,
        draft,
        AWAITING_TIME,
        "time",
        rows,
        note=note,
        day=day,
        tz=str(context.svc.tz),
        current=draft.data.get("time") or "",
    )


async def _ask_place(
    update: Update, context: BotContext, viewer: Viewer, draft: Draft, note: str = ""
) -> str:
    return await _ask(
        update,
        context,
        viewer,
        draft,
        AWAITING_PLACE,
        "place",
        [[_cancel_button(context, viewer.lang)]],
        note=note,
        max=domain.MAX_PLACE,
        current=draft.data.get("place") or "",
    )


def _org_rows(context: BotContext, lang: str, selected: list[str]) -> list[list[Button]]:
    texts = context.texts
    buttons: list[Button] = [
        (f"{'☑' if o.code in selected else '☐'} {o.name(lang)}", f"mt:org:{o.code}")
        for o in context.svc.committee.organisations.values()
    ]
    rows = chunk(buttons, 2)
    rows.append(
        [
            (texts.t(lang, "All courts"), "mt:all:courts"),
            (texts.t(lang, "All departments and zones"), "mt:all:depts"),
        ]
    )
    rows.append([(texts.t(lang, "✔ Done"), "mt:orgs:done"), _cancel_button(context, lang)])
    return rows


async def _ask_orgs(
    update: Update,
    context: BotContext,
    viewer: Viewer,
    draft: Draft,
    note: str = "",
    *,
    edit: bool = False,
) -> str:
    selected = list(draft.data["orgs"])
    return await _ask(
        update,
        context,
        viewer,
        draft,
        AWAITING_ORGS,
        "orgs",
        _org_rows(context, viewer.lang, selected),
        note=note,
        edit=edit,
        selected=len(selected),
    )


async def _open_matters(context: BotContext, viewer: Viewer) -> list[Case]:
    try:
        cases, _ = await context.svc.open_cases(viewer, 0, OPEN_MATTERS)
    except NotAllowed:
        return []
    return cases


async def _ask_agenda(
    update: Update,
    context: BotContext,
    viewer: Viewer,
    draft: Draft,
    note: str = "",
    *,
    edit: bool = False,
) -> str:
    lang = viewer.lang
    matters = await _open_matters(context, viewer)
    chosen = {case_id for case_id, _ in draft.data["cases"]}
    rows = chunk(
        [(f"{'☑' if c.id in chosen else '☐'} {c.number}", f"mt:ag:{c.id}") for c in matters], 2
    )
    for i, item in enumerate(draft.data["free"]):
        label = item if len(item) <= 24 else item[:23] + "…"
        rows.append([(f"✖ {label}", f"mt:agx:{i}")])
    rows.append([(context.texts.t(lang, "✔ Done"), "mt:agdone"), _cancel_button(context, lang)])
    return await _ask(
        update,
        context,
        viewer,
        draft,
        AWAITING_AGENDA,
        "agenda",
        rows,
        note=note,
        edit=edit,
        matters=matters,
        chosen=chosen,
        items=_agenda_texts(draft),
    )


async def _show_summary(
    update: Update, context: BotContext, viewer: Viewer, draft: Draft, note: str = ""
) -> str | int:
    texts = context.texts
    lang = viewer.lang
    token = draft.data["token"]
    if draft.data["mode"] == "reschedule":
        try:
            view = await context.svc.meetings.get(int(draft.data["meeting_id"]))
        except NotFound as exc:
            await _error(update, context, viewer, exc)
            await _discard(context, viewer.user_id)
            return END
        html = texts.render(
            lang,
            "meeting_summary",
            mode="reschedule",
            note=note,
            title=view.title,
            current=view.starts_at,
            starts_at=_starts_at(context, draft),
        )
        rows = [
            [(texts.t(lang, "✅ Confirm the new time"), f"mt:go:{token}")],
            [(texts.t(lang, "✏ Change the time"), "mt:ed:when"), _cancel_button(context, lang)],
        ]
    else:
        html = texts.render(
            lang,
            "meeting_summary",
            mode="new",
            note=note,
            title=draft.data["title"],
            starts_at=_starts_at(context, draft),
            place=draft.data["place"],
            orgs=draft.data["orgs"],
            agenda=_agenda_texts(draft),
        )
        rows = [
            [(texts.t(lang, "📅 Schedule"), f"mt:go:{token}")],
            [(texts.t(lang, "✏ Edit"), "mt:edit"), _cancel_button(context, lang)],
        ]
    state = await _save(context, draft, AWAITING_CONFIRMATION, editing=False)
    await ask(update, context, html, keyboard(rows))
    return state


async def _answered(
    query: CallbackQuery, context: BotContext, lang: str, label: str, answer: str
) -> None:
    """Turn a question whose button was pressed into a record of the answer."""
    await edit_or_send(
        query,
        context,
        context.texts.render(
            lang, "meeting_answered", label=context.texts.t(lang, label), answer=answer
        ),
    )


# ---------------------------------------------------------------------------- entries


async def meeting_command(update: Update, context: BotContext) -> str | int:
    """/meeting — office members schedule a joint meeting."""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return END
    if not rules.is_admin(viewer.member):
        await _error(update, context, viewer, NotAllowed("admin_only"))
        return END
    if await context.svc.load_draft(viewer.user_id, forms.FLOW) is not None:
        await _error(update, context, viewer, InvalidInput("busy_raise"))
        return END
    return await _ask_title(update, context, viewer, _fresh(viewer.user_id, "new"))


def _meeting_id(data: str) -> int | None:
    tail = data.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() and len(tail) < 12 else None


async def _alert(update: Update, context: BotContext, viewer: Viewer, msgid: str) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(context.texts.t(viewer.lang, msgid), show_alert=True)


_REFUSALS = {
    "admin_only": N_("Only the office can do this."),
    "not_invited": N_("Only members of the invited organisations can answer."),
    "meeting_unknown": N_("This meeting no longer exists."),
    "meeting_cancelled": N_("This meeting was cancelled."),
    "meeting_started": N_("This meeting has already started."),
}


async def _refuse(update: Update, context: BotContext, viewer: Viewer, exc: DomainError) -> None:
    await _alert(
        update, context, viewer, _REFUSALS.get(exc.code, N_("This button is no longer active."))
    )


async def reschedule_pressed(update: Update, context: BotContext) -> str | int:
    """🕑 Reschedule under /meetings: ask for the new date and time."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    meeting_id = _meeting_id(query.data)
    if meeting_id is None or not is_private(update):
        await answer_stale(update, context, viewer)
        return END
    if not rules.is_admin(viewer.member):
        await _refuse(update, context, viewer, NotAllowed("admin_only"))
        return END
    try:
        view = await context.svc.meetings.get(meeting_id)
    except NotFound as exc:
        await _refuse(update, context, viewer, exc)
        return END
    closed = view.closed(context.svc.clock.now())
    if closed is not None:
        await _refuse(update, context, viewer, InvalidInput(closed))
        return END
    if await context.svc.load_draft(viewer.user_id, forms.FLOW) is not None:
        await query.answer()
        await _error(update, context, viewer, InvalidInput("busy_raise"))
        return END
    await query.answer()
    draft = _fresh(
        viewer.user_id,
        "reschedule",
        meeting_id=view.id,
        title=view.title,
        place=view.place,
        orgs=list(view.orgs),
    )
    return await _ask_date(update, context, viewer, draft)


# ---------------------------------------------------------------------------- answers


AskNext = Callable[[Update, BotContext, Viewer, Draft], Awaitable[str]]


async def _text_answer(
    update: Update,
    context: BotContext,
    *,
    field: str,
    validate: Callable[[str], str],
    waiting: str,
    ask_next: AskNext,
) -> str | int | None:
    """A typed answer to a text step: validated and stored, then the next step (or back to
    the summary when editing)."""
    message = update.effective_message
    assert message is not None and message.text is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        return END
    try:
        value = validate(message.text)
    except InvalidInput as exc:
        await _error(update, context, viewer, exc)
        return waiting
    draft = _with(draft, **{field: value})
    if draft.data["editing"]:
        return await _show_summary(update, context, viewer, draft)
    return await ask_next(update, context, viewer, draft)


async def title_received(update: Update, context: BotContext) -> str | int | None:
    return await _text_answer(
        update,
        context,
        field="title",
        validate=domain.validate_title,
        waiting=AWAITING_TITLE,
        ask_next=_ask_date,
    )


async def _date_chosen(
    update: Update, context: BotContext, viewer: Viewer, draft: Draft, day: date
) -> str:
    return await _ask_time(update, context, viewer, _with(draft, date=day.isoformat()))


async def date_pressed(update: Update, context: BotContext) -> str | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        await answer_stale(update, context, viewer)
        return None
    today = context.svc.today()
    try:
        day = validate_future_date(date.fromisoformat(query.data.removeprefix("mt:date:")), today)
    except (ValueError, InvalidInput):
        await _alert(update, context, viewer, N_("That date can no longer be chosen."))
        return None
    await query.answer()
    await _answered(
        query, context, viewer.lang, N_("Date"), context.texts.format_date(viewer.lang, day)
    )
    return await _date_chosen(update, context, viewer, draft, day)


async def calendar_pressed(update: Update, context: BotContext) -> None:
    """Month navigation and the way back to the quick choices; the state does not change."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    await query.answer()
    if query.data == "mt:quick":
        rows = _date_rows(context, viewer.lang)
    else:
        try:
            year, month = (int(x) for x in query.data.removeprefix("mt:cal:").split("-"))
            rows = _calendar(context, viewer.lang, year, month)
        except ValueError:
            return
    message = query.message
    if isinstance(message, Message):
        try:
            await message.edit_reply_markup(reply_markup=keyboard(rows))
        except BadRequest as exc:  # a double tap: the first one already showed this month
            if "not modified" not in exc.message.lower():
                raise


async def date_typed(update: Update, context: BotContext) -> str | int | None:
    message = update.effective_message
    assert message is not None and message.text is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        return END
    today = context.svc.today()
    try:
        day = validate_future_date(parse_date(message.text, today), today)
    except InvalidInput as exc:
        await _error(update, context, viewer, exc)
        return AWAITING_DATE
    return await _date_chosen(update, context, viewer, draft, day)


async def _time_chosen(
    update: Update, context: BotContext, viewer: Viewer, draft: Draft, chosen: time
) -> str | int:
    draft = _with(draft, time=chosen.strftime("%H:%M"))
    if _starts_at(context, draft) <= context.svc.clock.now():
        raise InvalidInput("time_in_past")
    if draft.data["mode"] == "reschedule" or draft.data["editing"]:
        return await _show_summary(update, context, viewer, draft)
    return await _ask_place(update, context, viewer, draft)


async def time_pressed(update: Update, context: BotContext) -> str | int | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    digits = query.data.removeprefix("mt:time:")
    if draft is None or not draft.data.get("date") or len(digits) != 4 or not digits.isdigit():
        await answer_stale(update, context, viewer)
        return None
    try:
        chosen = parse_time(f"{digits[:2]}:{digits[2:]}")
        draft = _with(draft, time=chosen.strftime("%H:%M"))
        if _starts_at(context, draft) <= context.svc.clock.now():
            raise InvalidInput("time_in_past")
    except InvalidInput:
        await _alert(update, context, viewer, N_("That time has already passed."))
        return None
    await query.answer()
    await _answered(query, context, viewer.lang, N_("Start time"), chosen.strftime("%H:%M"))
    return await _time_chosen(update, context, viewer, draft, chosen)


async def time_typed(update: Update, context: BotContext) -> str | int | None:
    message = update.effective_message
    assert message is not None and message.text is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        return END
    try:
        return await _time_chosen(update, context, viewer, draft, parse_time(message.text))
    except InvalidInput as exc:
        await _error(update, context, viewer, exc)
        return AWAITING_TIME


async def back_to_date(update: Update, context: BotContext) -> str | None:
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        await answer_stale(update, context, viewer)
        return None
    await query.answer()
    await drop_keyboard(query)
    return await _ask_date(update, context, viewer, draft)


async def place_received(update: Update, context: BotContext) -> str | int | None:
    return await _text_answer(
        update,
        context,
        field="place",
        validate=domain.validate_place,
        waiting=AWAITING_PLACE,
        ask_next=_ask_orgs,
    )


async def org_toggled(update: Update, context: BotContext) -> str | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    organisations = context.svc.committee.organisations
    data = query.data
    if data.startswith("mt:all:"):
        wanted = (OrgKind.COURT,) if data == "mt:all:courts" else (OrgKind.DEPARTMENT, OrgKind.ZONE)
        codes = {o.code for o in context.svc.committee.orgs_of_kind(*wanted)}
    else:
        codes = {data.removeprefix("mt:org:")}
    if draft is None or not codes or not codes <= set(organisations):
        await answer_stale(update, context, viewer)
        return None
    selected = set(draft.data["orgs"])
    if len(codes) == 1:
        selected ^= codes
    elif codes <= selected:
        selected -= codes
    else:
        selected |= codes
    await query.answer()
    ordered = [code for code in organisations if code in selected]
    return await _ask_orgs(update, context, viewer, _with(draft, orgs=ordered), edit=True)


async def orgs_done(update: Update, context: BotContext) -> str | int | None:
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        await answer_stale(update, context, viewer)
        return None
    if not draft.data["orgs"]:
        await _alert(update, context, viewer, N_("Choose at least one organisation."))
        return None
    await query.answer()
    sep = "、" if viewer.lang == "zh_CN" else ", "
    committee = context.svc.committee
    await _answered(
        query,
        context,
        viewer.lang,
        N_("Invited organisations"),
        sep.join(committee.addressee_name(c, viewer.lang) for c in draft.data["orgs"]),
    )
    if draft.data["editing"]:
        return await _show_summary(update, context, viewer, draft)
    return await _ask_agenda(update, context, viewer, draft)


async def agenda_toggled(update: Update, context: BotContext) -> str | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    case_id = _meeting_id(query.data)
    if draft is None or case_id is None:
        await answer_stale(update, context, viewer)
        return None
    cases = [list(pair) for pair in draft.data["cases"]]
    if any(cid == case_id for cid, _ in cases):
        cases = [pair for pair in cases if pair[0] != case_id]
    else:
        matter = next((c for c in await _open_matters(context, viewer) if c.id == case_id), None)
        if matter is None:
            await _alert(update, context, viewer, N_("That matter is no longer open."))
            return None
        if len(cases) + len(draft.data["free"]) >= domain.MAX_AGENDA_ITEMS:
            await _alert(update, context, viewer, N_("The agenda is full."))
            return None
        cases.append([matter.id, f"{matter.number} {matter.title}"])
    await query.answer()
    return await _ask_agenda(update, context, viewer, _with(draft, cases=cases), edit=True)


async def free_item_removed(update: Update, context: BotContext) -> str | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    index = _meeting_id(query.data)
    if draft is None or index is None or index >= len(draft.data["free"]):
        await answer_stale(update, context, viewer)
        return None
    await query.answer()
    free = [item for i, item in enumerate(draft.data["free"]) if i != index]
    return await _ask_agenda(update, context, viewer, _with(draft, free=free), edit=True)


async def agenda_typed(update: Update, context: BotContext) -> str | int | None:
    message = update.effective_message
    assert message is not None and message.text is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        return END
    try:
        added = [
            domain.validate_agenda_item(line) for line in message.text.split("\n") if line.strip()
        ]
        if not added:
            raise InvalidInput("empty")
        if len(added) + len(_agenda_texts(draft)) > domain.MAX_AGENDA_ITEMS:
            raise InvalidInput("agenda_too_long", max=domain.MAX_AGENDA_ITEMS)
    except InvalidInput as exc:
        await _error(update, context, viewer, exc)
        return AWAITING_AGENDA
    free = [*draft.data["free"], *added]
    return await _ask_agenda(update, context, viewer, _with(draft, free=free))


async def agenda_done(update: Update, context: BotContext) -> str | int | None:
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        await answer_stale(update, context, viewer)
        return None
    await query.answer()
    count = len(_agenda_texts(draft))
    await _answered(
        query,
        context,
        viewer.lang,
        N_("Agenda"),
        context.texts.t(viewer.lang, "%(n)s item(s)", n=count),
    )
    return await _show_summary(update, context, viewer, draft)


# ---------------------------------------------------------------------------- confirmation

_RETRY_STEP = {
    "time_in_past": "when",
    "date_too_far": "when",
    "bad_time": "when",
    "same_time": "when",
    "no_orgs": "orgs",
    "unknown_org": "orgs",
    "case_unknown": "agenda",
    "agenda_too_long": "agenda",
}


async def _ask_again(
    update: Update, context: BotContext, viewer: Viewer, draft: Draft, step: str
) -> str | int:
    """Ask one answer again (an edit, or a refused one), then come back to the summary."""
    draft = _with(draft, editing=True)
    if step == "title":
        return await _ask_title(update, context, viewer, draft)
    if step == "place":
        return await _ask_place(update, context, viewer, draft)
    if step == "orgs":
        return await _ask_orgs(update, context, viewer, draft)
    if step == "agenda":
        return await _ask_agenda(update, context, viewer, draft)
    day = draft.data.get("date")
    if step == "time" and day and date.fromisoformat(day) >= context.svc.today():
        return await _ask_time(update, context, viewer, draft)
    return await _ask_date(update, context, viewer, draft)


async def confirm_pressed(update: Update, context: BotContext) -> str | int | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None or query.data != f"mt:go:{draft.data['token']}":
        await answer_stale(update, context, viewer)
        return None
    meetings = context.svc.meetings
    starts_at = _starts_at(context, draft)
    try:
        if draft.data["mode"] == "reschedule":
            view = await meetings.reschedule(viewer, int(draft.data["meeting_id"]), starts_at)
        else:
            agenda: list[int | str] = [int(cid) for cid, _ in draft.data["cases"]]
            agenda += list(draft.data["free"])
            view = await meetings.schedule(
                viewer,
                draft.data["title"],
                starts_at,
                draft.data["place"],
                draft.data["orgs"],
                agenda,
            )
    except InvalidInput as exc:
        await query.answer()
        await _error(update, context, viewer, exc)
        step = _RETRY_STEP.get(exc.code)
        if step == "when":
            step = "time"
        if step is not None:
            await drop_keyboard(query)
            return await _ask_again(update, context, viewer, draft, step)
        if exc.code in ("meeting_cancelled", "meeting_started"):
            await drop_keyboard(query)
            await _discard(context, viewer.user_id)
            return END
        return await _show_summary(update, context, viewer, draft)
    except (NotAllowed, NotFound) as exc:
        await query.answer()
        await drop_keyboard(query)
        await _error(update, context, viewer, exc)
        await _discard(context, viewer.user_id)
        return END
    _forget(context)  # the operation removed the draft in its own transaction
    await drop_keyboard(query)
    await deliver_now(context)
    lang = viewer.lang
    if draft.data["mode"] == "reschedule":
        await query.answer(context.texts.t(lang, "Rescheduled."))
        await reply(update, context, context.texts.render(lang, "meeting_rescheduled", view=view))
        return END
    await query.answer(context.texts.t(lang, "Scheduled."))
    posted = await context.svc.group_chat_id() is not None
    html = context.texts.render(
        lang,
        "meeting_scheduled",
        view=view,
        posted=posted,
        offsets=_offsets_text(context, lang),
    )
    await reply(update, context, html)
    return END


_EDITABLE: tuple[tuple[str, str], ...] = (
    ("title", N_("Meeting title")),
    ("time", N_("Date and time")),
    ("place", N_("Place or video link")),
    ("orgs", N_("Invited organisations")),
    ("agenda", N_("Agenda")),
)


async def edit_pressed(update: Update, context: BotContext) -> str | None:
    """✏ Edit: the summary's buttons become the list of answers to change."""
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None or draft.data["mode"] != "new":
        await answer_stale(update, context, viewer)
        return None
    await query.answer()
    buttons = [(context.texts.t(viewer.lang, label), f"mt:ed:{name}") for name, label in _EDITABLE]
    rows = chunk(buttons, 2)
    rows.append([(context.texts.t(viewer.lang, "↩ Back"), "mt:back")])
    message = query.message
    if isinstance(message, Message):
        try:
            await message.edit_reply_markup(reply_markup=keyboard(rows))
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                raise
    return None


async def field_chosen(update: Update, context: BotContext) -> str | int | None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    name = query.data.removeprefix("mt:ed:")
    if name == "when":
        name = "date"
    if draft is None or name not in {"title", "date", "time", "place", "orgs", "agenda"}:
        await answer_stale(update, context, viewer)
        return None
    await query.answer()
    await drop_keyboard(query)
    return await _ask_again(update, context, viewer, draft, "date" if name == "time" else name)


async def back_to_summary(update: Update, context: BotContext) -> str | int | None:
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
    """/cancel or the Cancel button: the draft is discarded, nothing is scheduled or moved."""
    viewer = await viewer_of(update, context)
    await _discard(context, viewer.user_id)
    query = update.callback_query
    if query is not None:
        await query.answer()
        await drop_keyboard(query)
    await reply(update, context, context.texts.render(viewer.lang, "meeting_aborted"))
    return END


async def remind(update: Update, context: BotContext) -> str | int | None:
    """/meeting while a draft is open: show the current step again instead of losing it."""
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        return END
    note = context.texts.t(
        viewer.lang,
        "You are already scheduling a meeting. Continue here, or send /cancel to discard it.",
    )
    asker = {
        AWAITING_TITLE: _ask_title,
        AWAITING_DATE: _ask_date,
        AWAITING_TIME: _ask_time,
        AWAITING_PLACE: _ask_place,
        AWAITING_ORGS: _ask_orgs,
        AWAITING_AGENDA: _ask_agenda,
    }.get(draft.state)
    if asker is None:
        return await _show_summary(update, context, viewer, draft, note=note)
    return await asker(update, context, viewer, draft, note)


async def busy(update: Update, context: BotContext) -> None:
    """Another flow's command (or a reschedule button) while this conversation is open."""
    viewer = await viewer_of(update, context)
    if update.callback_query is not None:
        await _alert(
            update,
            context,
            viewer,
            N_("Finish the meeting you are working on, or send /cancel, first."),
        )
        return
    await _error(update, context, viewer, InvalidInput("busy_meeting"))


async def wrong_input(update: Update, context: BotContext) -> None:
    """Anything the current step cannot use: say what it expects."""
    viewer = await viewer_of(update, context)
    draft = await _load(update, context)
    if draft is None:
        return
    expected = {
        AWAITING_TITLE: "text",
        AWAITING_PLACE: "text",
        AWAITING_DATE: "date",
        AWAITING_TIME: "time",
        AWAITING_AGENDA: "agenda",
    }.get(draft.state, "button")
    await _error(update, context, viewer, InvalidInput("wrong_input"), expected=expected)


# ---------------------------------------------------------------------------- outside the flow


async def meetings_command(update: Update, context: BotContext) -> None:
    """/meetings — the coming meetings; office members get reschedule and cancel buttons."""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return
    if not await require_member(update, context, viewer):
        return
    views = await context.svc.meetings.upcoming(LIST_LIMIT)
    office = rules.is_admin(viewer.member)
    rows: list[list[Button]] = []
    if office:
        for n, view in enumerate(views, start=1):
            rows.append(
                [
                    (context.texts.t(viewer.lang, "🕑 Reschedule %(n)s", n=n), f"mt:rs:{view.id}"),
                    (context.texts.t(viewer.lang, "✖ Cancel %(n)s", n=n), f"mt:cx:{view.id}"),
                ]
            )
    html = context.texts.render(viewer.lang, "meeting_list", views=views, office=office)
    await reply(update, context, html, keyboard(rows) if rows else None)


async def cancel_meeting_pressed(update: Update, context: BotContext) -> None:
    """✖ Cancel under /meetings: ask to confirm, since everyone told will be notified."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    meeting_id = _meeting_id(query.data)
    if meeting_id is None:
        await answer_stale(update, context, viewer)
        return
    if not rules.is_admin(viewer.member):
        await _refuse(update, context, viewer, NotAllowed("admin_only"))
        return
    try:
        view = await context.svc.meetings.get(meeting_id)
    except NotFound as exc:
        await _refuse(update, context, viewer, exc)
        return
    if view.cancelled:
        await _refuse(update, context, viewer, InvalidInput("meeting_cancelled"))
        return
    await query.answer()
    texts = context.texts
    rows = [
        [
            (texts.t(viewer.lang, "✖ Yes, cancel the meeting"), f"mt:cxok:{view.id}"),
            (texts.t(viewer.lang, "↩ Keep it"), "mt:cxno"),
        ]
    ]
    html = texts.render(viewer.lang, "meeting_cancel_confirm", view=view, done=False)
    await reply(update, context, html, keyboard(rows))


async def cancel_meeting_confirmed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    meeting_id = _meeting_id(query.data)
    if meeting_id is None:
        await answer_stale(update, context, viewer)
        return
    try:
        change = await context.svc.meetings.cancel(viewer, meeting_id)
    except DomainError as exc:
        await _refuse(update, context, viewer, exc)
        await drop_keyboard(query)
        return
    if not change.changed:
        await _refuse(update, context, viewer, InvalidInput("meeting_cancelled"))
        await drop_keyboard(query)
        return
    await query.answer(context.texts.t(viewer.lang, "Meeting cancelled."))
    html = context.texts.render(viewer.lang, "meeting_cancel_confirm", view=change.view, done=True)
    await edit_or_send(query, context, html)
    await deliver_now(context)


async def keep_meeting(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    await query.answer(context.texts.t(viewer.lang, "The meeting stays as it is."))
    await drop_keyboard(query)


async def rsvp_pressed(update: Update, context: BotContext) -> None:
    """An answer button on the group post (or a reminder): recorded for the presser's
    organisation, checked against the database; the post then shows every answer."""
    query = update.callback_query
    assert query is not None and query.data is not None
    viewer = await viewer_of(update, context)
    parts = query.data.split(":")
    if len(parts) != 4 or not parts[2].isdigit() or parts[3] not in RSVP_CODES:
        await answer_stale(update, context, viewer)
        return
    answer = RSVP_CODES[parts[3]]
    try:
        change = await context.svc.meetings.rsvp(viewer, int(parts[2]), answer)
    except DomainError as exc:
        await _refuse(update, context, viewer, exc)
        return
    # The membership the domain authorised: the cached one may predate a change.
    viewer = await viewer_of(update, context)
    texts = context.texts
    org = viewer.member.org_code if viewer.member is not None else ""
    params = {
        "org": texts.committee.addressee_name(org, viewer.lang),
        "answer": texts.t(viewer.lang, ANSWER_LABELS[answer]),
    }
    if not change.changed:
        await query.answer(
            texts.t(viewer.lang, "Already recorded: %(org)s, %(answer)s.", **params),
            show_alert=True,
        )
        return
    await query.answer(texts.t(viewer.lang, "Recorded: %(org)s, %(answer)s.", **params))
    message = query.message
    if not isinstance(message, Message):
        return
    if message.chat.type == Chat.PRIVATE:
        # A private reminder stays a reminder: the answer above is all the presser needs.
        return
    lang = DEFAULT_LANG
    try:
        await message.edit_text(
            post_html(texts, lang, change.view),
            parse_mode="HTML",
            reply_markup=rsvp_markup(texts, lang, change.view),
            disable_web_page_preview=True,
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            logger.info("could not update the meeting post: %s", exc.message)
    except TelegramError as exc:
        logger.info("could not update the meeting post: %s", exc)


async def stale_pressed(update: Update, context: BotContext) -> None:
    """A meeting-flow button pressed outside its step: after scheduling, a cancel, a restart."""
    query = update.callback_query
    assert query is not None
    if query.data == "mt:noop":
        await query.answer()
        return
    viewer = await viewer_of(update, context)
    await answer_stale(update, context, viewer)
    await drop_keyboard(query)


# ---------------------------------------------------------------------------- registration


def build_handler() -> ConversationHandler[BotContext]:
    """The /meeting conversation (and the reschedule questions), saved at every step."""
    text = filters.TEXT & ~filters.COMMAND
    anything_else = filters.ChatType.PRIVATE & ~filters.COMMAND & ~filters.UpdateType.EDITED
    return ConversationHandler(
        entry_points=[
            CommandHandler("meeting", meeting_command),
            CallbackQueryHandler(reschedule_pressed, pattern=r"^mt:rs:"),
        ],
        states={
            AWAITING_TITLE: [MessageHandler(text, title_received)],
            AWAITING_DATE: [
                CallbackQueryHandler(date_pressed, pattern=r"^mt:date:"),
                CallbackQueryHandler(calendar_pressed, pattern=r"^mt:(cal:|quick$)"),
                MessageHandler(text, date_typed),
            ],
            AWAITING_TIME: [
                CallbackQueryHandler(time_pressed, pattern=r"^mt:time:"),
                CallbackQueryHandler(back_to_date, pattern=r"^mt:redate$"),
                MessageHandler(text, time_typed),
            ],
            AWAITING_PLACE: [MessageHandler(text, place_received)],
            AWAITING_ORGS: [
                CallbackQueryHandler(org_toggled, pattern=r"^mt:(org|all):"),
                CallbackQueryHandler(orgs_done, pattern=r"^mt:orgs:done$"),
            ],
            AWAITING_AGENDA: [
                CallbackQueryHandler(agenda_toggled, pattern=r"^mt:ag:\d+$"),
                CallbackQueryHandler(free_item_removed, pattern=r"^mt:agx:\d+$"),
                CallbackQueryHandler(agenda_done, pattern=r"^mt:agdone$"),
                MessageHandler(text, agenda_typed),
            ],
            AWAITING_CONFIRMATION: [
                CallbackQueryHandler(confirm_pressed, pattern=r"^mt:go:"),
                CallbackQueryHandler(edit_pressed, pattern=r"^mt:edit$"),
                CallbackQueryHandler(field_chosen, pattern=r"^mt:ed:"),
                CallbackQueryHandler(back_to_summary, pattern=r"^mt:back$"),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CallbackQueryHandler(cancel, pattern=r"^mt:cancel$"),
            CommandHandler("meeting", remind),
            CommandHandler("new", busy),
            CallbackQueryHandler(busy, pattern=r"^mt:rs:"),
            CallbackQueryHandler(stale_pressed, pattern=r"^mt:noop$"),
            MessageHandler(anything_else, wrong_input),
        ],
        name=FLOW,
        persistent=True,
        allow_reentry=False,
    )


def build_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    """The single-update handlers: /meetings, the answer buttons, cancelling a meeting, and
    the catcher for this flow's buttons pressed out of turn."""
    return [
        CommandHandler("meetings", meetings_command),
        CallbackQueryHandler(rsvp_pressed, pattern=r"^mt:rsvp:"),
        CallbackQueryHandler(cancel_meeting_pressed, pattern=r"^mt:cx:"),
        CallbackQueryHandler(cancel_meeting_confirmed, pattern=r"^mt:cxok:"),
        CallbackQueryHandler(keep_meeting, pattern=r"^mt:cxno$"),
        CallbackQueryHandler(stale_pressed, pattern=r"^mt:"),
    ]
