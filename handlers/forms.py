"""The form engine: one draft-backed conversation that asks a form's fields one by one.

Every conversation that asks questions is a ``Form``: raising a matter (``handlers.raise_case``)
and the inputs of an action (``handlers.actions``) — a return's reason, an outcome, a note, the
official who will appear. The engine asks each field with its widget (typed text, buttons for
one or several choices, a date, a date and a time, files), checks every answer with the field's
type, stores it, and moves on; a form then shows a summary to submit, or acts at once.

Every step saves the draft *and* the state it now waits in, in one write, before the question
is sent, so a restart resumes the conversation where it was and an answer to a question whose
send timed out is still taken. Each button carries the token of the conversation it belongs
to and the number of the question it was shown with: a button left on an earlier question
never acts on a newer conversation, nor on a later question of the same one.

A press on a question turns that message into the next question (one edit; Telegram counts
every call), keeping the answers given on it as "✔" lines above; what the user types arrives
as a message of its own, so the question after it is a new message, and the question it
answered loses its buttons (as does the question /cancel leaves): only the current question
in the chat ever looks live. A question whose message cannot be edited (too old, deleted) is
sent as a new message instead.
"""

from __future__ import annotations

import logging
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, ClassVar

from telegram import CallbackQuery, Chat, Message, Update
from telegram.error import TelegramError
from telegram.ext import ConversationHandler

