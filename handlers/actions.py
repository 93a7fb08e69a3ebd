"""Acting on a matter: every action a kind declares, from the buttons on notices and on /case.

A press says which action on which matter (and addressee); it is checked against the database
— who pressed, and whether the action still applies — so repeated and stale presses just say
what already happened. An action without inputs (受理) happens at once; one with inputs (a
return's reason, an outcome, a note, the official who will appear) is a form on the engine
(``handlers.forms``) that acts as soon as its last input is given. Editing and resubmitting a
returned matter opens the raise form with the earlier answers filled in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from telegram import CallbackQuery, Message, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler

from bot.domain import lifecycle
from bot.domain.errors import DomainError, InvalidInput, NotAllowed, NotFound
from bot.domain.fields import MEMBER, FieldSpec
from bot.domain.kinds import Action, Effect, KindSpec, Side
from bot.domain.models import Assignment, Case, Draft, Event, Role, Viewer
from bot.i18n import N_
from bot.services.coordination import Coordination
from handlers import buttons, forms, raise_case
from handlers.common import (
    BotContext,
    Button,
    answer_stale,
    chunk,
    deliver_now,
    drop_keyboard,
    edit_or_send,
    is_private,
    keyboard,
    refuse_outside_private,
    viewer_of,
)
from handlers.forms import END, State, Turn
from handlers.sending import Markup, post_markup
from handlers.texts import Texts

logger = logging.getLogger(__name__)

NAME = "act"

# A stale press of a step that waits while the raiser is asked for more (❓).
PAUSED = N_("More information was requested; waiting for the raising organisation's answer.")

# A press of a step that waits for a moment still ahead, when the kind says nothing better.
TOO_EARLY = N_("This can be done from %(moment)s.")

# A name in a button-press answer: Telegram refuses answers over 200 characters, and a
# Telegram name may be 129 emoji long.
ANSWER_NAME_MAX = 32


class ActForm(forms.Form):
    """The inputs one action asks for; it acts as soon as the last one is given."""

    name: ClassVar[str] = NAME

    def cancelled(self, context: BotContext, draft: Draft) -> str:
        kind = context.svc.kinds.get(str(draft.data.get("kind")))
        action = str(draft.data.get("action"))
        if kind is None or not kind.has_action(action):
            return "action_cancelled"
        return kind.action(action).cancelled_template

    async def allowed(self, turn: Turn) -> DomainError | None:
        """A member revoked while the form is open is told at once (the action checks again)."""
        return NotAllowed("cannot_answer") if turn.viewer.member is None else None

    async def _context(self, turn: Turn) -> tuple[KindSpec, Case, Action]:
        case = await turn.context.svc.get_case(int(turn.data["case_id"]))
        kind = turn.context.svc.kinds[case.kind]
        return kind, case, kind.action(str(turn.data["action"]))

    async def fields(self, turn: Turn) -> tuple[FieldSpec, ...]:
        kind = turn.context.svc.kinds[str(turn.data["kind"])]
        return kind.action(str(turn.data["action"])).inputs

    async def dynamic(self, turn: Turn, spec: FieldSpec) -> list[tuple[str, str]]:
        if spec.type is not MEMBER:
            return []
        kind = turn.context.svc.kinds[str(turn.data["kind"])]
        return await turn.context.svc.handler_choices(kind, turn.viewer)

    def ask_html(self, turn: Turn, spec: FieldSpec, step: int, steps: int, note: str) -> str:
        kind = turn.context.svc.kinds[str(turn.data["kind"])]
        action = kind.action(str(turn.data["action"]))
        number = str(turn.data["number"])
        if action.prompt_template is not None and step == 1:
            return turn.render(action.prompt_template, case={"number": number}, note=note)
        return turn.render(
            "ask",
            title=f"{turn.tr(action.label)} {number}",
            spec=spec,
            step=step,
            steps=steps,
            note=note,
            current=turn.data["values"].get(spec.name),
            editing=False,
        )

    async def finish(self, turn: Turn) -> State:
        """Every input is given: act, in the transaction that also ends the conversation."""
        svc = turn.context.svc
        try:
            outcome = await svc.act(
                turn.viewer,
                int(turn.data["case_id"]),
                _assignment_id(turn.data.get("assignment_id")),
                str(turn.data["action"]),
                turn.data["values"],
                finishes=forms.FLOW,
            )
        except InvalidInput as exc:
            await turn.error(exc)
            name = exc.params.get("field")
            if name:
                return await forms.ask_field(turn, await forms.field_named(turn, str(name)))
            await turn.discard()
            return END
        except (NotAllowed, NotFound) as exc:
            await turn.discard()
            await turn.error(exc)
            return END
        forms.forget(turn.context)  # the action removed the draft in its transaction
        kind, action = (
            svc.kinds[outcome.case.kind],
            svc.kinds[outcome.case.kind].action(str(turn.data["action"])),
        )
        # The last question (when a press answered it) becomes what happened: the answer
        # given on it kept above when it was recorded; what happened instead when not.
        if not outcome.changed:
            text = instead(
                turn.context, turn.viewer, outcome.case, turn.data.get("assignment_id"), action
            )
            await turn.show(turn.render("plain", text=text), question=False)
            return END
        await _redraw_origin(turn.context, turn.viewer, outcome.case, turn.data.get("origin"))
        trail = turn.trail()
        await turn.answer(_answer(turn.context, turn.viewer, action, outcome.case))
        html = turn.render(action.receipt_template, case=outcome.case, kind=kind, action=action)
        await turn.show(html, trail=trail, question=False)
        await deliver_now(turn.context)
        return END


FORM = forms.register(ActForm())


def _assignment_id(value: Any) -> int | None:
    return None if value in (None, "", 0) else int(value)


def _answer(context: BotContext, viewer: Viewer, action: Action, case: Case) -> str:
    return context.texts.t(viewer.lang, action.answer, number=case.number) if action.answer else ""


def already(context: BotContext, viewer: Viewer, case: Case, assignment_id: Any = None) -> str:
    """ "Already acknowledged by X at 10:42" and the like: what happened instead."""
    assignment = case.assignment(int(assignment_id)) if assignment_id else case.first
    if assignment is None:
        return context.texts.t(viewer.lang, "This button is no longer active.")
    when = context.texts.format_datetime(viewer.lang, assignment.acted_at)
    name = assignment.acted_by_name or "—"
    if len(name) > ANSWER_NAME_MAX:
        name = name[: ANSWER_NAME_MAX - 1] + "…"
    msgid = {
        "acknowledged": N_("Already acknowledged by %(name)s at %(when)s."),
        "returned": N_("Already returned by %(name)s at %(when)s."),
        "resolved": N_("Its outcome was already recorded."),
        "withdrawn": N_("The matter was withdrawn."),
    }.get(assignment.state)
    if msgid is None and not kind_open(context, case, assignment.state):
        state = context.texts.t(viewer.lang, context.texts.state_label(case.kind, assignment.state))
        if assignment.acted_at is None:  # closed for it by the raiser or the office
            return context.texts.t(viewer.lang, N_("Already done (%(state)s)."), state=state)
        msgid = N_("Already done (%(state)s): %(name)s, %(when)s.")
        return context.texts.t(viewer.lang, msgid, state=state, name=name, when=when)
    msgid = msgid or N_("This button is no longer active.")
    return context.texts.t(viewer.lang, msgid, name=name, when=when)


def instead(
    context: BotContext, viewer: Viewer, case: Case, assignment_id: Any, action: Action
) -> str:
    """Why ``action`` no longer applies: a step that waits while the raiser is asked for
    more (a second ❓) says so; anything else, what already happened."""
    assignment = case.assignment(int(assignment_id)) if assignment_id else case.first
    if assignment is not None and assignment.paused and action.while_paused is False:
        return context.texts.t(viewer.lang, PAUSED)
    return already(context, viewer, case, assignment_id)


def kind_open(context: BotContext, case: Case, state: str) -> bool:
    kind = context.svc.kinds.get(case.kind)
    return kind is None or kind.is_open(state)


async def _refusal(
    query: CallbackQuery,
    context: BotContext,
    viewer: Viewer,
    exc: DomainError,
    kind: KindSpec | None = None,
) -> None:
    if isinstance(exc, NotFound):
        text = context.texts.t(viewer.lang, "This matter no longer exists.")
    elif viewer.member is not None and viewer.member.role is Role.OBSERVER:
        # Not "only the addressees": an observer of an addressee's organisation would wonder.
        text = context.texts.t(viewer.lang, "Observers can follow matters but cannot act on them.")
    elif kind is not None and Role.COURT_STAFF not in kind.answered_by:
        text = context.texts.t(viewer.lang, "Only the addressed organisations can do this.")
    else:
        text = context.texts.t(viewer.lang, "Only staff of the addressed court can answer this.")
    await query.answer(text, show_alert=True)


async def pressed(update: Update, context: BotContext) -> State:
    """An action's button: on a notice, an alert, or /case."""
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    parsed = buttons.parse_action(query.data)
    in_group = not is_private(update)
    if in_group and not await _group_press(update, context, parsed):
        await refuse_outside_private(update, context, viewer)
        return None
    if parsed is None:
        await answer_stale(update, context, viewer)
        return None
    code, case_id, assignment_id = parsed
    svc = context.svc
    try:
        case, assignment, action, applies = await svc.check_action(
            viewer, case_id, assignment_id, code
        )
    except (NotAllowed, NotFound) as exc:
        await _refusal(query, context, viewer, exc, await _kind_of(context, case_id))
        return None
    except InvalidInput:
        await answer_stale(update, context, viewer)
        return None
    if not applies:
        await query.answer(instead(context, viewer, case, assignment.id, action), show_alert=True)
        await drop_keyboard(query)
        return None
    moment = lifecycle.waits_for(action, case, svc.clock.now(), svc.tz)
    if moment is not None:
        # Not yet (a hearing's appearance before the hearing): the button stays for later.
        when = context.texts.format_datetime(viewer.lang, moment)
        await query.answer(
            context.texts.t(viewer.lang, action.early or TOO_EARLY, moment=when), show_alert=True
        )
        return None
    if Effect.EDIT in action.effects or action.inputs:
        draft = await forms.load(update, context)
        if draft is not None and forms.form_of(draft).name != NAME:
            await query.answer(
                context.texts.t(viewer.lang, "Finish what you are doing, or send /cancel, first."),
                show_alert=True,
            )
            return None
        await query.answer()
        if Effect.EDIT in action.effects:
            return await raise_case.start_resubmit(update, context, viewer, case)
        kind = svc.kinds[case.kind]
        start = forms.new_draft(
            viewer.user_id,
            NAME,
            kind=kind.code,
            case_id=case.id,
            assignment_id=assignment_id or 0,
            action=action.code,
            number=case.number,
            # The message pressed, whose buttons follow the matter once the action is taken.
            origin=_origin(query.message),
        )
        return await forms.ask_field(Turn(update, context, viewer, start), action.inputs[0])
    return await _act_now(update, context, viewer, case, assignment_id, action)


