"""The form engine: one draft-backed conversation that asks a form's fields one by one.

Every conversation that asks questions is a ``Form``: raising a matter (``handlers.raise_case``)
and the inputs of an action (``handlers.actions``) — a return's reason, an outcome, a note, the
official who will appear. The engine asks each field with its widget (typed text, buttons for
one or several choices, a date, a date and a time, files), checks every answer with the field's
type, stores it, and moves on; a form then shows a summary to submit, or acts at once.

Every step saves the draft *and* the state it now waits in, in one write, before the question
is sent, so a restart resumes the conversation where it was and an answer to a question whose
send timed out is still taken. Each button carries the token of the conversation it belongs
to: a button left on an earlier question never acts on a newer conversation.
"""

from __future__ import annotations

import logging
import secrets
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, time
from typing import Any, ClassVar

from telegram import CallbackQuery, Message, Update
from telegram.error import BadRequest
from telegram.ext import ConversationHandler

from bot.domain.errors import DomainError, InvalidInput
from bot.domain.fields import (
    DATETIME,
    FieldContext,
    FieldSpec,
    Option,
    Widget,
    parse_date,
    parse_time,
    validate_file,
    validate_future_date,
)
from bot.domain.models import Draft, Viewer
from handlers import buttons, widgets
from handlers.common import (
    BotContext,
    Button,
    answer_stale,
    ask,
    drop_keyboard,
    edit_or_send,
    keyboard,
    reply,
    viewer_of,
)

logger = logging.getLogger(__name__)

FLOW = "form"  # the drafts' flow and the ConversationHandler's name
END = ConversationHandler.END

AWAITING_KIND = "AWAITING_KIND"
AWAITING_TEXT = "AWAITING_TEXT"
AWAITING_CHOICE = "AWAITING_CHOICE"
AWAITING_CHOICES = "AWAITING_CHOICES"
AWAITING_DATE = "AWAITING_DATE"
AWAITING_TIME = "AWAITING_TIME"
AWAITING_FILES = "AWAITING_FILES"
AWAITING_CONFIRMATION = "AWAITING_CONFIRMATION"
AWAITING_FIELD_TO_EDIT = "AWAITING_FIELD_TO_EDIT"
STATES = (
    AWAITING_KIND,
    AWAITING_TEXT,
    AWAITING_CHOICE,
    AWAITING_CHOICES,
    AWAITING_DATE,
    AWAITING_TIME,
    AWAITING_FILES,
    AWAITING_CONFIRMATION,
    AWAITING_FIELD_TO_EDIT,
)
ASKING = (
    AWAITING_TEXT,
    AWAITING_CHOICE,
    AWAITING_CHOICES,
    AWAITING_DATE,
    AWAITING_TIME,
    AWAITING_FILES,
)
STATE_FOR_WIDGET: dict[Widget, str] = {
    Widget.TEXT: AWAITING_TEXT,
    Widget.CHOICE: AWAITING_CHOICE,
    Widget.MULTI_CHOICE: AWAITING_CHOICES,
    Widget.DATE: AWAITING_DATE,
    Widget.DATETIME: AWAITING_DATE,
    Widget.FILES: AWAITING_FILES,
}
# What a message that fits no step is told the step expects (templates/error.html).
EXPECTED = {
    AWAITING_TEXT: "text",
    AWAITING_CHOICE: "choice",
    AWAITING_CHOICES: "choice",
    AWAITING_DATE: "date",
    AWAITING_TIME: "time",
    AWAITING_FILES: "files",
}
_CACHE_KEY = "form_draft"

State = str | int | None


