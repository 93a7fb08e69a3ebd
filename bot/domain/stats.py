"""绩效考核: the evaluation figures per organisation, each defined once, here.

Every figure is about the matters **raised in the period** (their creation day, local time)
and what became of them up to the moment the figures are computed: a matter raised in March
and acknowledged in April counts in March's figures. Each addressee of a matter is counted
for the organisation that acts for it (a coordination center staffed by one court: that
court, as the digest does), each matter for the organisation that raised it.

Times are counted in working days on the committee's calendar (holidays and weekends off,
make-up working days on), from the day the addressee's clock started (the matter raised,
resubmitted or reopened; that day never counts) to the day of the answer, less the working
days the clock stood paused while the addressee waited for more information (请求补充): as
the deadlines themselves are counted (``bot.domain.lifecycle``). A figure with nothing to
count shows "—".

The storage layer supplies plain rows (``AssignmentRow``); nothing here reads a database.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.domain.committee import Committee
from bot.domain.kinds import Deadline, KindRegistry, KindSpec, Side
from bot.domain.periods import Period
from bot.domain.workdays import WorkingCalendar
from bot.i18n import N_

NO_VALUE = "—"

# The deadlines whose answers the time figures measure (by their declared names).
ACK = "ack"
REPLY = "reply"
# The kinds the other rates are about, and what counts there.
REFERRAL = "referral"
RESOLVED = "resolved"
HEARING = "hearing"
HEAD = "head"
REQUEST_KINDS = frozenset({"assistance", "bankruptcy"})
BULLETIN = "bulletin"
READ_STATES = frozenset({"read", "answered"})
PAUSE, RESUME = "request_info", "provide_info"


# ----------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a matter's audit trail, as the figures need it."""

    action: str
    at: datetime
    from_status: str | None
    to_status: str | None
    assignment_id: int | None  # None: the matter's only addressee, or the whole matter


@dataclass(frozen=True, slots=True)
class AssignmentRow:
    """One addressee of a matter raised in the period, with the steps of its matter."""

    case_id: int
    assignment_id: int
    number: str
    title: str
    raiser_org: str
    addressee: str
    state: str
    outcome: str | None
    clock_started_at: datetime
    dues: Mapping[str, str]
    steps: tuple[Step, ...] = ()  # in the order they were taken

    @property
    def prefix(self) -> str:
        """The kind's number prefix (协调 of 协调〔2026〕12号)."""
        return self.number.split("〔", 1)[0]


@dataclass(frozen=True, slots=True)
class Timing:
    """How one addressee answered one deadline (``ACK`` or ``REPLY``).

    ``days``: working days taken (None: not answered); ``on_time``: answered by the due day
    (True), answered after it or still unanswered once it has passed (False), or not yet
    decided (None: not yet due, or the stage ended without the addressee's answer — the
    matter withdrawn, returned before the reply stage, closed by the court)."""

    days: int | None
    due: date | None
    on_time: bool | None

    @property
    def late(self) -> bool:
        return self.on_time is False


def _local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


class DayCounter(Protocol):
    """What the figures ask of the calendar (``WorkingCalendar`` or a remembering ``Days``)."""

    def working_days_between(self, a: date, b: date) -> int: ...


class Days:
    """Working days between two days, remembered: a year's figures ask the same few thousand
    pairs (raised on one day, answered on another) tens of thousands of times."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        self.calendar = calendar
        self._memo: dict[tuple[date, date], int] = {}

    def working_days_between(self, a: date, b: date) -> int:
        found = self._memo.get((a, b))
        if found is None:
            found = self._memo[(a, b)] = self.calendar.working_days_between(a, b)
        return found


@dataclass(frozen=True, slots=True)
class _Dated:
    """A step of the clock's current round with its local day."""

    step: Step
    day: date


def _round_steps(row: AssignmentRow, tz: ZoneInfo) -> list[_Dated]:
    """The steps of this addressee (its own, or its matter's) since its clock started, each
    with its local day (``row.steps`` come in the order they were taken)."""
    start = row.clock_started_at
    return [
        _Dated(s, _local_day(s.at, tz))
        for s in row.steps
        if s.at >= start and (s.assignment_id is None or s.assignment_id == row.assignment_id)
    ]


def _deadline(kind: KindSpec, name: str) -> Deadline | None:
    return next((d for d in kind.deadlines if d.name == name), None)


def _answers(kind: KindSpec) -> frozenset[str]:
    """The kind's actions its addressee takes (only they can answer a deadline)."""
    return frozenset(a.code for a in kind.actions if a.by is Side.ADDRESSEE)