async def _act_now(
    update: Update,
    context: BotContext,
    viewer: Viewer,
    case: Case,
    assignment_id: int | None,
    action: Action,
) -> State:
    query = update.callback_query
    assert query is not None
    message = query.message
    pressed = (
        (message.chat.id, message.message_id)
        if isinstance(message, Message) and is_private(update)
        else None
    )
    try:
        outcome = await context.svc.act(
            viewer, case.id, assignment_id, action.code, pressed=pressed
        )
    except (NotAllowed, NotFound) as exc:
        await _refusal(query, context, viewer, exc)
        return None
    if not outcome.changed:
        text = instead(context, viewer, outcome.case, assignment_id, action)
        await query.answer(text, show_alert=True)
        await drop_keyboard(query)
        return None
    if not is_private(update):  # the group's post stays as it is; the presser is told
        text = context.texts.t(
            viewer.lang, "Recorded: %(action)s.", action=context.texts.t(viewer.lang, action.done)
        )
        await query.answer(text, show_alert=True)
        await deliver_now(context)
        return None
    await query.answer(_answer(context, viewer, action, outcome.case))
    # The pressed message stays the whole notice: what happened, and what can be done next.
    event = await context.svc.event(outcome.event_id) if outcome.event_id else None
    own = assignment_id or own_assignment(context.svc, viewer, outcome.case)
    html, rows = await notice(context.svc, context.texts, viewer, outcome.case, own, event)
    await edit_or_send(query, context, html, keyboard(rows) if rows else None)
    if pressed is not None and outcome.event_id:
        # A colleague's step since ours may have been overwritten by this edit: one more
        # edit, rendered when sent, brings the pressed notice up to date.
        await context.svc.refresh_pressed(case.id, own, *pressed, outcome.event_id)
    await deliver_now(context)
    return None