@dataclass
class Turn:
    """One update inside a form: who, which draft, and the ways to answer."""

    update: Update
    context: BotContext
    viewer: Viewer
    draft: Draft
    # Shared by every copy of the turn (``with_data``): was the press answered yet?
    _answers: list[str] = field(default_factory=list)

    @property
    def data(self) -> dict[str, Any]:
        return self.draft.data

    @property
    def lang(self) -> str:
        return self.viewer.lang

    @property
    def token(self) -> str:
        return str(self.data["token"])

    def button(self, op: str, arg: str | int | None = None) -> str:
        return buttons.form(self.token, op, arg)

    def data_maker(self) -> widgets.Data:
        return lambda op, arg: buttons.form(self.token, op, arg or None)

    def tr(self, msgid: str, **params: Any) -> str:
        """A short text in the user's language (extracted for the catalog with ``-k tr``)."""
        return self.context.texts.t(self.lang, msgid, **params)

    def render(self, name: str, **params: Any) -> str:
        return self.context.texts.render(self.lang, name, **params)

    def with_data(self, **changes: Any) -> Turn:
        draft = Draft(self.draft.user_id, FLOW, self.draft.state, {**self.data, **changes})
        return replace(self, draft=draft)

    async def save(self, state: str, **changes: Any) -> str:
        new = Draft(self.draft.user_id, FLOW, state, {**self.data, **changes})
        await self.context.svc.save_draft(new)
        assert self.context.user_data is not None
        self.context.user_data[_CACHE_KEY] = new
        self.draft = new
        return state

    async def discard(self) -> None:
        await self.context.svc.delete_draft(self.viewer.user_id, FLOW)
        forget(self.context)

    async def say(self, html: str, markup: Any = None) -> None:
        await reply(self.update, self.context, html, markup)

    async def error(self, exc: DomainError) -> None:
        await self.say(self.render("error", code=exc.code, **exc.params))

    @property
    def query(self) -> CallbackQuery | None:
        return self.update.callback_query

    async def stale(self) -> None:
        """Answer a press on a button that no longer does anything."""
        await self.answer(self.tr("This button is no longer active."))

    async def answer(self, text: str = "", *, alert: bool = False) -> None:
        """Answer the button press, once: the first answer given is the one the user sees
        (a form that acts at its last step answers with what it did)."""
        if self.query is not None and not self._answers:
            self._answers.append(text)
            await self.query.answer(text or None, show_alert=alert)

    @property
    def answered(self) -> bool:
        return bool(self._answers)

    def field_context(
        self, dynamic: Mapping[str, Sequence[tuple[str, str]]] | None = None
    ) -> FieldContext:
        return self.context.svc.field_context(dynamic)


def forget(context: BotContext) -> None:
    """Drop the cached draft (the database no longer has it: a submit or an action removed it
    in its own transaction)."""
    assert context.user_data is not None
    context.user_data.pop(_CACHE_KEY, None)


async def load(update: Update, context: BotContext) -> Draft | None:
    """The user's form draft: from memory, or from the database after a restart."""
    user_data = context.user_data
    assert user_data is not None
    draft = user_data.get(_CACHE_KEY)
    if draft is None:
        user = update.effective_user
        assert user is not None
        draft = await context.svc.load_draft(user.id, FLOW)
        user_data[_CACHE_KEY] = draft
    return draft


def new_draft(user_id: int, form: str, state: str = AWAITING_TEXT, **data: Any) -> Draft:
    return Draft(
        user_id,
        FLOW,
        state,
        {
            "form": form,
            "token": secrets.token_hex(6),
            "field": None,
            "part": None,
            "values": {},
            "editing": False,
            **data,
        },
    )


# ---------------------------------------------------------------------------- forms


