"""What a linkage mechanism is, as data: the declaration every kind of matter is made of.

A kind says who may raise it and what the raise form asks (``fields``), where it goes (one
coordination center or court, or one or several agencies chosen at raise time), its lifecycle
(states, and actions that say who may take them, from which states to which, what they ask
for, who is told and what the audit trail says), its deadlines (anchored on the day the clock
started or on a field, counted in working days forwards or backwards) and what the committee
group may see. The services, the conversations, the notices and /case are driven by these
declarations; the mechanisms themselves are declared in ``bot.domain.mechanisms``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.committee import GroupDetail, OrgKind
from bot.domain.fields import ADDRESSEE, ORGANISATION, ORGANISATIONS, FieldSpec
from bot.domain.models import Role


class Side(StrEnum):
    """Who takes an action or is told of it."""

    RAISER = "raiser"  # members of the raising organisation
    ADDRESSEE = "addressee"  # members answering for an addressee (a court for a center)
    OFFICE = "office"  # the linkage office


class Effect(StrEnum):
    """What an action does besides moving to another state."""

    PAUSE = "pause"  # the deadline clock stops until the raiser answers
    RESUME = "resume"  # ... and starts again; paused working days never count
    ASSIGN = "assign"  # the "handler" input becomes the addressee's handler
    REOPEN = "reopen"  # back to the last open state; deadlines counted afresh
    RESTART = "restart"  # deadlines counted afresh from now
    EDIT = "edit"  # the raiser edits the form's answers (a resubmission)
    CLOSE = "close"  # the matter closes for every addressee


class Closing(StrEnum):
    """With several addressees: when the matter as a whole is closed."""

    ALL_ANSWERED = "all_answered"  # once every addressee reached a closed state
    RAISER_CLOSES = "raiser_closes"  # only when the raiser closes it


@dataclass(frozen=True, slots=True)
class State:
    code: str
    label: str  # message id, as /case shows it
    open: bool = True


@dataclass(frozen=True, slots=True)
class Action:
    """Something a party can do to a matter in some states."""

    code: str
    label: str  # the button's message id
    done: str  # the history line's message id ("Acknowledged")
    by: Side
    from_states: frozenset[str] = frozenset()  # empty: any open state
    to_state: str | None = None  # None: the state stays
    inputs: tuple[FieldSpec, ...] = ()
    effects: frozenset[Effect] = frozenset()
    notify: frozenset[Side] = frozenset({Side.RAISER})
    # The template the parties told receive (templates/<name>.html).
    template: str = "case_action"
    # What the one who acts sees: the question for the first input (none: the generic one),
    # the reply once done, the button-press answer (with %(number)s), and the reply to Cancel.
    prompt_template: str | None = None
    receipt_template: str = "action_done"
    answer: str | None = None
    cancelled_template: str = "action_cancelled"
    # True: only while the clock is paused (answering a request); False: never then.
    while_paused: bool | None = None
    # Shown on the notice a party receives, as the next step (e.g. 登记结果 after 受理).
    primary: bool = False
    # Also a button on the committee group's post, pressed there by a member of an addressee
    # for their own organisation (已阅 on a bulletin).
    in_group: bool = False
    # Only from the moment a date or date-time field names (a hearing's appearance is
    # recorded once the hearing has begun): ``early`` says so to a press before it (with
    # %(moment)s), and the raiser's morning summary asks for it from then (``ask``, with
    # %(moment)s and %(org)s).
    after_field: str | None = None
    early: str | None = None
    ask: str | None = None


@dataclass(frozen=True, slots=True)
class Deadline:
    """A due date while an addressee is in ``states``: the earliest of its terms.

    ``working_days`` counts forwards from the day the clock started (raised, resubmitted or
    reopened), plus every working day the clock was paused; ``before_field`` counts
    ``before_working_days`` back from a date or date-time field (a hearing); ``cap_field`` is a
    date the raiser asked for, which wins where it is earlier.
    """

    name: str  # also the committee file's key: <name>_working_days
    states: frozenset[str]
    message: str  # message id: "%(org)s should acknowledge or return it by %(due)s."
    working_days: int | None = None
    before_field: str | None = None
    before_working_days: int = 0
    cap_field: str | None = None
    # No longer pressed (summaries, 督办) once the moment this field names has passed: a
    # hearing's official is named before it or never.
    until_field: str | None = None


@dataclass(frozen=True, slots=True)
class Reminder:
    """Reminders to an addressee before the moment a date or date-time field names (a
    hearing): ``days_before`` it, while the addressee is in one of ``states``."""

    field: str
    days_before: tuple[int, ...]
    states: frozenset[str]
    message: str  # message id, with %(moment)s


@dataclass(frozen=True, slots=True)
class KindSpec:
    code: str
    number_prefix: str  # as in 协调〔2026〕12号
    label: str  # message id
    raised_by: frozenset[Role]
    answered_by: frozenset[Role]
    fields: tuple[FieldSpec, ...]
    states: tuple[State, ...]
    actions: tuple[Action, ...]
    deadlines: tuple[Deadline, ...] = ()
    outcomes: tuple[tuple[str, str], ...] = ()  # (code, label msgid)
    initial: str = "submitted"
    title_field: str = "title"
    addressee_field: str = "addressee"
    closing: Closing = Closing.ALL_ANSWERED
    # The most the committee group may see of a new matter; the committee file caps it too.
    group_detail: GroupDetail = GroupDetail.FULL
    # Who may raise it, by the kind of their organisation (empty: any that fits the role).
    raiser_org_kinds: frozenset[OrgKind] = frozenset()
    # The template a new matter's notice to the addressee uses.
    notice_template: str = "notify_new"
    reminders: tuple[Reminder, ...] = ()

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def state(self, code: str) -> State:
        for state in self.states:
            if state.code == code:
                return state
        raise KeyError(code)

    def action(self, code: str) -> Action:
        for action in self.actions:
            if action.code == code:
                return action
        raise KeyError(code)

    def has_action(self, code: str) -> bool:
        return any(a.code == code for a in self.actions)

    @property
    def addressee_spec(self) -> FieldSpec:
        return self.field(self.addressee_field)

    @property
    def several_addressees(self) -> bool:
        """One request to several agencies, each answering separately."""
        return self.addressee_spec.type is ORGANISATIONS

    def is_open(self, state: str) -> bool:
        return self.state(state).open

    @property
    def open_states(self) -> frozenset[str]:
        return frozenset(s.code for s in self.states if s.open)

    # Kept for the committee file's [deadlines.<kind>] defaults.
    @property
    def ack_working_days(self) -> int:
        return self.deadline_days("ack")

    @property
    def reply_working_days(self) -> int:
        return self.deadline_days("reply")

    def deadline_days(self, name: str) -> int:
        for deadline in self.deadlines:
            if deadline.name == name and deadline.working_days is not None:
                return deadline.working_days
        raise KeyError(name)


class KindError(ValueError):
    """A declaration that cannot work (found when the registry is built, at start-up)."""


@dataclass(frozen=True)
class KindRegistry:
    """The kinds the bot runs, looked up by code or number prefix. Tests build their own."""

    kinds: tuple[KindSpec, ...]
    _by_code: dict[str, KindSpec] = field(init=False, repr=False, compare=False)
    # Every state code in which some addressee still has to act (matter statuses too).
    open_states: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code: dict[str, KindSpec] = {}
        prefixes: set[str] = set()
        openness: dict[str, bool] = {}
        for kind in self.kinds:
            if kind.code in by_code:
                raise KindError(f"kind {kind.code!r} is declared twice")
            if kind.number_prefix in prefixes:
                raise KindError(f"number prefix {kind.number_prefix!r} is used twice")
            _check(kind)
            for state in kind.states:
                if openness.setdefault(state.code, state.open) != state.open:
                    raise KindError(f"state {state.code!r} is open in one kind, closed in another")
            by_code[kind.code] = kind
            prefixes.add(kind.number_prefix)
        object.__setattr__(self, "_by_code", by_code)
        opened = {code for code, is_open in openness.items() if is_open} | {MATTER_OPEN}
        object.__setattr__(self, "open_states", frozenset(opened))

    def __iter__(self) -> Iterator[KindSpec]:
        return iter(self.kinds)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __getitem__(self, code: str) -> KindSpec:
        return self._by_code[code]

    def get(self, code: str | None) -> KindSpec | None:
        return self._by_code.get(code or "")

    def by_prefix(self, prefix: str) -> KindSpec | None:
        for kind in self.kinds:
            if kind.number_prefix == prefix:
                return kind
        return None

    @classmethod
    def of(cls, kinds: Iterable[KindSpec]) -> KindRegistry:
        return cls(tuple(kinds))


# A matter with several addressees has a status of its own: open until it closes.
MATTER_OPEN = "open"
MATTER_CLOSED = "closed"


def _check(kind: KindSpec) -> None:
    """Every name a declaration uses refers to something it declares."""
    states = {s.code for s in kind.states}
    names = {f.name for f in kind.fields}
    where = f"kind {kind.code!r}"
    if kind.initial not in states:
        raise KindError(f"{where}: initial state {kind.initial!r} is not declared")
    for required in (kind.title_field, kind.addressee_field):
        if required not in names:
            raise KindError(f"{where}: no field {required!r}")
    if kind.addressee_spec.type not in (ADDRESSEE, ORGANISATION, ORGANISATIONS):
        raise KindError(f"{where}: {kind.addressee_field!r} must name organisations")
    for spec in (*kind.fields, *(i for a in kind.actions for i in a.inputs)):
        # The linkage office coordinates; it is never a party, a respondent or an addressee
        # of a matter, so no declaration may offer it (nor accept it: choices are checked).
        if OrgKind.OFFICE in spec.org_kinds:
            raise KindError(f"{where}: field {spec.name!r} offers the linkage office")
    for action in kind.actions:
        for state in {*action.from_states, *([action.to_state] if action.to_state else [])}:
            if state not in states:
                raise KindError(f"{where}: action {action.code!r} names state {state!r}")
    for deadline in kind.deadlines:
        unknown = deadline.states - states
        if unknown:
            raise KindError(f"{where}: deadline {deadline.name!r} names {sorted(unknown)}")
        for name in (deadline.before_field, deadline.cap_field):
            if name is not None and name not in names:
                raise KindError(f"{where}: deadline {deadline.name!r} names field {name!r}")
    for reminder in kind.reminders:
        if reminder.field not in names or reminder.states - states:
            raise KindError(f"{where}: a reminder names an unknown field or state")