def own_assignment(svc: Coordination, viewer: Viewer, case: Case) -> int | None:
    """The addressee a member answers for in a matter (the first one when none)."""
    kind = svc.kinds[case.kind]
    for assignment in case.assignments:
        if Side.ADDRESSEE in lifecycle.sides(viewer.member, case, assignment, svc.committee, kind):
            return assignment.id
    return case.first.id if case.first is not None else None


async def notice(
    svc: Coordination,
    texts: Texts,
    viewer: Viewer,
    case: Case,
    assignment_id: int | None,
    event: Event | None = None,
    *,
    primary_only: bool = False,
) -> tuple[str, list[list[Button]]]:
    """A matter's notice to a member of an addressee, as it stands now: the kind's notice
    (details and deadlines) under a line saying who did what last (``event``), with the
    buttons of what the member may do next and the documents. The same for the copy they
    pressed and for every other copy, so each carries what is needed to go on."""
    kind = svc.kinds[case.kind]
    assignment: Assignment | None = case.assignment(assignment_id or 0) or case.first
    html = texts.render(
        viewer.lang,
        kind.notice_template,
        case=case,
        kind=kind,
        addressee=assignment.addressee if assignment is not None else "",
        assignment=assignment,
    )
    if event is not None:
        actor_org = await svc.member_org_of(event.actor_user_id)
        status = texts.render(
            viewer.lang,
            "notice_status",
            case=case,
            kind=kind,
            event=event,
            assignment=assignment,
            actor_org=actor_org or "",
        )
        html = f"{status}\n\n{html}"
    rows = action_rows(svc, texts, viewer, case, primary_only=primary_only)
    if case.files:
        label = texts.t(viewer.lang, "📎 Documents (%(n)s)", n=len(case.files))
        rows.append([(label, buttons.documents(case.id))])
    return html, [r for r in rows if r]