def timing(
    row: AssignmentRow,
    kind: KindSpec,
    name: str,
    calendar: DayCounter,
    tz: ZoneInfo,
    today: date,
) -> Timing | None:
    """The answer of one addressee to the deadline ``name``; None when its kind has none.

    The answer is the addressee's first step, in the clock's current round, that leaves the
    deadline's states (受理 or 退回 for acknowledging; the outcome or the reply for replying).
    Its time is the working days from the clock's start to the answer's day, less the
    working days paused (a pause from day P to day R takes the working days after P up to R,
    as the deadline moves; a pause still running ends at the answer or today)."""
    due = row.dues.get(name)
    return _timing(
        row.state,
        _deadline(kind, name),
        date.fromisoformat(due) if due else None,
        _round_steps(row, tz),
        _answers(kind),
        _local_day(row.clock_started_at, tz),
        calendar,
        today,
    )


def _timing(
    state: str,
    deadline: Deadline | None,
    due: date | None,
    steps: Sequence[_Dated],
    answers: frozenset[str],
    start_day: date,
    calendar: DayCounter,
    today: date,
) -> Timing | None:
    if deadline is None:
        return None
    states = deadline.states
    answer = None
    for dated in steps:
        step = dated.step
        if step.action in answers and step.from_status in states and step.to_status not in states:
            answer = dated
            break
    if answer is None:
        late = state in states and due is not None and today > due
        return Timing(None, due, False if late else None)
    end = answer.day
    paused = _paused(steps, end, calendar) if len(steps) > 1 else 0
    days = max(0, calendar.working_days_between(start_day, end) - paused)
    return Timing(days, due, None if due is None else end <= due)


def paused_working_days(
    steps: Sequence[Step], end: date, calendar: DayCounter, tz: ZoneInfo
) -> int:
    """Working days the clock stood paused up to ``end``: each request for more information
    until its answer (or ``end``), counted as the deadline is moved on resuming."""
    dated = [_Dated(s, _local_day(s.at, tz)) for s in sorted(steps, key=lambda s: s.at)]
    return _paused(dated, end, calendar)


def _paused(steps: Sequence[_Dated], end: date, calendar: DayCounter) -> int:
    total = 0
    since: date | None = None
    for dated in steps:
        if dated.day > end:
            break
        action = dated.step.action
        if action == PAUSE and since is None:
            since = dated.day
        elif action == RESUME and since is not None:
            total += calendar.working_days_between(since, dated.day)
            since = None
    if since is not None:
        total += calendar.working_days_between(since, end)
    return total


# ----------------------------------------------------------------------------- figures


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of the scorecard: its code, its name (a message id: 化解率 in Chinese), a
    short heading for the table, how it is shown, and what it counts (``definition``, for
    whoever must answer for the number; ``Tally.add`` counts exactly that)."""

    code: str
    name: str
    heading: str
    unit: str  # "count", "days" or "rate"
    definition: str


FIGURES: tuple[Figure, ...] = (
    Figure(
        "raised",
        N_("Matters raised"),
        N_("Raised"),
        "count",
        "Matters the organisation raised in the period.",
    ),
    Figure(
        "received",
        N_("Matters received"),
        N_("Recv."),
        "count",
        "Addressees it acts for (itself, or a center only it staffs) of the matters raised in "
        "the period: a request to three agencies counts once for each.",
    ),
    Figure(
        "ack_median",
        N_("Median time to acknowledge"),
        N_("Ack."),
        "days",
        "Median of the working days from the clock's start to the first acknowledgement or "
        "return, paused working days left out (``timing``), of those acknowledged.",
    ),
    Figure(
        "ack_p90",
        N_("90th percentile of the time to acknowledge"),
        N_("P90"),
        "days",
        "The same days' 90th percentile (nearest rank: ``percentile``).",
    ),
    Figure(
        "ack_on_time",
        N_("On-time acknowledgement rate"),
        N_("On time"),
        "rate",
        "Acknowledged or returned by the acknowledgement's due day, of those acknowledged or "
        "returned, or still waiting past that day.",
    ),
    Figure(
        "reply_median",
        N_("Median time to reply"),
        N_("Reply"),
        "days",
        "Median of the working days from the clock's start to the outcome recorded (or an "
        "agency's reply to a request), paused working days left out, of those answered.",
    ),
    Figure(
        "reply_p90",
        N_("90th percentile of the time to reply"),
        N_("P90"),
        "days",
        "The same days' 90th percentile.",
    ),
    Figure(
        "reply_on_time",
        N_("On-time reply rate"),
        N_("On time"),
        "rate",
        "Answered by the reply's due day, of those answered, or still waiting past that day.",
    ),
    Figure(
        "resolution",
        N_("Resolution rate (referrals)"),
        N_("Resolved"),
        "rate",
        "化解率: referrals resolved by agreement, of the referrals with an outcome recorded.",
    ),
    Figure(
        "appearance",
        N_("Head appearance rate (hearings)"),
        N_("Heads"),
        "rate",
        "负责人出庭应诉率: hearings where the agency's head appeared, of the hearings with the "
        "appearance recorded.",
    ),
    Figure(
        "request_reply",
        N_("Reply rate (assistance, bankruptcy)"),
        N_("Answered"),
        "rate",
        "Assistance and bankruptcy requests the agency replied to, of those received; a "
        "request the court withdrew or closed before the agency replied is not counted.",
    ),
    Figure(
        "bulletin_read",
        N_("Bulletin read rate"),
        N_("Read"),
        "rate",
        "Bulletins the agency marked as read (or answered in writing), of those received.",
    ),
)
FIGURE = {f.code: f for f in FIGURES}


@dataclass(slots=True)
class Ratio:
    """A rate as its two counts; no value without a denominator."""

    hits: int = 0
    of: int = 0

    def add(self, counted: bool, hit: bool) -> None:
        if counted:
            self.of += 1
            self.hits += hit

    @property
    def value(self) -> float | None:
        return self.hits / self.of if self.of else None


def median(values: Sequence[int]) -> float | None:
    """The median (the mean of the middle two for an even count); None for no values."""
    return float(statistics.median(values)) if values else None


def percentile(values: Sequence[int], share: float = 0.9) -> int | None:
    """The nearest-rank percentile: the smallest value at least ``share`` of the values do not
    exceed (the 90th of 1..10 is 9). None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(slots=True)
