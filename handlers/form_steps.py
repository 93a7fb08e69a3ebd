"""The form engine's answers: typed text, files, and every button of a form's questions.

Each is checked against the conversation it belongs to (the button's token), the question it
was shown with, and the step the conversation waits at, then stored through
``handlers.forms.advance``. Every press is answered once: the first answer given wins, and a
step that says nothing gets an empty one. A press that answers a question notes the answer
(``Turn.note_answer``) and the next question replaces the pressed one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, time
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.error import BadRequest

from bot.domain.errors import InvalidInput
from bot.domain.fields import (
    DATETIME,
    FieldSpec,
    Widget,
    asked,
    parse_date,
    parse_time,
    validate_file,
    validate_future_date,
)
from bot.domain.models import Viewer
from bot.domain.text import clean_name
from handlers import buttons, widgets
from handlers.common import (
    BotContext,
    Button,
    answer_stale,
    chunk,
    drop_keyboard,
    keyboard,
    viewer_of,
)
from handlers.forms import (
    AWAITING_CHOICE,
    AWAITING_CHOICES,
    AWAITING_CONFIRMATION,
    AWAITING_DATE,
    AWAITING_FIELD_TO_EDIT,
    AWAITING_FILES,
    AWAITING_TEXT,
    AWAITING_TIME,
    END,
    State,
    Turn,
    advance,
    ask_field,
    ask_time,
    cancel,
    cancel_button,
    current_field,
    field_named,
    form_of,
    load,
    options_of,
    suggestion_texts,
    wrong_input,
)
from handlers.sending import post_markup

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
    typed_items = spec is not None and state == AWAITING_CHOICES and spec.type.takes_text
    if spec is None or (
        state not in (AWAITING_TEXT, AWAITING_DATE, AWAITING_TIME) and not typed_items
    ):
        await wrong_input(turn)
        return None
    ctx = turn.field_context()
    try:
        if typed_items:
            return await _items_typed(turn, spec, spec.type.parse_text(spec, message.text, ctx))
        if state == AWAITING_TEXT:
            return await advance(turn, spec.type.parse_text(spec, message.text, ctx))
        if state == AWAITING_DATE:
            day = validate_future_date(parse_date(message.text, ctx.today), ctx.today)
            return await _date_chosen(turn, spec, day)
        return await _time_chosen(turn, spec, parse_time(message.text))
    except InvalidInput as exc:
        await turn.error(exc)
        return state


async def _items_typed(turn: Turn, spec: FieldSpec, items: list[str]) -> State:
    """Items typed into a list that also takes text (an agenda): added, then asked again."""
    entries = [list(e) for e in turn.data["values"].get(spec.name) or []]
    if spec.maximum is not None and len(entries) + len(items) > spec.maximum:
        raise InvalidInput("agenda_too_long", max=spec.maximum)
    entries += [["text", item] for item in items]
    return await ask_field(turn.with_data(values={**turn.data["values"], spec.name: entries}), spec)


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
            "file_name": clean_name(doc.file_name, limit=200) or None,
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
    # The Done button moves to this message: only the latest one carries it.
    await turn.show(
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
    token, _, nonce = parsed[0].partition(".") if parsed is not None else ("", "", "")
    if turn is None or parsed is None or token != turn.token:
        viewer = turn.viewer if turn is not None else await viewer_of(update, context)
        if turn is not None:  # the buttons _stale drops are not the question's to drop again
            turn.forget_question(query)
        await _stale(update, context, viewer, parsed)
        return None
    _, op, arg = parsed
    if op == "noop":
        await query.answer()
        return None
    if op == "cancel":  # from any question of the conversation
        return await cancel(update, context)
    if nonce != turn.nonce:
        # An earlier question of this conversation, or a second tap on one that has already
        # become the next question: its keyboard may now be the current one, so it stays.
        await turn.stale()
        return None
    handler = _PRESSES.get(op)
    if handler is None or (arg != "") != (op in _WITH_ARGUMENT):
        await answer_stale(update, context, turn.viewer)
        return None
    try:
        return await _guarded(turn, lambda t: handler(t, arg))
    finally:
        # A pressed question nothing replaced keeps its answer, without buttons.
        await turn.release()
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
        case = await context.svc.case_by_submit_token(parsed[0].partition(".")[0])
        if case is not None and case.raiser_user_id == viewer.user_id:
            await query.answer(
                context.texts.t(
                    viewer.lang, "Already submitted as %(number)s.", number=case.number
                ),
                show_alert=True,
            )
            await drop_keyboard(query)
            return
    await answer_stale(update, context, viewer)
    await drop_keyboard(query)


async def _step(turn: Turn, *states: str, valid: bool = True) -> FieldSpec | None:
    """The field a press answers, when the conversation waits at one of ``states`` and the
    press's argument is ``valid``; otherwise the press is answered as stale and None comes
    back."""
    spec = await current_field(turn)
    if spec is None or turn.draft.state not in states or not valid:
        await turn.stale()
        return None
    return spec


def _query(turn: Turn) -> CallbackQuery:
    query = turn.query
    assert query is not None
    return query


async def _option(turn: Turn, value: str) -> State:
    spec = await _step(turn, AWAITING_CHOICE)
    if spec is None:
        return None
    options = {o.value: o for o in await options_of(turn, spec)}
    if value not in options:
        await turn.stale()
        return None
    label = widgets.option_label(turn.context.texts, turn.lang, options[value], button=False)
    turn.note_answer(spec, label)
    return await advance(turn, value)


async def _toggle(turn: Turn, value: str) -> State:
    spec = await _step(turn, AWAITING_CHOICES)
    if spec is None:
        return None
    options = {o.value: o for o in await options_of(turn, spec)}
    current = turn.data["values"].get(spec.name) or []
    if spec.type.takes_text:
        entries = [list(e) for e in current]
        kept = [e for e in entries if not (e[0] == "case" and str(e[1]) == value)]
        if len(kept) == len(entries):
            if value not in options:
                await turn.answer(turn.tr("That matter is no longer open."), alert=True)
                return None
            if spec.maximum is not None and len(entries) >= spec.maximum:
                await turn.answer(turn.tr("The agenda is full."), alert=True)
                return None
            kept.append(["case", int(value), options[value].label])
        new_value: Any = kept
    else:
        if value not in options:
            await turn.stale()
            return None
        chosen = set(current) ^ {value}
        new_value = [o for o in options if o in chosen]
    turn = turn.with_data(values={**turn.data["values"], spec.name: new_value})
    turn.replace_pressed()
    return await ask_field(turn, spec)


async def _group_toggled(turn: Turn, value: str) -> State:
    """A group button (all courts): every organisation of those kinds on, or all off when
    they were all on already."""
    index = buttons.number(value)
    spec = await _step(turn, AWAITING_CHOICES, valid=index is not None)
    if spec is None or index is None:
        return None
    if index >= len(spec.groups):
        await turn.stale()
        return None
    kinds = spec.groups[index][1]
    options = [o.value for o in await options_of(turn, spec)]
    codes = {o.code for o in turn.context.svc.committee.orgs_of_kind(*kinds)} & set(options)
    chosen = set(turn.data["values"].get(spec.name) or [])
    chosen = chosen - codes if codes <= chosen else chosen | codes
    ordered = [o for o in options if o in chosen]
    turn = turn.with_data(values={**turn.data["values"], spec.name: ordered})
    turn.replace_pressed()
    return await ask_field(turn, spec)


async def _untyped(turn: Turn, value: str) -> State:
    """✖ on a typed item: it leaves the list."""
    index = buttons.number(value)
    spec = await _step(turn, AWAITING_CHOICES, valid=index is not None)
    if spec is None or index is None:
        return None
    entries = [list(e) for e in turn.data["values"].get(spec.name) or []]
    typed = [i for i, e in enumerate(entries) if e[0] == "text"]
    if index >= len(typed):
        await turn.stale()
        return None
    del entries[typed[index]]
    turn = turn.with_data(values={**turn.data["values"], spec.name: entries})
    turn.replace_pressed()
    return await ask_field(turn, spec)


async def _toggles_done(turn: Turn, _: str) -> State:
    spec = await _step(turn, AWAITING_CHOICES)
    if spec is None:
        return None
    chosen = list(turn.data["values"].get(spec.name) or [])
    if spec.required and not chosen:
        await turn.answer(turn.tr("Choose at least one organisation."), alert=True)
        return None
    turn.note_answer(spec, spec.show(chosen, turn.context.texts.labels(turn.lang)))
    return await advance(turn, chosen)


async def _date(turn: Turn, value: str) -> State:
    spec = await _step(turn, AWAITING_DATE)
    if spec is None:
        return None
    today = turn.context.svc.today()
    try:
        day = validate_future_date(date.fromisoformat(value), today)
    except (ValueError, InvalidInput):
        await turn.answer(turn.tr("That date can no longer be chosen."), alert=True)
        return None
    if spec.type is DATETIME:
        # The day and the time are echoed as one line once the time is chosen; the time's
        # question names the day meanwhile.
        turn.replace_pressed()
    else:
        turn.note_answer(spec, turn.context.texts.format_date(turn.lang, day))
    return await _date_chosen(turn, spec, day)


async def _calendar(turn: Turn, value: str) -> State:
    """Month navigation and the way back to the quick choices; the state does not change."""
    spec = await _step(turn, AWAITING_DATE)
    if spec is None:
        return None
    query = _query(turn)
    texts, today = turn.context.texts, turn.context.svc.today()
    if value == "":
        rows = widgets.date_rows(
            texts, turn.lang, today, spec, turn.data_maker(), turn.context.svc.calendar
        )
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
            await post_markup(query.get_bot(), message.chat.id, message.message_id, keyboard(rows))
        except BadRequest as exc:  # a double tap: the first one already showed this
            if "not modified" not in exc.message.lower():
                raise


async def _time(turn: Turn, value: str) -> State:
    spec = await _step(turn, AWAITING_TIME, valid=widgets.TIME_DATA.fullmatch(value) is not None)
    if spec is None:
        return None
    try:
        chosen = parse_time(f"{value[:2]}:{value[2:]}")
        moment = DATETIME.combine(
            date.fromisoformat(str(turn.data["part"])), chosen, turn.field_context()
        )
    except InvalidInput:
        await turn.answer(turn.tr("That time has already passed."), alert=True)
        return None
    # One line for the day and the time, however the day was given (typed or pressed).
    turn.note_answer(spec, spec.show(moment, turn.context.texts.labels(turn.lang)))
    return await _time_chosen(turn, spec, chosen)


async def _redate(turn: Turn, _: str) -> State:
    spec = await _step(turn, AWAITING_TIME)
    if spec is None:
        return None
    await turn.answer()
    turn.replace_pressed()  # the answers above stay; the day is not among them yet
    return await ask_field(turn, spec)


async def _suggestion(turn: Turn, value: str) -> State:
    spec = await current_field(turn)
    query = turn.query
    assert query is not None
    index = buttons.number(value)
    offered = suggestion_texts(turn, spec) if spec is not None else []
    if spec is None or turn.draft.state != AWAITING_TEXT or index is None or index >= len(offered):
        await turn.stale()
        return None
    text = offered[index]
    turn.note_answer(spec, text)
    return await advance(turn, spec.type.parse_text(spec, text, turn.field_context()))


async def _files_done(turn: Turn, _: str) -> State:
    spec = await _step(turn, AWAITING_FILES)
    if spec is None:
        return None
    files = turn.data["values"].get(spec.name) or []
    if spec.required and not files:
        await turn.answer(turn.tr("Please send at least one document or photo."), alert=True)
        return None
    await turn.answer()
    turn.note_answer(spec, spec.show(files, turn.context.texts.labels(turn.lang)))
    return await advance(turn, files)


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
    turn.note_answer(spec, turn.tr("—"))
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
    turn.replace_pressed()
    fields = asked(await form_of(turn.draft).fields(turn), turn.data["values"])
    if len(fields) == 1:  # nothing to choose: straight to the one question
        return await ask_field(turn.with_data(editing=True), fields[0])
    turn = turn.next_question(AWAITING_FIELD_TO_EDIT)
    rows = chunk([(turn.tr(f.label), turn.button("field", f.name)) for f in fields], 2)
    rows.append([(turn.tr("↩ Back"), turn.button("back"))])
    state = await turn.save(AWAITING_FIELD_TO_EDIT, trail=[])
    await turn.show(turn.render("choose_field"), keyboard(rows))
    return state


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
    turn.replace_pressed()
    return await ask_field(turn.with_data(editing=True), spec)


async def _back(turn: Turn, _: str) -> State:
    query = turn.query
    assert query is not None
    if turn.draft.state != AWAITING_FIELD_TO_EDIT:
        await turn.stale()
        return None
    await turn.answer()
    turn.replace_pressed()
    return await form_of(turn.draft).summary(turn)


Press = Callable[[Turn, str], Awaitable[State]]
# The operations whose button carries an argument; every other one carries none.
_WITH_ARGUMENT = frozenset(
    {"kind", "opt", "tog", "grp", "untext", "date", "cal", "time", "sug", "field"}
)
_PRESSES: dict[str, Press] = {
    "opt": _option,
    "tog": _toggle,
    "tdone": _toggles_done,
    "grp": _group_toggled,
    "untext": _untyped,
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


async def legacy_pressed(update: Update, context: BotContext) -> State:
    """A button of a conversation from before the form engine (``r:`` and ``mt:`` data):
    the conversation itself was carried over, so its current question is shown again."""
    turn = await _turn(update, context)
    if turn is None:
        viewer = await viewer_of(update, context)
        await _stale(update, context, viewer, None)
        return None
    await turn.answer(turn.tr("This button is from an earlier version. Please answer here."))
    note = turn.tr("The bot was updated. Here is the question you were at.")
    return await _guarded(turn, lambda t: form_of(t.draft).resume(t, note))


async def anything_else(update: Update, context: BotContext) -> State:
    turn = await _turn(update, context)
    if turn is None:
        return END

    async def step(turn: Turn) -> State:
        await wrong_input(turn)
        return None

    return await _guarded(turn, step)