async def _group_press(
    update: Update, context: BotContext, parsed: tuple[str, int, int | None] | None
) -> bool:
    """A press in a group acts only for an action declared for the group's post, in the
    committee group, without inputs (nothing can be asked there)."""
    chat = update.effective_chat
    if parsed is None or chat is None or chat.id != await context.svc.group_chat_id():
        return False
    code, case_id, _ = parsed
    try:
        case = await context.svc.get_case(case_id)
    except DomainError:
        return False
    kind = context.svc.kinds[case.kind]
    if not kind.has_action(code):
        return False
    action = kind.action(code)
    return action.in_group and not action.inputs


async def _kind_of(context: BotContext, case_id: int) -> KindSpec | None:
    try:
        return context.svc.kinds.get((await context.svc.get_case(case_id)).kind)
    except DomainError:
        return None


def case_markup(context: BotContext, viewer: Viewer, case: Case) -> Markup | None:
    """/case's buttons: what the viewer can do with a matter now, and its documents."""
    rows: list[list[Button]] = action_rows(context.svc, context.texts, viewer, case)
    if case.files:
        label = context.texts.t(viewer.lang, "📎 Documents (%(n)s)", n=len(case.files))
        rows.append([(label, buttons.documents(case.id))])
    rows = [r for r in rows if r]
    return keyboard(rows) if rows else None