class OrgFigures:
    """The figures of one organisation (by code) for one period."""

    org: str
    raised: int = 0
    received: int = 0
    ack_days: list[int] = field(default_factory=list)
    reply_days: list[int] = field(default_factory=list)
    ack_on_time: Ratio = field(default_factory=Ratio)
    reply_on_time: Ratio = field(default_factory=Ratio)
    resolution: Ratio = field(default_factory=Ratio)
    appearance: Ratio = field(default_factory=Ratio)
    request_reply: Ratio = field(default_factory=Ratio)
    bulletin_read: Ratio = field(default_factory=Ratio)

    def value(self, code: str) -> float | int | None:
        """A figure by its code (``FIGURES``); None where it has no denominator."""
        match code:
            case "raised":
                return self.raised
            case "received":
                return self.received
            case "ack_median":
                return median(self.ack_days)
            case "ack_p90":
                return percentile(self.ack_days)
            case "reply_median":
                return median(self.reply_days)
            case "reply_p90":
                return percentile(self.reply_days)
        ratio: Ratio = getattr(self, code)
        return ratio.value


def formatted(figure: Figure, value: float | int | None) -> str:
    """A figure as the table and the chart show it: 3, 1.5, 92%, or "—"."""
    if value is None:
        return NO_VALUE
    if figure.unit == "rate":
        return f"{round(value * 100)}%"
    if figure.unit == "days" and value != int(value):
        return f"{value:.1f}"
    return str(int(value))


@dataclass(frozen=True, slots=True)
class MatterLine:
    """One addressee of a matter behind an organisation's figures (the drill-down)."""

    case_id: int
    number: str
    title: str
    kind: str
    ack: Timing | None
    reply: Timing | None

    @property
    def late(self) -> bool:
        return any(t is not None and t.late for t in (self.ack, self.reply))


@dataclass(frozen=True, slots=True)
class Scorecard:
    """Every organisation's figures for a period, in the committee's order."""

    period: Period
    orgs: tuple[OrgFigures, ...]
    matters: int  # matters raised in the period

    def of(self, org: str) -> OrgFigures | None:
        return next((o for o in self.orgs if o.org == org), None)

    @property
    def overall(self) -> OrgFigures:
        """The committee's figures as a whole: every organisation's counts added up."""
        total = OrgFigures("", raised=self.matters)
        for org in self.orgs:
            total.received += org.received
            total.ack_days += org.ack_days
            total.reply_days += org.reply_days
            for name in (
                "ack_on_time",
                "reply_on_time",
                "resolution",
                "appearance",
                "request_reply",
                "bulletin_read",
            ):
                mine: Ratio = getattr(org, name)
                theirs: Ratio = getattr(total, name)
                theirs.hits += mine.hits
                theirs.of += mine.of
        return total