from bot.domain.errors import DomainError
from bot.domain.fields import (
    FieldContext,
    FieldSpec,
    Option,
    Widget,
    asked,
)
from bot.domain.models import Draft, Viewer
from handlers import buttons, widgets
from handlers.common import (
    BotContext,
    Button,
    ask,
    drop_keyboard,
    edit_or_send,
    keyboard,
    reply,
    viewer_of,
)
from handlers.sending import post_markup

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
ASKING = (
    AWAITING_TEXT,
    AWAITING_CHOICE,
    AWAITING_CHOICES,
    AWAITING_DATE,
    AWAITING_TIME,
    AWAITING_FILES,
)
STATES = (AWAITING_KIND, *ASKING, AWAITING_CONFIRMATION, AWAITING_FIELD_TO_EDIT)
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
# Where the message that carries the current question's buttons is noted: in memory, as
# (conversation token, message id). After a restart that one question merely keeps its
# buttons (pressing them still works); nothing is written for it.
_QUESTION_KEY = "form_question"
# The question number in a button is one character: a press that old is stale anyway.
_NONCE = "0123456789abcdefghijklmnopqrstuvwxyz"

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
    # What one step computed for its question (never saved), e.g. the matters it offers.
    scratch: dict[str, Any] = field(default_factory=dict)
    # Shared by every copy: the pressed question the next message replaces ("edit"), and
    # the answers given by this press, shown on it ("lines"); see ``replace_pressed``.
    _pressed: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        return self.draft.data

    @property
    def lang(self) -> str:
        return self.viewer.lang

    @property
    def token(self) -> str:
        return str(self.data["token"])

    @property
    def nonce(self) -> str:
        return nonce_of(self.draft)

    @property
    def key(self) -> str:
        return button_key(self.draft)

    def next_question(self, state: str, field: Any = None, part: Any = None) -> Turn:
        """The turn whose buttons belong to the question about to be shown: a new question
        makes the buttons of the one before stale; the same question shown again (a toggle,
        a reminder after /new) keeps them good."""
        draft = self.draft
        if draft.state == state and (
            state == AWAITING_CONFIRMATION
            or (draft.data.get("field"), draft.data.get("part")) == (field, part)
        ):
            return self
        return self.with_data(q=int(self.data.get("q") or 0) + 1)

    def button(self, op: str, arg: str | int | None = None) -> str:
        return buttons.form(self.key, op, arg)

    def data_maker(self) -> widgets.Data:
        return lambda op, arg: buttons.form(self.key, op, None if arg == "" else arg)

    def tr(self, msgid: str, **params: Any) -> str:
        """A short text in the user's language (extracted for the catalog with ``-k tr``)."""
        return self.context.texts.t(self.lang, msgid, **params)

    def tr_n(self, singular: str, plural: str, n: int) -> str:
        """A count in the user's language, with the catalog's plural forms."""
        return self.context.texts.tn(self.lang, singular, plural, n)

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
        """A new message (an error, a notice); a pressed question it follows is settled."""
        await self.release()
        await reply(self.update, self.context, html, markup)

    # -------------------------------------------------------------- the pressed question

    def replace_pressed(self, *, keep_trail: bool = True) -> None:
        """The next message this press shows replaces the pressed question (no-op for typed
        answers and commands). ``keep_trail``: the answers already shown on it stay."""
        if self.query is not None:
            self._pressed["edit"] = True
            self._pressed["keep"] = keep_trail

    def note_answer(self, spec: FieldSpec, answer: str) -> None:
        """The answer a press gave, to keep on the pressed message ("✔ 紧急程度：一般")."""
        self.note_line(self.render("answered", spec=spec, answer=answer))

    def note_line(self, html: str) -> None:
        if self.query is not None:
            self._pressed.setdefault("lines", []).append(f"✔ {html}")
            self.replace_pressed()

    @property
    def replacing(self) -> bool:
        return bool(self._pressed.get("edit"))

    def trail(self) -> list[str]:
        """The answer lines the next message shows: those already on the pressed question
        and this press's, when it replaces that question; none on a new message."""
        if not self.replacing:
            return []
        kept = list(self.data.get("trail") or []) if self._pressed.get("keep", True) else []
        return kept + list(self._pressed.get("lines", []))

    async def show(
        self, html: str, markup: Any = None, *, trail: Sequence[str] = (), question: bool = True
    ) -> None:
        """Show the next question (its state already saved) or a conversation's last word:
        in place of the pressed question, or as a new message. A question that cannot be
        sent is logged, not raised (``handlers.common.ask``)."""
        if trail:
            html = "\n".join(trail) + "\n\n" + html
        query = self.query if self.replacing else None
        self._pressed.clear()
        if query is None:
            # A new message follows a typed answer (or a file, or a command): the question
            # it answered keeps its text but loses its buttons, so no answered question in
            # the chat still looks live.
            await self.settle_question()
        if question:
            sent = await ask(self.update, self.context, html, markup, query=query)
        elif query is not None:
            await edit_or_send(query, self.context, html, markup)
            sent = None
        else:
            sent = await reply(self.update, self.context, html, markup)
        if query is not None and question and isinstance(query.message, Message):
            sent = query.message.message_id  # the pressed message now shows the question
        if sent is not None and markup is not None:
            assert self.context.user_data is not None
            self.context.user_data[_QUESTION_KEY] = (self.token, sent)

    def forget_question(self, query: CallbackQuery) -> None:
        """The pressed message loses its buttons by other means: nothing to remove later."""
        message = query.message
        if message is not None and question_message(self.context, self.token) == (
            message.message_id
        ):
            forget_question(self.context)

    async def settle_question(self) -> None:
        """Remove the buttons of the message that shows the current question, once an
        answer arrived as a message of its own (a pressed question is edited instead)."""
        message_id = question_message(self.context, self.token)
        forget_question(self.context)
        await drop_buttons(self.update, self.context, message_id)

    async def release(self) -> None:
        """A pressed question nothing replaced: it keeps the answer given, without buttons."""
        if not self.replacing:
            return
        query, lines = self.query, self.trail()
        self._pressed.clear()
        assert query is not None
        self.forget_question(query)
        if lines:
            try:
                await edit_or_send(query, self.context, "\n".join(lines))
            except TelegramError as exc:
                logger.info("could not settle a pressed question: %s", exc)
        else:
            await drop_keyboard(query)

    async def error(self, exc: DomainError) -> None:
        template = form_of(self.draft).error_template
        await self.say(self.render(template, code=exc.code, **exc.params))

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
        ctx = self.context.svc.field_context(dynamic)
        member = self.viewer.member
        return replace(ctx, own_org=member.org_code) if member is not None else ctx


