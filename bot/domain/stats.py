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
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from bot.domain.committee import Committee
from bot.domain.kinds import Deadline, KindRegistry, KindSpec, Side
from bot.domain.periods import Period
from bot.domain.workdays import WorkingCalendar
from bot.i18n import N_

NO_VALUE = "—"
_ONE_DAY = timedelta(days=1)

# The two times the figures measure: acknowledging a matter and answering it.
ACK = "ack"
REPLY = "reply"
# Which time each declared deadline (by its name) is measured in: the one place that says
# so (``tests/test_stats_domain.py`` checks every kind's deadlines are here). None: a
# deadline with a figure of its own (a bulletin read: the read rate).
MEASURED_AS: Mapping[str, str | None] = {
    "ack": ACK,  # 受理 or 退回: referral, consultation, coordination
    "receipt": ACK,  # 裁执分离: the agency confirms receipt of the ruling
    "name": ACK,  # 出庭应诉: the agency names who appears (acknowledging the hearing)
    "reply": REPLY,  # the outcome recorded, or an agency's reply to a request
    "result": REPLY,  # 裁执分离: the agency reports the result of enforcement
    "read": None,  # a bulletin: the read rate
}
# The kinds the other rates are about, and what counts there.
REFERRAL = "referral"
RESOLVED = "resolved"
HEARING = "hearing"
HEAD = "head"
REQUEST_KINDS = frozenset({"assistance", "bankruptcy"})
BULLETIN = "bulletin"
READ_STATES = frozenset({"read", "answered"})
READ_ACTIONS = frozenset({"read", "answer"})
PAUSE, RESUME = "request_info", "provide_info"
# The steps any figure reads: answers that leave a deadline's states, pauses and resumes,
# and reading a bulletin. Notes, handler changes and the like are not read (nor seen as
# answers: ``kind_rules`` leaves them out as ``timing`` never sees them).
STEP_ACTIONS: tuple[str, ...] = (
    "acknowledge",
    "return",
    "resolve",
    "reply",
    "name_official",
    "confirm_receipt",
    "report_result",
    "read",
    "answer",
    "request_info",
    "provide_info",
)


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
    # Its clock stands paused now (waiting for more information: no deadline runs, the
    # due days in ``dues`` move on resuming).
    paused: bool = False

    @property
    def prefix(self) -> str:
        """The kind's number prefix (协调 of 协调〔2026〕12号)."""
        return self.number.split("〔", 1)[0]


@dataclass(frozen=True, slots=True)
class Timing:
    """How one addressee answered one deadline (``ACK`` or ``REPLY``).

    ``days``: working days taken (None: not answered); ``on_time``: answered by the due day
    (True), answered after it or still unanswered once it has passed (False), or not yet
    decided (None: not yet due, the clock paused while the addressee waits for more
    information, or the stage ended without the addressee's answer — the matter withdrawn,
    returned before the reply stage, closed by the court)."""

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
    """Working days between two days as a subtraction of ordinals: each day's count of
    working days since an anchor day is worked out once (a year's figures ask about the same
    few hundred days hundreds of thousands of times). Days are given as dates or as ISO text
    (``YYYY-MM-DD``, as the database hands local days over)."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        self.calendar = calendar
        self._ordinals: dict[date, int] = {}
        self._texts: dict[str, int] = {}
        self._first: date | None = None
        self._last: date | None = None

    def ordinal(self, day: date) -> int:
        """Working days from the anchor day up to ``day`` (negative before it)."""
        found = self._ordinals.get(day)
        if found is None:
            self._extend(day)
            found = self._ordinals[day]
        return found

    def ordinal_of(self, text: str) -> int:
        """``ordinal`` of a day given as ISO text."""
        found = self._texts.get(text)
        if found is None:
            found = self._texts[text] = self.ordinal(date.fromisoformat(text))
        return found

    def working_days_between(self, a: date, b: date) -> int:
        """As ``WorkingCalendar.working_days_between``: working days in (a, b], 0 if b <= a."""
        return max(0, self.ordinal(b) - self.ordinal(a))

    def _extend(self, day: date) -> None:
        ordinals, working = self._ordinals, self.calendar.is_working_day
        if self._first is None or self._last is None:
            self._first = self._last = day
            ordinals[day] = 0
            return
        d, n = self._last, ordinals[self._last]
        while d < day:
            d += _ONE_DAY
            n += working(d)
            ordinals[d] = n
        self._last = d
        d, n = self._first, ordinals[self._first]
        while d > day:
            n -= working(d)
            d -= _ONE_DAY
            ordinals[d] = n
        self._first = d


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


def _deadline(kind: KindSpec, figure: str) -> Deadline | None:
    """The kind's deadline measured as ``figure`` (``MEASURED_AS``), if it has one."""
    return next((d for d in kind.deadlines if MEASURED_AS.get(d.name) == figure), None)


