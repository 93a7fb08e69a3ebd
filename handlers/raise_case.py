"""Raising a matter: /new → kind → the kind's fields → summary → Submit / Edit / Cancel.

A form on the engine (``handlers.forms``): the questions come from the kind's declaration, so
this module only knows how a raise starts (the kinds the member may raise), what its summary
shows, and what Submit does. A returned matter is edited and resubmitted through the same form,
its earlier answers filled in.
"""

from __future__ import annotations

from typing import ClassVar

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.domain import rules
from bot.domain.errors import DomainError, InvalidInput, NotAllowed
from bot.domain.fields import FILES, FieldSpec
from bot.domain.kinds import KindSpec
from bot.domain.models import Case, Viewer
from handlers import form_steps, forms
from handlers.common import (
    BotContext,
    deliver_now,
    drop_keyboard,
    keyboard,
    private_only,
    reply,
    require_member,
    viewer_of,
)
from handlers.forms import AWAITING_CONFIRMATION, AWAITING_KIND, END, State, Turn
from handlers.texts import split_html

NAME = "raise"


class RaiseForm(forms.Form):
    name: ClassVar[str] = NAME

    def kind(self, turn: Turn) -> KindSpec:
        return turn.context.svc.kinds[str(turn.data["kind"])]

    async def fields(self, turn: Turn) -> tuple[FieldSpec, ...]:
        if not turn.data.get("kind"):
            return ()
        return self.kind(turn).fields

    async def allowed(self, turn: Turn) -> DomainError | None:
        """The member may still raise what they are filling in (or, before choosing, some
        kind): someone revoked or moved mid-form is told at once."""
        svc = turn.context.svc
        kind = svc.kinds.get(turn.data.get("kind"))
        if kind is not None and rules.can_raise(turn.viewer.member, kind, svc.committee):
            return None
        if kind is None and rules.raisable_kinds(turn.viewer.member, svc.kinds, svc.committee):
            return None
        return NotAllowed("not_member" if turn.viewer.member is None else "cannot_raise")

    async def summary(self, turn: Turn, note: str = "") -> State:
        kind = self.kind(turn)
        html = turn.render(
            "summary",
            kind=kind,
            values=turn.data["values"],
            note=note,
            resubmit=bool(turn.data.get("case_id")),
            kept=int(turn.data.get("kept_files") or 0),
        )
        return await forms.show_summary(turn, html, turn.tr("📨 Submit"), turn.tr("✏ Edit a field"))

    async def finish(self, turn: Turn) -> State:
        return await self.summary(turn)

    async def submit(self, turn: Turn) -> State:
        query = turn.query
        assert query is not None
        svc = turn.context.svc
        try:
            if turn.data.get("case_id"):
                outcome = await svc.act(
                    turn.viewer,
                    int(turn.data["case_id"]),
                    None,
                    "resubmit",
                    turn.data["values"],
                    finishes=forms.FLOW,
                )
            else:
                outcome = await svc.submit(
                    turn.viewer,
                    str(turn.data["kind"]),
                    turn.data["values"],
                    str(turn.data["token"]),
                    finishes=forms.FLOW,
                )
        except InvalidInput as exc:
            await turn.answer()
            await turn.error(exc)
            name = exc.params.get("field")
            if name:
                spec = await forms.field_named(turn, str(name))
                return await forms.ask_field(turn.with_data(editing=True), spec)
            return await self.summary(turn)
        except NotAllowed as exc:
            await turn.answer()
            await turn.error(exc)
            await turn.discard()
            return END
        forms.forget(turn.context)  # the submit removed the draft in its transaction
        case = outcome.case
        if turn.data.get("case_id") and not outcome.changed:
            # Reopened or resubmitted by someone else meanwhile: say so, never "submitted".
            await turn.answer()
            await drop_keyboard(query)
            await turn.error(InvalidInput("resubmit_moved_on", number=case.number))
            return END
        await turn.answer(turn.tr("Submitted as %(number)s", number=case.number))
        await deliver_now(turn.context)
        reached = outcome.notified if outcome.changed else None
        kind = svc.kinds[case.kind]
        receipt = turn.render(
            "receipt",
            case=case,
            kind=kind,
            reached=reached,
            resubmitted=bool(turn.data.get("case_id")),
        )
        # The summary becomes the receipt, what was submitted still readable under it; when
        # both do not fit one message, the summary stays and the receipt comes after it.
        submitted = turn.render(
            "submitted",
            kind=kind,
            values=turn.data["values"],
            kept=int(turn.data.get("kept_files") or 0),
        )
        together = f"{receipt}\n\n{submitted}"
        if len(split_html(together)) == 1:
            turn.replace_pressed()
            await turn.show(together, question=False)
        else:
            await drop_keyboard(query)
            await turn.say(receipt)
        return END