def question_message(context: BotContext, token: str) -> int | None:
    """The message showing the current question of conversation ``token``, if known."""
    assert context.user_data is not None
    noted = context.user_data.get(_QUESTION_KEY)
    return noted[1] if noted is not None and noted[0] == token else None


def forget_question(context: BotContext) -> None:
    assert context.user_data is not None
    context.user_data.pop(_QUESTION_KEY, None)


async def drop_buttons(update: Update, context: BotContext, message_id: Any) -> None:
    """Remove the buttons of one of the bot's messages in this private chat; failures (the
    message is gone, or already has none) do not matter."""
    chat = update.effective_chat
    if not isinstance(message_id, int) or chat is None or chat.type != Chat.PRIVATE:
        return
    try:
        await post_markup(context.bot, chat.id, message_id, None)
    except TelegramError as exc:
        logger.debug("could not drop the buttons of message %s: %s", message_id, exc)


def nonce_of(draft: Draft) -> str:
    """The question a conversation shows now, as its buttons carry it ("" for drafts from
    before questions were numbered)."""
    q = draft.data.get("q")
    return "" if q is None else _NONCE[int(q) % len(_NONCE)]


def button_key(draft: Draft) -> str:
    """What the buttons of a conversation's current question carry: its token and the
    question."""
    nonce = nonce_of(draft)
    token = str(draft.data["token"])
    return f"{token}.{nonce}" if nonce else token


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
            "q": 0,  # the question shown now (its buttons carry it)
            "trail": [],  # the answers shown above it, given on its message
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
    error_template: ClassVar[str] = "error"  # how refusals read (templates/<name>.html)

    def time_html(self, turn: Turn, spec: FieldSpec, day: date, note: str) -> str:
        """The question for the time of a date-and-time field."""
        tz = turn.context.texts.zone_name(turn.lang)
        return turn.render("ask_time", spec=spec, day=day, note=note, tz=tz)

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
        spec = await field_named(turn, field)
        if turn.draft.state == AWAITING_TIME and turn.data.get("part"):
            # The date of a date-and-time field is chosen already: ask for the time again,
            # not for the date.
            return await ask_time(turn, spec, date.fromisoformat(str(turn.data["part"])), note)
        return await ask_field(turn, spec, note=note)


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


async def options_of(turn: Turn, spec: FieldSpec) -> list[Option]:
    """A field's options; what the form looks up for them (e.g. open matters) once per update,
    though a press both checks the choice and asks again."""
    form = form_of(turn.draft)
    key = f"dynamic:{form.name}:{spec.name}"
    if key not in turn.scratch:
        turn.scratch[key] = await form.dynamic(turn, spec)
    return spec.options(turn.field_context({spec.name: turn.scratch[key]}))


async def ask_field(turn: Turn, spec: FieldSpec, note: str = "") -> str:
    """Ask for one field, with buttons wherever there is a choice; returns the waiting state.
    It replaces the pressed question when the press said so (``Turn.replace_pressed``)."""
    widget = spec.type.widget
    turn = turn.next_question(STATE_FOR_WIDGET[widget], spec.name)
    form = form_of(turn.draft)
    fields = asked(await form.fields(turn), turn.data["values"])
    texts, lang, data = turn.context.texts, turn.lang, turn.data_maker()
    rows: list[list[Button]]
    if widget is Widget.CHOICE:
        rows = widgets.option_rows(texts, lang, spec, await options_of(turn, spec), data)
    elif widget is Widget.MULTI_CHOICE:
        selected, typed = chosen_and_typed(spec, turn.data["values"].get(spec.name))
        options = await options_of(turn, spec)
        rows = widgets.toggle_rows(texts, lang, spec, options, selected, typed, data)
    elif widget in (Widget.DATE, Widget.DATETIME):
        svc = turn.context.svc
        rows = widgets.date_rows(texts, lang, svc.today(), spec, data, svc.calendar)
    elif widget is Widget.FILES:
        rows = [[(turn.tr("✔ Done"), turn.button("fdone"))]]
    else:
        quick = [(s, turn.button("sug", i)) for i, s in enumerate(suggestion_texts(turn, spec))]
        rows = widgets.paired_rows(quick)  # common return reasons: two per row where they fit
        if not spec.required:
            rows.append([(turn.tr("Skip"), turn.button("skip"))])
    rows.append([cancel_button(turn)])
    step = [f.name for f in fields].index(spec.name) + 1
    html = form.ask_html(turn, spec, step, len(fields), note)
    # Save first: once the user sees the question, their answer must be taken for it,
    # even if the bot is killed right after sending.
    trail = turn.trail()
    state = await turn.save(STATE_FOR_WIDGET[widget], field=spec.name, part=None, trail=trail)
    await turn.show(html, keyboard(rows), trail=trail)
    return state