class Form(ABC):
    """A kind of conversation. Subclasses say what it asks and what happens at the end."""

    name: ClassVar[str]

    def cancelled(self, context: BotContext, draft: Draft) -> str:
        """The template that confirms a Cancel."""
        return "cancelled"

    @abstractmethod
    async def fields(self, turn: Turn) -> tuple[FieldSpec, ...]:
        """The questions, in order (they may depend on earlier answers, e.g. the kind)."""

    async def allowed(self, turn: Turn) -> DomainError | None:
        """Checked at every step: a member revoked mid-form is told at once."""
        return None

    async def dynamic(self, turn: Turn, spec: FieldSpec) -> list[tuple[str, str]]:
        """Choices that come from the database, for a field that has them."""
        return []

    def ask_html(self, turn: Turn, spec: FieldSpec, step: int, steps: int, note: str) -> str:
        return turn.render(
            "ask",
            title="",
            spec=spec,
            step=step,
            steps=steps,
            note=note,
            current=turn.data["values"].get(spec.name),
            editing=turn.data.get("editing", False),
        )

    async def summary(self, turn: Turn, note: str = "") -> State:
        """Show every answer with Submit / Edit / Cancel (forms that act at once have none)."""
        return await self.finish(turn)

    @abstractmethod
    async def finish(self, turn: Turn) -> State:
        """After the last field: the summary, or the action itself."""

    async def submit(self, turn: Turn) -> State:
        """The summary's Submit button (forms without a summary never show one)."""
        await turn.stale()
        return None

    async def resume(self, turn: Turn, note: str) -> State:
        """Show the step the user is at again (after a command that would start another)."""
        if turn.draft.state in (AWAITING_CONFIRMATION, AWAITING_FIELD_TO_EDIT):
            return await self.summary(turn, note=note)
        field = turn.data.get("field")
        if not field:
            await turn.say(turn.render("error", code="finish_choice"))
            return None
        return await ask_field(turn, await field_named(turn, field), note=note)


FORMS: dict[str, Form] = {}


def register(form: Form) -> Form:
    FORMS[form.name] = form
    return form


def form_of(draft: Draft) -> Form:
    # Drafts written before the form engine were raise conversations.
    return FORMS[str(draft.data.get("form") or "raise")]


async def field_named(turn: Turn, name: str) -> FieldSpec:
    for spec in await form_of(turn.draft).fields(turn):
        if spec.name == name:
            return spec
    raise KeyError(name)


async def current_field(turn: Turn) -> FieldSpec | None:
    name = turn.data.get("field")
    if not name:
        return None
    try:
        return await field_named(turn, str(name))
    except KeyError:
        return None


# ---------------------------------------------------------------------------- asking


async def _options(turn: Turn, spec: FieldSpec) -> list[Option]:
    dynamic = {spec.name: await form_of(turn.draft).dynamic(turn, spec)}
    return spec.options(turn.field_context(dynamic))


async def ask_field(turn: Turn, spec: FieldSpec, note: str = "", *, edit: bool = False) -> str:
    """Ask for one field, with buttons wherever there is a choice; returns the waiting state."""
    form = form_of(turn.draft)
    fields = await form.fields(turn)
    texts, lang, data = turn.context.texts, turn.lang, turn.data_maker()
    widget = spec.type.widget
    rows: list[list[Button]]
    if widget is Widget.CHOICE:
        rows = widgets.option_rows(texts, lang, spec, await _options(turn, spec), data)
    elif widget is Widget.MULTI_CHOICE:
        selected = list(turn.data["values"].get(spec.name) or [])
        rows = widgets.toggle_rows(texts, lang, await _options(turn, spec), selected, data)
    elif widget in (Widget.DATE, Widget.DATETIME):
        rows = widgets.date_rows(texts, lang, turn.context.svc.today(), spec.required, data)
    elif widget is Widget.FILES:
        rows = [[(turn.tr("✔ Done"), turn.button("fdone"))]]
    else:
        rows = [[(turn.tr(s), turn.button("sug", i))] for i, s in enumerate(spec.suggestions)]
        if not spec.required:
            rows.append([(turn.tr("Skip"), turn.button("skip"))])
    rows.append([cancel_button(turn)])
    step = [f.name for f in fields].index(spec.name) + 1
    html = form.ask_html(turn, spec, step, len(fields), note)
    # Save first: once the user sees the question, their answer must be taken for it,
    # even if the bot is killed right after sending.
    state = await turn.save(STATE_FOR_WIDGET[widget], field=spec.name, part=None)
    await ask(turn.update, turn.context, html, keyboard(rows), query=turn.query if edit else None)
    return state