FORM = forms.register(RaiseForm())


async def new(update: Update, context: BotContext) -> State:
    """/new — the entry of the conversation."""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return END
    if not await require_member(update, context, viewer):
        return END
    kinds = rules.raisable_kinds(viewer.member, context.svc.kinds, context.svc.committee)
    if not kinds:
        await reply(
            update, context, context.texts.render(viewer.lang, "error", code="cannot_raise")
        )
        return END
    draft = forms.new_draft(viewer.user_id, NAME, AWAITING_KIND, kind=None)
    turn = Turn(update, context, viewer, draft)
    rows = [[(turn.tr(k.label), turn.button("kind", k.code))] for k in kinds]
    rows.append([forms.cancel_button(turn)])
    state = await turn.save(AWAITING_KIND)
    await turn.show(turn.render("choose_kind", kinds=kinds), keyboard(rows))
    return state


async def _kind_chosen(turn: Turn, code: str) -> State:
    query = turn.query
    assert query is not None
    kind = turn.context.svc.kinds.get(code)
    committee = turn.context.svc.committee
    if (
        turn.draft.state != AWAITING_KIND
        or kind is None
        or not rules.can_raise(turn.viewer.member, kind, committee)
    ):
        await turn.stale()
        return None
    turn.note_line(turn.render("kind_chosen", kind=kind))
    return await forms.ask_field(turn.with_data(kind=kind.code), kind.fields[0])


form_steps.extra_presses({"kind": _kind_chosen})


async def start_resubmit(update: Update, context: BotContext, viewer: Viewer, case: Case) -> State:
    """Edit a returned matter: the raise form with its earlier answers, ending in a summary
    whose Submit resubmits it under the same number."""
    kind = context.svc.kinds[case.kind]
    values = dict(case.fields)
    for spec in kind.fields:
        if spec.type is FILES:
            values[spec.name] = []  # the documents already attached stay with the matter
    draft = forms.new_draft(
        viewer.user_id,
        NAME,
        AWAITING_CONFIRMATION,
        kind=kind.code,
        case_id=case.id,
        values=values,
        # Counted in the summary and the receipt with the files added now.
        kept_files=len(case.files),
    )
    turn = Turn(update, context, viewer, draft)
    note = turn.tr(
        "Your earlier answers are filled in. Change what was asked for, then submit again."
    )
    return await FORM.summary(turn, note=note)


async def remind(update: Update, context: BotContext) -> State:
    """/new while a form is open: show where the user is instead of losing the draft."""
    draft = await forms.load(update, context)
    if draft is None:
        return None
    viewer = await viewer_of(update, context)
    turn = Turn(update, context, viewer, draft)
    form = forms.form_of(draft)
    refusal = await form.allowed(turn)
    if refusal is not None:
        await turn.error(refusal)
        await turn.discard()
        return END
    if form.name != NAME:
        await turn.say(turn.render("error", code="busy_form"))
        return None
    note = turn.tr(
        "You are already raising a matter. Continue here, or send /cancel to discard it."
    )
    if draft.state == AWAITING_KIND:
        await turn.say(turn.render("error", code="finish_choice"))
        return None
    return await form.resume(turn, note)


def entry_points() -> list[BaseHandler[Update, BotContext, object]]:
    return [CommandHandler("new", new)]


def fallbacks() -> list[BaseHandler[Update, BotContext, object]]:
    return [CommandHandler("new", remind)]