def suggestion_texts(turn: Turn, spec: FieldSpec) -> list[str]:
    """A typed field's quick answers in the user's language: the committee file's list where
    it gives one (its common return reasons), else the declaration's."""
    configured = turn.context.svc.committee.phrases(spec.suggestions_from)
    if configured:
        return [phrase.text(turn.lang) for phrase in configured]
    return [turn.tr(s) for s in spec.suggestions]


def chosen_and_typed(spec: FieldSpec, value: Any) -> tuple[list[str], list[str]]:
    """A multiple choice's toggled values, and (for a type that takes text) its typed items."""
    if not spec.type.takes_text:
        return [str(v) for v in value or []], []
    entries = [list(e) for e in value or []]
    return [str(e[1]) for e in entries if e[0] == "case"], [
        str(e[1]) for e in entries if e[0] == "text"
    ]


async def ask_time(turn: Turn, spec: FieldSpec, day: date, note: str = "") -> str:
    """The second question of a date-and-time field."""
    svc = turn.context.svc
    turn = turn.next_question(AWAITING_TIME, spec.name, day.isoformat())
    rows = widgets.time_rows(
        turn.context.texts, turn.lang, day, svc.clock.now(), svc.tz, turn.data_maker()
    )
    rows.append([cancel_button(turn)])
    trail = turn.trail()
    state = await turn.save(AWAITING_TIME, field=spec.name, part=day.isoformat(), trail=trail)
    html = form_of(turn.draft).time_html(turn, spec, day, note)
    await turn.show(html, keyboard(rows), trail=trail)
    return state


async def show_summary(turn: Turn, html: str, go: str, edit: str) -> str:
    """A form's summary with its Submit, Edit and Cancel buttons (``go`` and ``edit`` are the
    labels), saved as waiting for confirmation before it is shown. It shows every answer, so
    no "✔" lines go above it."""
    turn = turn.next_question(AWAITING_CONFIRMATION)
    rows = [
        [(go, turn.button("go"))],
        [(edit, turn.button("edit")), cancel_button(turn)],
    ]
    state = await turn.save(AWAITING_CONFIRMATION, editing=False, trail=[])
    await turn.show(html, keyboard(rows))
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
    fields = asked(await form.fields(turn), turn.data["values"])
    names = [f.name for f in fields]
    following = fields[names.index(name) + 1] if names.index(name) + 1 < len(fields) else None
    if following is None:
        return await form.finish(turn)
    return await ask_field(turn, following)


async def cancel(update: Update, context: BotContext) -> int:
    """/cancel or the Cancel button: the draft is discarded, nothing is submitted."""
    viewer = await viewer_of(update, context)
    draft = await load(update, context)
    template = form_of(draft).cancelled(context, draft) if draft is not None else "cancelled"
    await context.svc.delete_draft(viewer.user_id, FLOW)
    forget(context)
    html = context.texts.render(viewer.lang, template)
    query = update.callback_query
    if query is not None:  # the pressed question becomes the confirmation
        await query.answer()
        await edit_or_send(query, context, html)
    else:  # /cancel: the question it leaves unanswered loses its buttons
        token = str(draft.data.get("token")) if draft is not None else ""
        await drop_buttons(update, context, question_message(context, token))
        forget_question(context)
        await reply(update, context, html)
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
