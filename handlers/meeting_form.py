"""Scheduling a joint meeting (府院联席会议) on the form engine: /meeting asks the title, the
date and time, the place or video link, the invited organisations and the agenda, then shows a
summary with Schedule / Edit / Cancel. Rescheduling from /meetings is the same form asking only
the new date and time.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.domain import meetings as domain
from bot.domain import rules
from bot.domain.committee import OrgKind
from bot.domain.errors import DomainError, InvalidInput, NotAllowed, NotFound
from bot.domain.fields import AGENDA, DATETIME, ORGANISATIONS, TEXT, FieldSpec
from bot.domain.models import Draft
from bot.i18n import N_
from handlers import buttons, forms
from handlers.common import (
    BotContext,
    answer_stale,
    deliver_now,
    drop_keyboard,
    is_private,
    private_only,
    viewer_of,
)
from handlers.forms import END, State, Turn

NAME = "meeting"
OPEN_MATTERS = 10

TITLE = FieldSpec(
    "title", TEXT, N_("Meeting title"), N_("Meeting title"), max_length=domain.MAX_TITLE
)
STARTS_AT = FieldSpec(
    "starts_at",
    DATETIME,
    N_("Date and time"),
    N_("Date"),
    quick_days=(0, 1, 2, 7),
    quick_named=True,
)
PLACE = FieldSpec(
    "place", TEXT, N_("Place or video link"), N_("Place or video link"), max_length=domain.MAX_PLACE
)
ORGS = FieldSpec(
    "orgs",
    ORGANISATIONS,
    N_("Invited organisations"),
    N_("Invited organisations"),
    org_kinds=tuple(OrgKind),
    groups=(
        (N_("All courts"), (OrgKind.COURT,)),
        (N_("All departments and zones"), (OrgKind.DEPARTMENT, OrgKind.ZONE)),
    ),
)
AGENDA_ITEMS = FieldSpec(
    "agenda",
    AGENDA,
    N_("Agenda"),
    N_("Agenda"),
    required=False,
    max_length=domain.MAX_AGENDA_ITEM,
    maximum=domain.MAX_AGENDA_ITEMS,
)
NEW = (TITLE, STARTS_AT, PLACE, ORGS, AGENDA_ITEMS)
RESCHEDULE = (STARTS_AT,)
# The questions as the user counts them: the date and the time are two.
STEPS = ("title", "date", "time", "place", "orgs", "agenda")


class MeetingForm(forms.Form):
    name: ClassVar[str] = NAME
    error_template: ClassVar[str] = "meeting_error"

    def cancelled(self, context: BotContext, draft: Draft) -> str:
        return "meeting_aborted"

    async def fields(self, turn: Turn) -> tuple[FieldSpec, ...]:
        return RESCHEDULE if turn.data.get("mode") == "reschedule" else NEW

    async def allowed(self, turn: Turn) -> DomainError | None:
        return None if rules.is_admin(turn.viewer.member) else NotAllowed("admin_only")

    async def dynamic(self, turn: Turn, spec: FieldSpec) -> list[tuple[str, str]]:
        """The agenda offers the office's most recent open matters."""
        if spec.name != "agenda":
            return []
        try:
            cases, _ = await turn.context.svc.open_cases(turn.viewer, 0, OPEN_MATTERS)
        except NotAllowed:
            return []
        turn.scratch["matters"] = cases  # the question lists them too
        quoted = "「{}」" if turn.lang == "zh_CN" else " “{}”"
        return [(str(c.id), c.number + quoted.format(c.title)) for c in cases]

    def _ask(self, turn: Turn, step: str, note: str, **extra: Any) -> str:
        extra.setdefault("current", "")
        return turn.render(
            "meeting_ask",
            step=step,
            number=STEPS.index(step) + 1,
            steps=len(STEPS),
            mode=turn.data.get("mode", "new"),
            title=turn.data["values"].get("title") or "",
            editing=turn.data.get("editing", False),
            note=note,
            **extra,
        )

    def ask_html(self, turn: Turn, spec: FieldSpec, step: int, steps: int, note: str) -> str:
        values = turn.data["values"]
        if spec.name == "starts_at":
            current = ""
            if values.get("starts_at"):
                day = datetime.fromisoformat(values["starts_at"]).date()
                current = turn.context.texts.format_date(turn.lang, day)
            return self._ask(turn, "date", note, current=current)
        if spec.name == "orgs":
            return self._ask(turn, "orgs", note, selected=len(values.get("orgs") or []))
        if spec.name == "agenda":
            entries = values.get("agenda") or []
            chosen = {int(e[1]) for e in entries if e[0] == "case"}
            return self._ask(
                turn,
                "agenda",
                note,
                matters=turn.scratch.get("matters", []),
                chosen=chosen,
                items=agenda_texts(values),
            )
        current = values.get(spec.name) or ""
        return self._ask(turn, spec.name, note, max=spec.max_length, current=current)

    def time_html(self, turn: Turn, spec: FieldSpec, day: date, note: str) -> str:
        current = ""
        if turn.data["values"].get("starts_at"):
            current = datetime.fromisoformat(turn.data["values"]["starts_at"]).strftime("%H:%M")
        tz = turn.context.texts.zone_name(turn.lang)
        return self._ask(turn, "time", note, day=day, tz=tz, current=current)

    async def finish(self, turn: Turn) -> State:
        return await self.summary(turn)

    async def summary(self, turn: Turn, note: str = "") -> State:
        values = turn.data["values"]
        starts_at = datetime.fromisoformat(values["starts_at"])
        if turn.data.get("mode") == "reschedule":
            try:
                view = await turn.context.svc.meetings.get(int(turn.data["meeting_id"]))
            except NotFound as exc:
                await turn.error(exc)
                await turn.discard()
                return END
            html = turn.render(
                "meeting_summary",
                mode="reschedule",
                note=note,
                title=view.title,
                current=view.starts_at,
                starts_at=starts_at,
            )
            go, edit = turn.tr("✅ Confirm the new time"), turn.tr("✏ Change the time")
        else:
            html = turn.render(
                "meeting_summary",
                mode="new",
                note=note,
                title=values["title"],
                starts_at=starts_at,
                place=values["place"],
                orgs=values["orgs"],
                agenda=agenda_texts(values),
            )
            go, edit = turn.tr("📅 Schedule"), turn.tr("✏ Edit")
        return await forms.show_summary(turn, html, go, edit)

    async def submit(self, turn: Turn) -> State:
        query = turn.query
        assert query is not None
        svc, values = turn.context.svc, turn.data["values"]
        starts_at = datetime.fromisoformat(values["starts_at"])
        try:
            if turn.data.get("mode") == "reschedule":
                view = await svc.meetings.reschedule(
                    turn.viewer, int(turn.data["meeting_id"]), starts_at, finishes=forms.FLOW
                )
            else:
                agenda: list[int | str] = [
                    int(e[1]) if e[0] == "case" else str(e[1]) for e in values.get("agenda") or []
                ]
                view = await svc.meetings.schedule(
                    turn.viewer,
                    values["title"],
                    starts_at,
                    values["place"],
                    values["orgs"],
                    agenda,
                    finishes=forms.FLOW,
                )
        except InvalidInput as exc:
            await turn.answer()
            await turn.error(exc)
            turn.forget_question(query)  # its buttons go here, not again with the next question
            await drop_keyboard(query)
            return await self._again(turn, exc)
        except (NotAllowed, NotFound) as exc:
            await turn.answer()
            await drop_keyboard(query)
            await turn.error(exc)
            await turn.discard()
            return END
        forms.forget(turn.context)  # the operation removed the draft in its transaction
        await deliver_now(turn.context)
        # The summary becomes the confirmation (it names the meeting and its time).
        turn.replace_pressed()
        if turn.data.get("mode") == "reschedule":
            await turn.answer(turn.tr("Rescheduled."))
            await turn.show(turn.render("meeting_rescheduled", view=view), question=False)
            return END
        await turn.answer(turn.tr("Scheduled."))
        posted = await svc.group_chat_id() is not None
        html = turn.render(
            "meeting_scheduled", view=view, posted=posted, offsets=offsets_text(turn)
        )
        await turn.show(html, question=False)
        return END

    async def _again(self, turn: Turn, exc: InvalidInput) -> State:
        """Ask again the answer the refusal is about, then come back to the summary."""
        code = exc.code
        if code in ("meeting_cancelled", "meeting_started"):
            await turn.discard()
            return END
        editing = turn.with_data(editing=True)
        if code in ("time_in_past", "date_too_far", "bad_time", "same_time"):
            day = datetime.fromisoformat(turn.data["values"]["starts_at"]).date()
            if day >= turn.context.svc.today():
                return await forms.ask_time(editing, STARTS_AT, day)
            return await forms.ask_field(editing, STARTS_AT)
        if code in ("no_orgs", "unknown_org"):
            return await forms.ask_field(editing, ORGS)
        if code in ("case_unknown", "agenda_too_long"):
            return await forms.ask_field(editing, AGENDA_ITEMS)
        return await self.summary(turn)