async def ask_time(turn: Turn, spec: FieldSpec, day: date, note: str = "") -> str:
    """The second question of a date-and-time field."""
    svc = turn.context.svc
    rows = widgets.time_rows(
        turn.context.texts, turn.lang, day, svc.clock.now(), svc.tz, turn.data_maker()
    )
    rows.append([cancel_button(turn)])
    html = turn.render("ask_time", spec=spec, day=day, note=note, tz=str(svc.tz))
    state = await turn.save(AWAITING_TIME, field=spec.name, part=day.isoformat())
    await ask(turn.update, turn.context, html, keyboard(rows))
    return state


def cancel_button(turn: Turn) -> Button:
    return (turn.tr("✖ Cancel"), turn.button("cancel"))


async def advance(turn: Turn, value: Any) -> State:
    """Store a field's answer and move on: the next field, or the end of the form."""
    name = str(turn.data["field"])
    turn = turn.with_data(values={**turn.data["values"], name: value}, part=None)
    form = form_of(turn.draft)
    if turn.data.get("editing"):
        return await form.summary(turn)
    fields = await form.fields(turn)
    names = [f.name for f in fields]
    following = fields[names.index(name) + 1] if names.index(name) + 1 < len(fields) else None
    if following is None:
        return await form.finish(turn)
    return await ask_field(turn, following)


async def show_answer(turn: Turn, spec: FieldSpec, answer: str) -> None:
    """Turn a question whose button was pressed into a record of the answer."""
    query = turn.query
    if query is not None:
        await edit_or_send(query, turn.context, turn.render("answered", spec=spec, answer=answer))


# ---------------------------------------------------------------------------- answers


Step = Callable[[Turn], Awaitable[State]]


async def _turn(update: Update, context: BotContext) -> Turn | None:
    draft = await load(update, context)
    if draft is None:
        return None
    return Turn(update, context, await viewer_of(update, context), draft)


async def _guarded(turn: Turn, step: Step) -> State:
    """Every step checks again that the user may go on (a revoked member is told at once and
    the draft is discarded)."""
    refusal = await form_of(turn.draft).allowed(turn)
    if refusal is None:
        return await step(turn)
    await turn.answer()
    await turn.error(refusal)
    await turn.discard()
    return END


async def text_received(update: Update, context: BotContext) -> State:
    turn = await _turn(update, context)
    if turn is None:
        return END
    return await _guarded(turn, _text)


async def _text(turn: Turn) -> State:
    message = turn.update.effective_message
    assert message is not None and message.text is not None
    spec = await current_field(turn)
    state = turn.draft.state
    if spec is None or state not in (AWAITING_TEXT, AWAITING_DATE, AWAITING_TIME):
        await wrong_input(turn)
        return None
    ctx = turn.field_context()
    try:
        if state == AWAITING_TEXT:
            return await advance(turn, spec.type.parse_text(spec, message.text, ctx))
        if state == AWAITING_DATE:
            day = validate_future_date(parse_date(message.text, ctx.today), ctx.today)
            return await _date_chosen(turn, spec, day)
        return await _time_chosen(turn, spec, parse_time(message.text))
    except InvalidInput as exc:
        await turn.error(exc)
        return state


async def _date_chosen(turn: Turn, spec: FieldSpec, day: date) -> State:
    if spec.type is DATETIME:
        return await ask_time(turn, spec, day)
    return await advance(turn, day.isoformat())


async def _time_chosen(turn: Turn, spec: FieldSpec, chosen: time) -> State:
    day = date.fromisoformat(str(turn.data["part"]))
    value = DATETIME.combine(day, chosen, turn.field_context())
    return await advance(turn, value)


async def file_received(update: Update, context: BotContext) -> State:
    turn = await _turn(update, context)
    if turn is None:
        return END
    return await _guarded(turn, _file)


async def _file(turn: Turn) -> State:
    message = turn.update.effective_message
    assert message is not None
    spec = await current_field(turn)
    if spec is None or turn.draft.state != AWAITING_FILES:
        await wrong_input(turn)
        return None
    files = list(turn.data["values"].get(spec.name) or [])
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
        validate_file(entry["file_size"], len(files), spec)  # type: ignore[arg-type]
    except InvalidInput as exc:
        await turn.error(exc)
        return AWAITING_FILES
    files.append(entry)
    state = await turn.save(AWAITING_FILES, values={**turn.data["values"], spec.name: files})
    await ask(
        turn.update,
        turn.context,
        turn.render("file_received", count=len(files), max=spec.max_files),
        keyboard([[(turn.tr("✔ Done"), turn.button("fdone"))]]),
    )
    return state