def _buttons_of(markup: Markup | None) -> list[list[str]]:
    """A keyboard as (label, data) pairs, to tell whether redrawing it changes anything."""
    if markup is None:
        return []
    return [
        [button.text, str(button.callback_data or button.url or "")]
        for row in markup.inline_keyboard
        for button in row
    ]


def _origin(message: object) -> dict[str, Any] | None:
    """The pressed message as the action's form keeps it: where it is and its buttons."""
    if not isinstance(message, Message):
        return None
    return {
        "chat": message.chat.id,
        "message": message.message_id,
        "buttons": _buttons_of(message.reply_markup),
    }


async def _redraw_origin(
    context: BotContext, viewer: Viewer, case: Case, origin: Mapping[str, Any] | None
) -> None:
    """After an action with inputs, the buttons of the message it was pressed on follow the
    matter. A delivered notice is refreshed through the outbox with every other copy; any
    other message (a /case view) is redrawn here, so it offers no step that is used up."""
    if not origin:
        return
    chat_id, message_id = int(origin["chat"]), int(origin["message"])
    markup = case_markup(context, viewer, case)
    if _buttons_of(markup) == origin.get("buttons"):
        return
    if await context.svc.is_notice(case.id, chat_id, message_id):
        return
    try:
        await post_markup(context.bot, chat_id, message_id, markup)
    except TelegramError as exc:
        logger.debug("could not redraw the pressed message's buttons: %s", exc)


def action_rows(
    svc: Coordination, texts: Texts, viewer: Viewer, case: Case, *, primary_only: bool = False
) -> list[list[tuple[str, str]]]:
    """The buttons of the actions a member may take on a matter now: for each addressee the
    member answers for (or, as its raiser or the office, for the matter), in declared order."""
    kind = svc.kinds[case.kind]
    available = [
        (
            assignment,
            [
                action
                for action in lifecycle.available(
                    kind, case, assignment, viewer.member, svc.committee, svc.clock.now(), svc.tz
                )
                if action.primary or not primary_only
            ],
        )
        for assignment in case.assignments
    ]
    # A button names the addressee it acts for only when the member acts for several here
    # (its short name, to fit a phone); one acting for their own organisation alone needs none.
    acting_for = {
        assignment.id
        for assignment, actions in available
        for action in actions
        if action.by.value == "addressee"
    }
    rows: list[list[tuple[str, str]]] = []
    seen: set[str] = set()
    for assignment, actions in available:
        buttons_here: list[tuple[str, str]] = []
        for action in actions:
            per_addressee = action.by.value == "addressee" and kind.several_addressees
            if not per_addressee and action.code in seen:
                continue
            seen.add(action.code)
            label = texts.t(viewer.lang, action.label)
            if per_addressee and len(acting_for) > 1:
                name = svc.committee.button_name(assignment.addressee, viewer.lang)
                label = f"{label} · {name}"
            # A step on the whole matter carries no addressee: the bot picks one still open.
            data = buttons.action(action.code, case.id, assignment.id if per_addressee else None)
            buttons_here.append((label, data))
        rows += chunk(buttons_here, 2)
    return rows


def entry_points() -> list[BaseHandler[Update, BotContext, object]]:
    return [CallbackQueryHandler(pressed, pattern=r"^v:")]


def fallbacks() -> list[BaseHandler[Update, BotContext, object]]:
    return [CallbackQueryHandler(pressed, pattern=r"^v:")]