def _due_key(kind: KindSpec, figure: str) -> str | None:
    """The name the due day of the kind's ``figure`` deadline is kept under (``dues``)."""
    deadline = _deadline(kind, figure)
    return deadline.name if deadline is not None else None


def _answers(kind: KindSpec) -> frozenset[str]:
    """The kind's actions its addressee takes (only they can answer a deadline)."""
    return frozenset(a.code for a in kind.actions if a.by is Side.ADDRESSEE)


def timing(
    row: AssignmentRow,
    kind: KindSpec,
    figure: str,
    calendar: DayCounter,
    tz: ZoneInfo,
    today: date,
) -> Timing | None:
    """The answer of one addressee to its kind's deadline measured as ``figure`` (``ACK``
    or ``REPLY``: ``MEASURED_AS``); None when its kind has none.

    The answer is the addressee's first step, in the clock's current round, that leaves the
    deadline's states (受理 or 退回 for acknowledging; the outcome or the reply for replying).
    Its time is the working days from the clock's start to the answer's day, less the
    working days paused (a pause from day P to day R takes the working days after P up to R,
    as the deadline moves; a pause still running ends at the answer or today). An
    unanswered deadline is not late while the clock stands paused: none runs then."""
    deadline = _deadline(kind, figure)
    due = row.dues.get(deadline.name) if deadline is not None else None
    return _timing(
        row.state,
        row.paused,
        deadline,
        date.fromisoformat(due) if due else None,
        _round_steps(row, tz),
        _answers(kind),
        _local_day(row.clock_started_at, tz),
        calendar,
        today,
    )