async def pressed(update: Update, context: BotContext) -> State:
    """Every button of a form: checked against the conversation it belongs to, then done."""
    query = update.callback_query
    assert query is not None
    parsed = buttons.parse_form(query.data)
    turn = await _turn(update, context)
    if turn is None or parsed is None or parsed[0] != turn.token:
        viewer = turn.viewer if turn is not None else await viewer_of(update, context)
        await _stale(update, context, viewer, parsed)
        return None
    _, op, arg = parsed
    if op == "noop":
        await query.answer()
        return None
    if op == "cancel":
        return await cancel(update, context)
    handler = _PRESSES.get(op)
    if handler is None or (arg != "") != (op in _WITH_ARGUMENT):
        await answer_stale(update, context, turn.viewer)
        return None
    try:
        return await _guarded(turn, lambda t: handler(t, arg))
    finally:
        # Every press is answered, once; steps that said nothing get an empty answer.
        if not turn.answered:
            await turn.answer()


async def _stale(
    update: Update, context: BotContext, viewer: Viewer, parsed: tuple[str, str, str] | None
) -> None:
    """A form button pressed outside its conversation: after a submit, a cancel, a restart,
    or on an earlier conversation's question."""
    query = update.callback_query
    assert query is not None
    if parsed is not None and parsed[1] == "noop":
        await query.answer()
        return
    if parsed is not None and parsed[1] == "go":
        case = await context.svc.case_by_submit_token(parsed[0])
        if case is not None and case.raiser_user_id == viewer.user_id:
            await query.answer(
                context.texts.t(
                    viewer.lang, "Already submitted as %(number)s.", number=case.number
                ),
                show_alert=True,
            )
            await _drop_in_private(update, query)
            return
    await answer_stale(update, context, viewer)
    await _drop_in_private(update, query)


async def _drop_in_private(update: Update, query: CallbackQuery) -> None:
    chat = update.effective_chat
    if chat is not None and chat.type == "private":  # never strip a group message of its buttons
        await drop_keyboard(query)


async def _option(turn: Turn, value: str) -> State:
    spec = await current_field(turn)
    query = turn.query
    assert query is not None
    if spec is None or turn.draft.state != AWAITING_CHOICE:
        await turn.stale()
        return None
    options = {o.value: o for o in await _options(turn, spec)}
    if value not in options:
        await turn.stale()
        return None
    await show_answer(
        turn, spec, widgets.option_label(turn.context.texts, turn.lang, options[value])
    )
    return await advance(turn, value)


async def _toggle(turn: Turn, value: str) -> State:
    spec = await current_field(turn)
    query = turn.query
    assert query is not None
    if spec is None or turn.draft.state != AWAITING_CHOICES:
        await turn.stale()
        return None
    options = [o.value for o in await _options(turn, spec)]
    if value not in options:
        await turn.stale()
        return None
    chosen = set(turn.data["values"].get(spec.name) or [])
    chosen ^= {value}
    ordered = [o for o in options if o in chosen]
    await turn.answer()
    turn = turn.with_data(values={**turn.data["values"], spec.name: ordered})
    return await ask_field(turn, spec, edit=True)


async def _toggles_done(turn: Turn, _: str) -> State:
    spec = await current_field(turn)
    query = turn.query
    assert query is not None
    if spec is None or turn.draft.state != AWAITING_CHOICES:
        await turn.stale()
        return None
    chosen = list(turn.data["values"].get(spec.name) or [])
    if spec.required and not chosen:
        await turn.answer(turn.tr("Choose at least one organisation."), alert=True)
        return None
    await show_answer(turn, spec, spec.show(chosen, turn.context.texts.labels(turn.lang)))
    return await advance(turn, chosen)


