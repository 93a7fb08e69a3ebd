"""What /export's spreadsheets hold: their sheets, columns and rows, read from matters.

One sheet per mechanism: one row per addressee of each matter raised in the period (a matter
for one court is one row; a request to five agencies is five, each with its own dates and
outcome), the matter's columns first, then the kind's declared fields, then the addressee's.
One sheet with the audit trail of those matters, and one with the scorecard: the evaluation
figures of ``bot.domain.stats`` (/stats), counted (``stats.Tally``) as the matters are read.

Values are typed (``Value``): numbers stay numbers, days are ``date``, moments are local
``datetime`` without a zone (the committee's time zone: spreadsheets have none), text is text.
Which fields appear goes through the privacy rule (``bot.domain.privacy``): a field marked
personal only where the rule lets the reader see personal data.

The milestones (acknowledged, replied, closed) are read from the audit trail, the one record
of when each step happened: acknowledged is the addressee's first step out of the kind's
initial state; replied its latest step into a closed state; closed the latest step that closed
it, unless a later one reopened it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain import stats
from bot.domain.fields import (
    AGENDA,
    DATE,
    DATETIME,
    FILES,
    NUMBER,
    FieldSpec,
    Labels,
)
from bot.domain.kinds import MATTER_CLOSED, MATTER_OPEN, KindSpec, Side
from bot.domain.models import Assignment, Case, Event
from bot.domain.privacy import Disclosure
from bot.i18n import N_

Value = str | int | float | date | datetime | None


class Cell(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    RATE = "rate"  # a fraction, shown as a percentage
    DATE = "date"
    DATETIME = "datetime"


@dataclass(frozen=True, slots=True)
class Column:
    title: str  # message id
    type: Cell = Cell.TEXT
    width: int = 14  # characters, as a spreadsheet measures a column


@dataclass(frozen=True, slots=True)
class Sheet:
    """A sheet's name (a message id, or a kind's label) and its columns."""

    key: str
    name: str
    columns: tuple[Column, ...]


AUDIT = "audit"
SCORECARD = "scorecard"

# The deadlines the mechanisms declare, by name, as a column title.
_DEADLINE_TITLES = {
    "ack": N_("Acknowledge by"),
    "reply": N_("Reply due by"),
    "read": N_("Read by"),
    "receipt": N_("Receipt due by"),
    "result": N_("Result due by"),
    "name": N_("Official named by"),
}
_STATUS_LABELS = {MATTER_OPEN: N_("In progress"), MATTER_CLOSED: N_("Closed")}

_MATTER_COLUMNS = (
    Column(N_("Number"), width=18),
    Column(N_("Matter status"), width=16),
    Column(N_("Raising organisation"), width=24),
    Column(N_("Raiser"), width=12),
    Column(N_("Raised on"), Cell.DATETIME, width=17),
    Column(N_("Documents"), Cell.NUMBER, width=8),
)
_ADDRESSEE_COLUMNS = (
    Column(N_("Addressee"), width=24),
    Column(N_("Addressee status"), width=16),
    Column(N_("Handler"), width=12),
    Column(N_("Acknowledged on"), Cell.DATETIME, width=17),
    Column(N_("Replied on"), Cell.DATETIME, width=17),
    Column(N_("Closed on"), Cell.DATETIME, width=17),
    Column(N_("Current deadline"), Cell.DATE, width=12),
)
_TAIL_COLUMNS = (
    Column(N_("Working days paused"), Cell.NUMBER, width=10),
    Column(N_("Outcome"), width=18),
    Column(N_("Last reason given"), width=30),
)


def exported_fields(kind: KindSpec, disclosure: Disclosure) -> tuple[FieldSpec, ...]:
    """The declared fields a reader with ``disclosure`` sees in the kind's sheet. Documents
    are kept apart from the answers (the matter's files, also those added later): the sheet
    counts them in a column of its own."""
    return tuple(
        spec
        for spec in kind.fields
        if spec.type is not FILES
        and (disclosure.personal or not spec.personal)
        and (disclosure.description or spec.name != "description")
    )


def _field_column(spec: FieldSpec) -> Column:
    if spec.type is NUMBER:
        return Column(spec.label, Cell.NUMBER, 12)
    if spec.type is AGENDA:
        return Column(spec.label, Cell.NUMBER, 10)
    if spec.type is DATE:
        return Column(spec.label, Cell.DATE, 12)
    if spec.type is DATETIME:
        return Column(spec.label, Cell.DATETIME, 17)
    long = spec.max_length > 200
    return Column(spec.label, width=40 if long else 20)


def matter_sheet(kind: KindSpec, disclosure: Disclosure) -> Sheet:
    deadlines = tuple(
        Column(_DEADLINE_TITLES.get(d.name, N_("Deadline")), Cell.DATE, 12) for d in kind.deadlines
    )
    return Sheet(
        f"kind:{kind.code}",
        kind.label,
        (
            *_MATTER_COLUMNS,
            *(_field_column(spec) for spec in exported_fields(kind, disclosure)),
            *_ADDRESSEE_COLUMNS,
            *deadlines,
            *_TAIL_COLUMNS,
        ),
    )


AUDIT_SHEET = Sheet(
    AUDIT,
    N_("Audit trail"),
    (
        Column(N_("Number"), width=18),
        Column(N_("Mechanism"), width=18),
        Column(N_("Time"), Cell.DATETIME, width=17),
        Column(N_("Step"), width=18),
        Column(N_("By"), width=12),
        Column(N_("Addressee"), width=24),
        Column(N_("From status"), width=16),
        Column(N_("To status"), width=16),
        Column(N_("Step details"), width=50),
    ),
)

_UNIT_CELLS = {"count": Cell.NUMBER, "days": Cell.NUMBER, "rate": Cell.RATE}

# The evaluation figures of ``bot.domain.stats``, one column each, under their full names.
SCORECARD_SHEET = Sheet(
    SCORECARD,
    N_("Scorecard"),
    (
        Column(N_("Organisation"), width=26),
        *(Column(f.name, _UNIT_CELLS[f.unit], width=12) for f in stats.FIGURES),
    ),
)


# ---------------------------------------------------------------------------- milestones


@dataclass(frozen=True, slots=True)
class Milestones:
    acknowledged: datetime | None = None
    replied: datetime | None = None
    closed: datetime | None = None


def _by_addressee(kind: KindSpec, action: str) -> bool:
    return kind.has_action(action) and kind.action(action).by is Side.ADDRESSEE


def _closed_state(kind: KindSpec, code: str | None) -> bool:
    return code is not None and any(s.code == code and not s.open for s in kind.states)


def milestones(kind: KindSpec, assignment: Assignment, events: Iterable[Event]) -> Milestones:
    """When the addressee first acknowledged, last replied, and when it closed (see the
    module's docstring). ``events``: the matter's, oldest first."""
    acknowledged = replied = closed = None
    for event in events:
        if event.assignment_id not in (None, assignment.id):
            continue  # another addressee's own step
        moved = event.to_status is not None and event.to_status != event.from_status
        if not moved:
            continue
        by_addressee = _by_addressee(kind, event.action)
        if acknowledged is None and by_addressee and event.from_status == kind.initial:
            acknowledged = event.at
        if _closed_state(kind, event.to_status):
            closed = event.at
            if by_addressee:
                replied = event.at
        elif _closed_state(kind, event.from_status):
            closed = None  # reopened
    if assignment.state in kind.open_states:
        closed = None
    return Milestones(acknowledged, replied, closed)


def milestones_of(kind: KindSpec, case: Case, events: Sequence[Event]) -> dict[int, Milestones]:
    """Each addressee's milestones, by assignment id (the rows and the scorecard read them)."""
    return {a.id: milestones(kind, a, events) for a in case.assignments}


# ---------------------------------------------------------------------------- rows


def local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A moment as the committee's clock read it, without a zone (what a sheet holds)."""
    if moment is None:
        return None
    return moment.astimezone(tz).replace(tzinfo=None, microsecond=0)


def _day(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def field_value(spec: FieldSpec, value: Any, labels: Labels, tz: ZoneInfo) -> Value:
    """A form's answer as a typed cell."""
    if spec.type in (FILES, AGENDA):
        return len(value) if isinstance(value, list) else 0
    if spec.type.empty(value):
        return None
    if spec.type is NUMBER:
        try:
            return int(value)
        except (TypeError, ValueError):
            return str(value)
    if spec.type is DATE:
        return _day(value)
    if spec.type is DATETIME:
        try:
            return local(datetime.fromisoformat(str(value)), tz)
        except ValueError:
            return str(value)
    return spec.show(value, labels)


def status_label(kind: KindSpec, code: str) -> str:
    """A status's message id (a matter with several addressees is open or closed)."""
    for state in kind.states:
        if state.code == code:
            return state.label
    return _STATUS_LABELS.get(code, code)


def outcome_label(kind: KindSpec, code: str | None) -> str:
    for value, label in kind.outcomes:
        if value == code:
            return label
    return code or ""


def matter_rows(
    kind: KindSpec,
    case: Case,
    steps: Mapping[int, Milestones],
    disclosure: Disclosure,
    labels: Labels,
    tz: ZoneInfo,
    files: int = 0,
) -> list[list[Value]]:
    """A matter's rows in its kind's sheet (``matter_sheet``): one per addressee, with its
    ``milestones_of``. ``files``: how many documents and photos the matter holds."""
    head: list[Value] = [
        case.number,
        labels.tr(status_label(kind, case.status)),
        labels.org(case.raiser_org),
        case.raiser_name or None,
        local(case.created_at, tz),
        files,
    ]
    head += [
        field_value(spec, case.fields.get(spec.name), labels, tz)
        for spec in exported_fields(kind, disclosure)
    ]
    rows: list[list[Value]] = []
    for assignment in case.assignments:
        step = steps.get(assignment.id) or Milestones()
        current = assignment.due if assignment.state in kind.open_states else None
        row = [
            *head,
            labels.org(assignment.addressee),
            labels.tr(status_label(kind, assignment.state)),
            assignment.handler_name or None,
            local(step.acknowledged, tz),
            local(step.replied, tz),
            local(step.closed, tz),
            current,
            *(_day(assignment.dues.get(d.name)) for d in kind.deadlines),
            assignment.paused_days,
            labels.tr(outcome_label(kind, assignment.outcome)) if assignment.outcome else None,
            assignment.note or None,
        ]
        rows.append(row)
    return rows


def action_label(kind: KindSpec | None, action: str) -> str:
    """A step as the history names it (a message id)."""
    if action == "submitted":
        return N_("Submitted")
    if kind is not None and kind.has_action(action):
        return kind.action(action).done
    return action


# A recorded answer under its question's label, and between two: "办理结果：协商化解；…".
_DETAIL = N_("%(label)s: %(value)s")
_DETAILS_SEPARATOR = N_("; ")


def _details(
    kind: KindSpec | None, event: Event, disclosure: Disclosure, labels: Labels, tz: ZoneInfo
) -> str:
    """An event's recorded inputs, each under its question's label where the kind declares
    it; personal answers only where the rule allows them."""
    specs: dict[str, FieldSpec] = {}
    if kind is not None:
        specs = {spec.name: spec for spec in kind.fields}
        if kind.has_action(event.action):
            specs.update({spec.name: spec for spec in kind.action(event.action).inputs})
    parts: list[str] = []
    for key, value in event.detail.items():
        spec = specs.get(key)
        if spec is not None and spec.personal and not disclosure.personal:
            continue
        if key == "number":  # a new matter's: the row's first column already
            continue
        if key == "files" and isinstance(value, int | list):  # documents: counted
            parts.append(labels.files(value if isinstance(value, int) else len(value)))
            continue
        if spec is None:  # recorded by an older release: shown as it was
            parts.append(f"{key}={value}")
            continue
        shown = field_value(spec, value, labels, tz)
        if isinstance(shown, datetime | date):
            shown = shown.isoformat(sep=" ") if isinstance(shown, datetime) else shown.isoformat()
        parts.append(labels.tr(_DETAIL) % {"label": labels.tr(spec.label), "value": shown})
    return labels.tr(_DETAILS_SEPARATOR).join(parts)


def audit_row(
    kind: KindSpec | None,
    number: str,
    event: Event,
    addressees: Mapping[int, str],
    disclosure: Disclosure,
    labels: Labels,
    tz: ZoneInfo,
) -> list[Value]:
    """One event of a matter's audit trail (``AUDIT_SHEET``)."""

    def state(code: str | None) -> str | None:
        if code is None:
            return None
        return labels.tr(status_label(kind, code)) if kind else code

    addressee = addressees.get(event.assignment_id) if event.assignment_id else None
    return [
        number,
        labels.tr(kind.label) if kind else None,
        local(event.at, tz),
        labels.tr(action_label(kind, event.action)),
        event.actor_name or None,
        labels.org(addressee) if addressee else None,
        state(event.from_status),
        state(event.to_status),
        _details(kind, event, disclosure, labels, tz) or None,
    ]


# ---------------------------------------------------------------------------- scorecard


def assignment_rows(
    case: Case, events: Sequence[Event], wanted: frozenset[str]
) -> list[stats.AssignmentRow]:
    """A matter as ``bot.domain.stats`` reads it: its addressees with the steps the figures
    use (``wanted``: the actions ``bot.storage.stats`` reads for /stats)."""
    steps = tuple(
        stats.Step(e.action, e.at, e.from_status, e.to_status, e.assignment_id)
        for e in events
        if e.action in wanted
    )
    return [
        stats.AssignmentRow(
            case_id=case.id,
            assignment_id=a.id,
            number=case.number,
            title=case.title,
            raiser_org=case.raiser_org,
            addressee=a.addressee,
            state=a.state,
            outcome=a.outcome,
            clock_started_at=a.clock_started_at,
            dues=a.dues,
            steps=steps,
        )
        for a in case.assignments
    ]


def _figure_values(figures: stats.OrgFigures) -> list[Value]:
    return [figures.value(f.code) for f in stats.FIGURES]


def scorecard_rows(card: stats.Scorecard, labels: Labels) -> list[list[Value]]:
    """The scorecard sheet's rows (``SCORECARD_SHEET``): the committee as a whole, then each
    organisation that raised or answered a matter of the period; a figure with nothing to
    count is an empty cell (what /stats shows as "—")."""
    rows: list[list[Value]] = [[labels.tr(N_("All organisations")), *_figure_values(card.overall)]]
    rows += [[labels.org(o.org), *_figure_values(o)] for o in card.orgs]
    return rows