class Calculator:
    """Computes the figures from the storage layer's rows."""

    def __init__(
        self,
        committee: Committee,
        kinds: KindRegistry,
        calendar: WorkingCalendar,
        tz: ZoneInfo,
        today: date,
    ) -> None:
        self.committee = committee
        self.kinds = kinds
        self.calendar = calendar
        self.tz = tz
        self.today = today
        self.days = Days(calendar)
        self._by_prefix = {k.number_prefix: k for k in kinds}
        self._answers = {k.code: _answers(k) for k in kinds}
        self._deadlines = {k.code: (_deadline(k, ACK), _deadline(k, REPLY)) for k in kinds}
        self._dues: dict[str, date] = {}

    def _due(self, text: str | None) -> date | None:
        if not text:
            return None
        found = self._dues.get(text)
        if found is None:
            found = self._dues[text] = date.fromisoformat(text)
        return found

    def kind_of(self, row: AssignmentRow) -> KindSpec | None:
        return self._by_prefix.get(row.prefix)

    def org_of(self, row: AssignmentRow) -> str:
        """The organisation an addressee's figures count for."""
        return self.committee.acting_org(row.addressee)

    def line(self, row: AssignmentRow) -> MatterLine | None:
        """An addressee's timings (None for a matter of a kind no longer declared)."""
        kind = self.kind_of(row)
        if kind is None:
            return None
        steps = _round_steps(row, self.tz)
        answers = self._answers[kind.code]
        start = _local_day(row.clock_started_at, self.tz)
        ack_deadline, reply_deadline = self._deadlines[kind.code]
        dues = row.dues
        ack = _timing(
            row.state,
            ack_deadline,
            self._due(dues.get(ACK)),
            steps,
            answers,
            start,
            self.days,
            self.today,
        )
        reply = _timing(
            row.state,
            reply_deadline,
            self._due(dues.get(REPLY)),
            steps,
            answers,
            start,
            self.days,
            self.today,
        )
        return MatterLine(row.case_id, row.number, row.title, kind.code, ack, reply)

    def scorecard(self, period: Period, rows: Iterable[AssignmentRow]) -> Scorecard:
        """Every figure of every organisation with something to count."""
        tally = Tally(self)
        tally.add(rows)
        return tally.card(period)

    def matters_of(self, org: str, rows: Iterable[AssignmentRow]) -> list[MatterLine]:
        """The addressees an organisation acts for among ``rows``, late ones first, then in the
        order they were raised."""
        lines = [
            line for row in rows if self.org_of(row) == org and (line := self.line(row)) is not None
        ]
        return sorted(lines, key=lambda m: (not m.late, m.case_id))


class Tally:
    """The figures being counted, a batch of rows at a time: a long period at scale is read
    a month at a time and never held whole. Every addressee of a matter comes in the same
    batch (batches split the period by the day matters were raised)."""

    def __init__(self, calculator: Calculator) -> None:
        self.calculator = calculator
        self.figures: dict[str, OrgFigures] = {}
        self.matters = 0

    def _of(self, org: str) -> OrgFigures:
        found = self.figures.get(org)
        if found is None:
            found = self.figures[org] = OrgFigures(org)
        return found

    def add(self, rows: Iterable[AssignmentRow]) -> None:
        calc = self.calculator
        raised: set[int] = set()
        for row in rows:
            if row.case_id not in raised:
                raised.add(row.case_id)
                self._of(row.raiser_org).raised += 1
            kind = calc.kind_of(row)
            line = calc.line(row)
            if kind is None or line is None:
                continue
            mine = self._of(calc.org_of(row))
            mine.received += 1
            for t, days, ratio in (
                (line.ack, mine.ack_days, mine.ack_on_time),
                (line.reply, mine.reply_days, mine.reply_on_time),
            ):
                if t is None:
                    continue
                if t.days is not None:
                    days.append(t.days)
                ratio.add(t.on_time is not None, bool(t.on_time))
            code = kind.code
            if code == REFERRAL:
                mine.resolution.add(row.outcome is not None, row.outcome == RESOLVED)
            elif code == HEARING:
                mine.appearance.add(row.outcome is not None, row.outcome == HEAD)
            elif code in REQUEST_KINDS:
                replied = line.reply is not None and line.reply.days is not None
                # A request the court withdrew or closed before this agency replied could
                # not be answered: it is not counted.
                mine.request_reply.add(replied or kind.is_open(row.state), replied)
            elif code == BULLETIN:
                read = row.state in READ_STATES or any(
                    s.action in ("read", "answer") and s.assignment_id in (None, row.assignment_id)
                    for s in row.steps
                )
                mine.bulletin_read.add(True, read)
        self.matters += len(raised)

    def card(self, period: Period) -> Scorecard:
        committee = self.calculator.committee
        order = {code: i for i, code in enumerate([*committee.organisations, *committee.centers])}
        ordered = sorted(self.figures.values(), key=lambda o: (order.get(o.org, len(order)), o.org))
        return Scorecard(period, tuple(ordered), self.matters)


def rates_for_chart(
    card: Scorecard, label: Callable[[str], str]
) -> list[tuple[str, float | None, float | None]]:
    """(organisation's label, on-time acknowledgement rate, on-time reply rate) of every
    organisation that has one of the two."""
    found = []
    for org in card.orgs:
        ack, reply = org.ack_on_time.value, org.reply_on_time.value
        if ack is not None or reply is not None:
            found.append((label(org.org), ack, reply))
    return found