async def _date(turn: Turn, value: str) -> State:
    spec = await current_field(turn)
    query = turn.query
    assert query is not None
    if spec is None or turn.draft.state != AWAITING_DATE:
        await turn.stale()
        return None
    today = turn.context.svc.today()
    try:
        day = validate_future_date(date.fromisoformat(value), today)
    except (ValueError, InvalidInput):
        await turn.answer(turn.tr("That date can no longer be chosen."), alert=True)
        return None
    await show_answer(turn, spec, turn.context.texts.format_date(turn.lang, day))
    return await _date_chosen(turn, spec, day)


async def _calendar(turn: Turn, value: str) -> State:
    """Month navigation and the way back to the quick choices; the state does not change."""
    spec = await current_field(turn)
    query = turn.query
    assert query is not None
    if spec is None or turn.draft.state != AWAITING_DATE:
        await turn.stale()
        return None
    texts, today = turn.context.texts, turn.context.svc.today()
    if value == "":
        rows = widgets.date_rows(texts, turn.lang, today, spec.required, turn.data_maker())
    else:
        first = widgets.month_shown(value, today)
        if first is None:
            await turn.stale()
            return None
        rows = widgets.calendar_rows(
            texts, turn.lang, today, first.year, first.month, turn.data_maker()
        )
    await turn.answer()
    rows.append([cancel_button(turn)])
    await _replace_keyboard(query, rows)
    return None


async def _replace_keyboard(query: CallbackQuery, rows: list[list[Button]]) -> None:
    message = query.message
    if isinstance(message, Message):
        try:
            await message.edit_reply_markup(reply_markup=keyboard(rows))
        except BadRequest as exc:  # a double tap: the first one already showed this
            if "not modified" not in exc.message.lower():
                raise


async def _time(turn: Turn, value: str) -> State:
    spec = await current_field(turn)
    query = turn.query
    assert query is not None
    if spec is None or turn.draft.state != AWAITING_TIME or len(value) != 4 or not value.isdigit():
        await turn.stale()
        return None
    try:
        chosen = parse_time(f"{value[:2]}:{value[2:]}")
        DATETIME.combine(date.fromisoformat(str(turn.data["part"])), chosen, turn.field_context())
    except InvalidInput:
        await turn.answer(turn.tr("That time has already passed."), alert=True)
        return None
    await show_answer(turn, spec, chosen.strftime("%H:%M"))
    return await _time_chosen(turn, spec, chosen)


async def _redate(turn: Turn, _: str) -> State:
    spec = await current_field(turn)
    query = turn.query
    assert query is not None
    if spec is None or turn.draft.state != AWAITING_TIME:
        await turn.stale()
        return None
    await turn.answer()
    await drop_keyboard(query)
    return await ask_field(turn, spec)


async def _suggestion(turn: Turn, value: str) -> State:
    spec = await current_field(turn)
    query = turn.query
    assert query is not None
    index = buttons.number(value)
    if (
        spec is None
        or turn.draft.state != AWAITING_TEXT
        or index is None
        or index >= len(spec.suggestions)
    ):
        await turn.stale()
        return None
    text = turn.tr(spec.suggestions[index])
    await show_answer(turn, spec, text)
    return await advance(turn, spec.type.parse_text(spec, text, turn.field_context()))


async def _files_done(turn: Turn, _: str) -> State:
    spec = await current_field(turn)
    query = turn.query
    assert query is not None
    if spec is None or turn.draft.state != AWAITING_FILES:
        await turn.stale()
        return None
    await turn.answer()
    await drop_keyboard(query)
    return await advance(turn, turn.data["values"].get(spec.name) or [])


async def _skip(turn: Turn, _: str) -> State:
    spec = await current_field(turn)
    query = turn.query
    assert query is not None
    # Only the widgets that show a Skip button take one (a file step has Done instead).
    skippable = (Widget.TEXT, Widget.DATE, Widget.DATETIME)
    if (
        spec is None
        or spec.required
        or spec.type.widget not in skippable
        or turn.draft.state not in (AWAITING_TEXT, AWAITING_DATE)
    ):
        await turn.stale()
        return None
    await show_answer(turn, spec, turn.tr("—"))
    return await advance(turn, None)