def _timing(
    state: str,
    paused: bool,
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
        late = not paused and state in states and due is not None and today > due
        return Timing(None, due, False if late else None)
    end = answer.day
    stood = _paused(steps, end, calendar) if len(steps) > 1 else 0
    days = max(0, calendar.working_days_between(start_day, end) - stood)
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


# ----------------------------------------------------------------------------- summaries


@dataclass(frozen=True, slots=True)
class AnswerRule:
    """What answers one deadline of a kind (``timing``): the first step of the clock's
    current round, by the addressee or for the whole matter, by one of ``actions``, from one
    of ``states`` to none of them."""

    actions: frozenset[str]
    states: frozenset[str]


@dataclass(frozen=True, slots=True)
class KindRule:
    """How the figures read a declared kind: by its number prefix, with the answers to its
    acknowledgement and reply deadlines (None: it has no such deadline), and for a bulletin
    whether it was read. The storage layer turns these into a query (``Summary``)."""

    code: str
    prefix: str
    ack: AnswerRule | None
    reply: AnswerRule | None
    bulletin: bool
    ack_due: str | None = None  # the names the two due days are kept under (``dues``)
    reply_due: str | None = None


def kind_rules(kinds: KindRegistry) -> tuple[KindRule, ...]:
    """Every declared kind's rule. Only the steps ``STEP_ACTIONS`` names are ever read, so an
    answer by another action is no answer here either, exactly as in ``timing``."""

    def rule(kind: KindSpec, figure: str) -> AnswerRule | None:
        deadline = _deadline(kind, figure)
        if deadline is None:
            return None
        return AnswerRule(_answers(kind) & frozenset(STEP_ACTIONS), deadline.states)

    return tuple(
        KindRule(
            k.code,
            k.number_prefix,
            rule(k, ACK),
            rule(k, REPLY),
            k.code == BULLETIN,
            _due_key(k, ACK),
            _due_key(k, REPLY),
        )
        for k in kinds
    )


class Summary(NamedTuple):
    """One addressee of a matter raised in the period, summed up by the database: what the
    figures need of it, without its steps. Days are local days as ISO text (``YYYY-MM-DD``).

    ``ack_day``/``reply_day``: the day of the answer to that deadline (``KindRule``), None if
    none. Pauses are not in it: a matter with a request for more information goes through
    ``AssignmentRow`` and ``Tally.add`` instead (``Tally.add_summaries``' ``exact``)."""

    case_id: int
    assignment_id: int
    kind: str | None  # the kind's code by its number prefix; None: no longer declared
    raiser_org: str
    addressee: str
    state: str
    outcome: str | None
    start: str  # the local day the clock started
    ack_due: str | None
    reply_due: str | None
    ack_day: str | None
    reply_day: str | None
    read: bool | int | None  # a bulletin: read or answered in writing by a step
    paused: bool | int  # its clock stands paused now (``AssignmentRow.paused``)


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


def percent(share: float) -> int:
    """A share as whole percent rounded half up (四舍五入: 12.5 % is 13 %), as anyone checks
    it by hand, not Python's half to even; the epsilon absorbs float error (29/200)."""
    return math.floor(share * 100 + 0.5 + 1e-9)


def formatted(figure: Figure, value: float | int | None) -> str:
    """A figure as the table and the chart show it: 3, 1.5, 92%, or "—"."""
    if value is None:
        return NO_VALUE
    if figure.unit == "rate":
        return f"{percent(value)}%"
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
class MattersPage:
    """One page of the matters behind an organisation's figures, with how many there are
    in all and how many of them are late."""

    lines: tuple[MatterLine, ...]
    total: int
    late: int


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
        self._today_text = today.isoformat()
        self._by_prefix = {k.number_prefix: k for k in kinds}
        self.rules = kind_rules(kinds)
        self._rules = {r.code: r for r in self.rules}
        self._acting: dict[str, str] = {}
        self._answers = {k.code: _answers(k) for k in kinds}
        self._deadlines = {k.code: (_deadline(k, ACK), _deadline(k, REPLY)) for k in kinds}
        self._due_keys = {k.code: (_due_key(k, ACK), _due_key(k, REPLY)) for k in kinds}
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
        return self.acting(row.addressee)

    def acting(self, addressee: str) -> str:
        found = self._acting.get(addressee)
        if found is None:
            found = self._acting[addressee] = self.committee.acting_org(addressee)
        return found

    def rule(self, kind: str | None) -> KindRule | None:
        return self._rules.get(kind) if kind is not None else None

    def late(self, row: Summary) -> bool | None:
        """Whether an addressee is late with either answer (``MatterLine.late``), from its
        summary; None for a kind no longer declared. A pause moves no due day here: the
        answer's day against the due day decides, as ``timing`` does."""
        rule = self.rule(row.kind)
        if rule is None:
            return None
        today = self._today_text
        paused = bool(row.paused)
        return _late(rule.ack, row.state, paused, row.ack_due, row.ack_day, today) or _late(
            rule.reply, row.state, paused, row.reply_due, row.reply_day, today
        )

    def line(self, row: AssignmentRow) -> MatterLine | None:
        """An addressee's timings (None for a matter of a kind no longer declared)."""
        kind = self.kind_of(row)
        if kind is None:
            return None
        steps = _round_steps(row, self.tz)
        answers = self._answers[kind.code]
        start = _local_day(row.clock_started_at, self.tz)
        ack_deadline, reply_deadline = self._deadlines[kind.code]
        ack_key, reply_key = self._due_keys[kind.code]
        dues = row.dues
        ack = _timing(
            row.state,
            row.paused,
            ack_deadline,
            self._due(dues.get(ack_key) if ack_key else None),
            steps,
            answers,
            start,
            self.days,
            self.today,
        )
        reply = _timing(
            row.state,
            row.paused,
            reply_deadline,
            self._due(dues.get(reply_key) if reply_key else None),
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
                    s.action in READ_ACTIONS and s.assignment_id in (None, row.assignment_id)
                    for s in row.steps
                )
                mine.bulletin_read.add(True, read)
        self.matters += len(raised)

    def add_summaries(self, rows: Iterable[Summary], exact: Container[int] = ()) -> None:
        """Count addressees from their summaries, as ``add`` counts them from their steps
        (the same figures: ``timing`` with no pause, which is what a summary is). Matters in
        ``exact`` are left out: they had a request for more information, and are counted
        with their steps by ``add``. As in ``add``, every addressee of a matter comes in the
        same batch."""
        calc = self.calculator
        kinds, today, rules = calc.kinds, calc._today_text, calc._rules
        # A year at scale is hundreds of thousands of rows: plain locals, no calls per row
        # but the dictionaries' (a day's ordinal, an addressee's organisation's figures).
        ordinals, ordinal = calc.days._texts, calc.days.ordinal_of
        mine_of: dict[str, OrgFigures] = {}
        of = self._of
        raised: set[int] = set()
        for (
            case_id,
            _assignment_id,
            kind,
            raiser_org,
            addressee,
            state,
            outcome,
            start,
            ack_due,
            reply_due,
            ack_day,
            reply_day,
            read,
            paused,
        ) in rows:
            if case_id in exact:
                continue
            if case_id not in raised:
                raised.add(case_id)
                of(raiser_org).raised += 1
            rule = rules.get(kind)  # type: ignore[arg-type]
            if rule is None:
                continue
            mine = mine_of.get(addressee)
            if mine is None:
                mine = mine_of[addressee] = of(calc.acting(addressee))
            mine.received += 1
            begun = ordinals.get(start)
            if begun is None:
                begun = ordinal(start)
            answer = rule.ack
            if answer is not None:
                if ack_day is None:
                    # Unanswered: late once the due day has passed while still waiting (and
                    # not paused: such matters are in ``exact``, but the rule is the same).
                    if ack_due and not paused and state in answer.states and today > ack_due:
                        mine.ack_on_time.of += 1
                else:
                    ended = ordinals.get(ack_day)
                    if ended is None:
                        ended = ordinal(ack_day)
                    mine.ack_days.append(ended - begun if ended > begun else 0)
                    if ack_due:
                        mine.ack_on_time.of += 1
                        mine.ack_on_time.hits += ack_day <= ack_due
            answer = rule.reply
            if answer is not None:
                if reply_day is None:
                    if reply_due and not paused and state in answer.states and today > reply_due:
                        mine.reply_on_time.of += 1
                else:
                    ended = ordinals.get(reply_day)
                    if ended is None:
                        ended = ordinal(reply_day)
                    mine.reply_days.append(ended - begun if ended > begun else 0)
                    if reply_due:
                        mine.reply_on_time.of += 1
                        mine.reply_on_time.hits += reply_day <= reply_due
            code = rule.code
            if code == REFERRAL:
                mine.resolution.add(outcome is not None, outcome == RESOLVED)
            elif code == HEARING:
                mine.appearance.add(outcome is not None, outcome == HEAD)
            elif code in REQUEST_KINDS:
                # As in ``add``: a request withdrawn or closed unanswered is not counted.
                replied = rule.reply is not None and reply_day is not None
                mine.request_reply.add(replied or kinds[code].is_open(state), replied)
            elif code == BULLETIN:
                mine.bulletin_read.add(True, state in READ_STATES or bool(read))
        self.matters += len(raised)

    def card(self, period: Period) -> Scorecard:
        committee = self.calculator.committee
        for figures in self.figures.values():
            # Sorted once: the median and the percentile sort them again, then in linear time.
            figures.ack_days.sort()
            figures.reply_days.sort()
        order = {code: i for i, code in enumerate([*committee.organisations, *committee.centers])}
        ordered = sorted(self.figures.values(), key=lambda o: (order.get(o.org, len(order)), o.org))
        return Scorecard(period, tuple(ordered), self.matters)


def _late(
    rule: AnswerRule | None,
    state: str,
    paused: bool,
    due: str | None,
    day: str | None,
    today: str,
) -> bool:
    """``Timing.late`` from a summary's texts (ISO days compare as the days do)."""
    if rule is None or not due:
        return False
    if day is None:
        return not paused and state in rule.states and today > due
    return day > due


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