FORM = forms.register(MeetingForm())


def agenda_texts(values: dict[str, Any]) -> list[str]:
    return [str(e[2] if e[0] == "case" else e[1]) for e in values.get("agenda") or []]


def offsets_text(turn: Turn) -> str:
    """The reminder offsets as people say them: 24小时、1小时."""
    parts: list[str] = []
    for offset in turn.context.svc.committee.schedule.meeting_reminders:
        minutes = int(offset.total_seconds() // 60)
        if minutes % (24 * 60) == 0 and minutes >= 2 * 24 * 60:  # "24 hours", "2 days"
            parts.append(turn.tr_n("%(n)s day", "%(n)s days", minutes // (24 * 60)))
        elif minutes % 60 == 0:
            parts.append(turn.tr_n("%(n)s hour", "%(n)s hours", minutes // 60))
        else:
            parts.append(turn.tr_n("%(n)s minute", "%(n)s minutes", minutes))
    return turn.context.texts.join(turn.lang, parts)


async def meeting_command(update: Update, context: BotContext) -> State:
    """/meeting — office members schedule a joint meeting."""
    viewer = await viewer_of(update, context)
    if not await private_only(update, context, viewer):
        return END
    turn = Turn(update, context, viewer, forms.new_draft(viewer.user_id, NAME, mode="new"))
    if not rules.is_admin(viewer.member):
        await turn.error(NotAllowed("admin_only"))
        return END
    return await forms.ask_field(turn, TITLE)


async def reschedule_pressed(update: Update, context: BotContext) -> State:
    """🕑 Reschedule under /meetings: ask for the new date and time."""
    query = update.callback_query
    assert query is not None
    viewer = await viewer_of(update, context)
    parsed = buttons.parse_meeting(query.data)
    meeting_id = parsed[1] if parsed is not None and parsed[0] == "rs" else None
    if meeting_id is None or not is_private(update):
        await answer_stale(update, context, viewer)
        return END
    turn = Turn(update, context, viewer, forms.new_draft(viewer.user_id, NAME, mode="reschedule"))
    view = await _reschedulable(turn, meeting_id)
    if isinstance(view, str):
        await query.answer(turn.tr(view), show_alert=True)
        return END
    draft = await forms.load(update, context)
    if draft is not None:
        await query.answer(
            turn.tr("Finish what you are doing, or send /cancel, first."), show_alert=True
        )
        return None
    await query.answer()
    turn = turn.with_data(
        meeting_id=meeting_id,
        values={"title": view.title, "place": view.place, "orgs": list(view.orgs)},
    )
    return await forms.ask_field(turn, STARTS_AT)


REFUSALS = {
    "admin_only": N_("Only the office can do this."),
    "meeting_unknown": N_("This meeting no longer exists."),
    "meeting_cancelled": N_("This meeting was cancelled."),
    "meeting_started": N_("This meeting has already started."),
}


async def _reschedulable(turn: Turn, meeting_id: int) -> domain.MeetingView | str:
    """The meeting this member may reschedule now, or why not (a message id)."""
    if not rules.is_admin(turn.viewer.member):
        return REFUSALS["admin_only"]
    try:
        view = await turn.context.svc.meetings.get(meeting_id)
    except NotFound:
        return REFUSALS["meeting_unknown"]
    closed = view.closed(turn.context.svc.clock.now())
    return REFUSALS[closed] if closed is not None else view


async def remind(update: Update, context: BotContext) -> State:
    """/meeting while a form is open: show the current step again, or say what is open."""
    draft = await forms.load(update, context)
    if draft is None:
        return None
    viewer = await viewer_of(update, context)
    turn = Turn(update, context, viewer, draft)
    form = forms.form_of(draft)
    if form.name != NAME:
        await turn.say(turn.render("meeting_error", code="busy_raise"))
        return None
    note = turn.tr(
        "You are already scheduling a meeting. Continue here, or send /cancel to discard it."
    )
    return await form.resume(turn, note)


def entry_points() -> list[BaseHandler[Update, BotContext, object]]:
    return [
        CommandHandler("meeting", meeting_command),
        CallbackQueryHandler(reschedule_pressed, pattern=r"^mt:rs:"),
    ]


def fallbacks() -> list[BaseHandler[Update, BotContext, object]]:
    return [
        CommandHandler("meeting", remind),
        CallbackQueryHandler(reschedule_pressed, pattern=r"^mt:rs:"),
    ]