async def _submit(turn: Turn, _: str) -> State:
    if turn.draft.state != AWAITING_CONFIRMATION:
        await turn.stale()
        return None
    return await form_of(turn.draft).submit(turn)


async def _edit(turn: Turn, _: str) -> State:
    """✏ Edit a field: the fields as buttons, and the way back to the summary."""
    query = turn.query
    assert query is not None
    if turn.draft.state != AWAITING_CONFIRMATION:
        await turn.stale()
        return None
    await turn.answer()
    fields = await form_of(turn.draft).fields(turn)
    rows = [
        [(turn.tr(f.label), turn.button("field", f.name)) for f in fields[i : i + 2]]
        for i in range(0, len(fields), 2)
    ]
    rows.append([(turn.tr("↩ Back"), turn.button("back"))])
    await edit_or_send(query, turn.context, turn.render("choose_field"), keyboard(rows))
    return await turn.save(AWAITING_FIELD_TO_EDIT)


async def _field_chosen(turn: Turn, name: str) -> State:
    query = turn.query
    assert query is not None
    if turn.draft.state != AWAITING_FIELD_TO_EDIT:
        await turn.stale()
        return None
    try:
        spec = await field_named(turn, name)
    except KeyError:
        await turn.stale()
        return None
    await turn.answer()
    await drop_keyboard(query)
    return await ask_field(turn.with_data(editing=True), spec)


async def _back(turn: Turn, _: str) -> State:
    query = turn.query
    assert query is not None
    if turn.draft.state != AWAITING_FIELD_TO_EDIT:
        await turn.stale()
        return None
    await turn.answer()
    await drop_keyboard(query)
    return await form_of(turn.draft).summary(turn)


Press = Callable[[Turn, str], Awaitable[State]]
# The operations whose button carries an argument; every other one carries none.
_WITH_ARGUMENT = frozenset({"kind", "opt", "tog", "date", "cal", "time", "sug", "field"})
_PRESSES: dict[str, Press] = {
    "opt": _option,
    "tog": _toggle,
    "tdone": _toggles_done,
    "date": _date,
    "cal": _calendar,
    "quick": lambda turn, _: _calendar(turn, ""),
    "time": _time,
    "redate": _redate,
    "sug": _suggestion,
    "fdone": _files_done,
    "skip": _skip,
    "go": _submit,
    "edit": _edit,
    "field": _field_chosen,
    "back": _back,
}


def extra_presses(ops: dict[str, Press]) -> None:
    """Buttons a form adds to the engine's (the kind choice of the raise form)."""
    _PRESSES.update(ops)


async def cancel(update: Update, context: BotContext) -> int:
    """/cancel or the Cancel button: the draft is discarded, nothing is submitted."""
    viewer = await viewer_of(update, context)
    draft = await load(update, context)
    template = form_of(draft).cancelled(context, draft) if draft is not None else "cancelled"
    await context.svc.delete_draft(viewer.user_id, FLOW)
    forget(context)
    query = update.callback_query
    if query is not None:
        await query.answer()
        await drop_keyboard(query)
    await reply(update, context, context.texts.render(viewer.lang, template))
    return END


async def wrong_input(turn: Turn) -> None:
    """Anything the current step cannot use: say what it expects, and ask again later."""
    state = turn.draft.state
    spec = await current_field(turn) if state in ASKING else None
    expected = EXPECTED.get(state, "button") if spec is not None else "button"
    if spec is not None and state == AWAITING_TEXT:
        expected = spec.type.code if spec.type.code in ("text", "long_text") else "text"
    if spec is not None and state == AWAITING_CHOICE:
        expected = spec.type.code
    await turn.say(turn.render("error", code="wrong_input", expected=expected))


async def anything_else(update: Update, context: BotContext) -> State:
    turn = await _turn(update, context)
    if turn is None:
        return END

    async def step(turn: Turn) -> State:
        await wrong_input(turn)
        return None

    return await _guarded(turn, step)
