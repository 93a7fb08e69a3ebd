"""Field types: how one answer is asked for, checked, stored and shown.

A field type is one class here. It says which *widget* asks for it (the Telegram adapter has one
per widget: typed text, buttons for one or several choices, a calendar, date and time, files),
how a typed answer is read, which choices a button widget offers, how a stored value is checked
again when a form is submitted (it may be hours old), and how a value reads in a message. Values
are stored as JSON: strings, numbers, ISO dates, lists.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo

from bot.domain.committee import Committee, OrgKind
from bot.domain.errors import InvalidInput
from bot.domain.text import clean_text
from bot.i18n import N_

MAX_DATE_AHEAD = timedelta(days=366)
MAX_FILE_BYTES = 20 * 1024 * 1024


class Widget(StrEnum):
    """How the adapter asks: each widget is one piece of conversation code."""

    TEXT = "text"  # a typed message (and a Skip button when optional)
    CHOICE = "choice"  # one button of several
    MULTI_CHOICE = "multi_choice"  # toggle buttons, then Done
    DATE = "date"  # quick choices, a month calendar, or a typed date
    DATETIME = "datetime"  # a date as above, then a time
    FILES = "files"  # documents and photos, then Done


class Labels(Protocol):
    """What showing a value needs from the presentation layer (one language)."""

    def tr(self, msgid: str) -> str: ...

    def org(self, code: str) -> str: ...

    def date(self, value: date) -> str: ...

    def datetime(self, value: datetime) -> str: ...

    def files(self, count: int) -> str: ...

    def count(self, singular: str, plural: str, n: int) -> str:
        """``n`` with the language's plural form of ``%(n)s …`` ids."""
        ...

    def join(self, items: Sequence[str]) -> str: ...


@dataclass(frozen=True, slots=True)
class FieldContext:
    """What checking an answer may depend on: the committee, today, and dynamic choices."""

    committee: Committee
    now: datetime
    tz: ZoneInfo
    # Choices that come from the database, by field name (for example the members of the
    # acting organisation, for an assignment): (value, shown label).
    dynamic: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=dict)
    # The organisation of the member answering (offered first where a field says so).
    own_org: str | None = None

    @property
    def today(self) -> date:
        return self.now.astimezone(self.tz).date()


@dataclass(frozen=True, slots=True)
class Option:
    """A button of a choice widget: ``label`` is a message id, an organisation or center code
    (shown by its name), or text shown as it is."""

    value: str
    label: str
    shown: str = "msgid"  # "msgid" | "org" | "plain"


class FieldType:
    """The behaviour of one type of answer. Subclasses set ``code`` and ``widget``."""

    code: ClassVar[str]
    widget: ClassVar[Widget]
    takes_text: ClassVar[bool] = False  # a choice widget that also takes typed items

    def parse_text(self, spec: FieldSpec, raw: str, ctx: FieldContext) -> Any:
        """The value of a typed answer; ``InvalidInput`` when it cannot be one."""
        raise InvalidInput("wrong_input", expected="button")

    def options(self, spec: FieldSpec, ctx: FieldContext) -> list[Option]:
        """The buttons of a choice widget."""
        return []

    def check(self, spec: FieldSpec, value: Any, ctx: FieldContext) -> Any:
        """A stored value, checked again and normalised (at submit time)."""
        return value

    def show(self, spec: FieldSpec, value: Any, labels: Labels) -> str:
        return str(value)

    def empty(self, value: Any) -> bool:
        return value is None or value == "" or value == []


class TextType(FieldType):
    code = "text"
    widget = Widget.TEXT
    multiline = False

    def parse_text(self, spec: FieldSpec, raw: str, ctx: FieldContext) -> str:
        text = clean_text(raw, multiline=self.multiline)
        if not text:
            raise InvalidInput("empty")
        if spec.max_length and len(text) > spec.max_length:
            raise InvalidInput("too_long", max=spec.max_length, length=len(text))
        return text

    def check(self, spec: FieldSpec, value: Any, ctx: FieldContext) -> str:
        return self.parse_text(spec, str(value), ctx)


class LongTextType(TextType):
    code = "long_text"
    multiline = True


class NumberType(FieldType):
    """A whole number (an amount, a count), typed; full-width digits and separators allowed."""

    code = "number"
    widget = Widget.TEXT

    def parse_text(self, spec: FieldSpec, raw: str, ctx: FieldContext) -> int:
        text = unicodedata.normalize("NFKC", raw).strip().replace(",", "").replace(" ", "")
        if not re.fullmatch(r"-?[0-9]{1,15}", text):
            raise InvalidInput("bad_number_value")
        value = int(text)
        if spec.minimum is not None and value < spec.minimum:
            raise InvalidInput("number_too_small", min=spec.minimum)
        if spec.maximum is not None and value > spec.maximum:
            raise InvalidInput("number_too_large", max=spec.maximum)
        return value

    def check(self, spec: FieldSpec, value: Any, ctx: FieldContext) -> int:
        return self.parse_text(spec, str(value), ctx)


class ChoiceType(FieldType):
    """One of the choices the declaration lists."""

    code = "choice"
    widget = Widget.CHOICE
    refusal: ClassVar[str] = "unknown_choice"  # the error code of a choice no longer offered

    def options(self, spec: FieldSpec, ctx: FieldContext) -> list[Option]:
        return [Option(value, label) for value, label in spec.choices]

    def check(self, spec: FieldSpec, value: Any, ctx: FieldContext) -> Any:
        if value not in {o.value for o in self.options(spec, ctx)}:
            raise InvalidInput(self.refusal)
        return str(value)

    def show(self, spec: FieldSpec, value: Any, labels: Labels) -> str:
        for choice, label in spec.choices:
            if choice == value:
                return labels.tr(label)
        return str(value)


class OrganisationType(ChoiceType):
    """One organisation of the kinds the declaration names."""

    code = "organisation"
    refusal = "unknown_org"

    def options(self, spec: FieldSpec, ctx: FieldContext) -> list[Option]:
        orgs = ctx.committee.orgs_of_kind(*spec.org_kinds)
        if spec.own_first:  # stable: the others keep the committee file's order
            orgs.sort(key=lambda o: o.code != ctx.own_org)
        return [Option(o.code, o.code, shown="org") for o in orgs]

    def show(self, spec: FieldSpec, value: Any, labels: Labels) -> str:
        return labels.org(str(value))


class AddresseeType(OrganisationType):
    """Where a matter goes: a coordination center (answered by the courts that staff it) or,
    with ``org_kinds``, an organisation of those kinds."""

    code = "addressee"
    refusal = "unknown_addressee"

    def options(self, spec: FieldSpec, ctx: FieldContext) -> list[Option]:
        centers = [Option(c, c, shown="org") for c in ctx.committee.centers]
        return [*centers, *OrganisationType.options(self, spec, ctx)]


class OrganisationsType(OrganisationType):
    """Several organisations (toggled, then Done): each one addressed on its own."""

    code = "organisations"
    widget = Widget.MULTI_CHOICE

    def check(self, spec: FieldSpec, value: Any, ctx: FieldContext) -> list[str]:
        known = {o.value for o in self.options(spec, ctx)}
        chosen: list[str] = []
        for code in value if isinstance(value, list) else [value]:
            if code not in known:
                raise InvalidInput("unknown_org")
            if code not in chosen:
                chosen.append(code)
        if not chosen:
            raise InvalidInput("no_orgs")
        return chosen

    def show(self, spec: FieldSpec, value: Any, labels: Labels) -> str:
        return labels.join([labels.org(str(c)) for c in value])


class MemberType(ChoiceType):
    """A member of the acting organisation (the choices come from the database)."""

    code = "member"

    def options(self, spec: FieldSpec, ctx: FieldContext) -> list[Option]:
        return [
            Option(value, label, shown="plain") for value, label in ctx.dynamic.get(spec.name, ())
        ]

    def show(self, spec: FieldSpec, value: Any, labels: Labels) -> str:
        return str(value)


class AgendaType(FieldType):
    """A list of items: choices the database offers (open matters, by id) toggled on, and
    items typed as text, one per line. Stored as ``[["case", id], ["text", "..."]]``."""

    code = "agenda"
    widget = Widget.MULTI_CHOICE
    takes_text = True

    def options(self, spec: FieldSpec, ctx: FieldContext) -> list[Option]:
        return [
            Option(value, label, shown="plain") for value, label in ctx.dynamic.get(spec.name, ())
        ]

    def parse_text(self, spec: FieldSpec, raw: str, ctx: FieldContext) -> list[str]:
        """Typed items, one per line."""
        items = [clean_text(line, multiline=False) for line in raw.split("\n")]
        items = [item for item in items if item]
        if not items:
            raise InvalidInput("empty")
        for item in items:
            if spec.max_length and len(item) > spec.max_length:
                raise InvalidInput("too_long", max=spec.max_length, length=len(item))
        return items

    def check(self, spec: FieldSpec, value: Any, ctx: FieldContext) -> list[list[Any]]:
        entries = [list(e) for e in (value or [])]
        if spec.maximum is not None and len(entries) > spec.maximum:
            raise InvalidInput("agenda_too_long", max=spec.maximum)
        return entries

    def show(self, spec: FieldSpec, value: Any, labels: Labels) -> str:
        return labels.count(N_("%(n)s item"), "%(n)s items", len(value or []))  # one catalog entry

    def empty(self, value: Any) -> bool:
        return not value


_DATE_PATTERNS = (
    re.compile(r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?$"),
    re.compile(r"^(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?$"),
)
_TIME_RE = re.compile(r"^(\d{1,2})\s*(?::\s*(\d{2})|[点时]\s*(?:(\d{1,2})\s*分?|(半))?)$")


def parse_date(raw: str, today: date) -> date:
    """A date typed by a user; a date without a year means its next occurrence."""
    text = clean_text(unicodedata.normalize("NFKC", raw), multiline=False)
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        groups = match.groupdict()
        try:
            if groups.get("y"):
                return date(int(groups["y"]), int(groups["m"]), int(groups["d"]))
            candidate = date(today.year, int(groups["m"]), int(groups["d"]))
            if candidate < today:
                candidate = date(today.year + 1, candidate.month, candidate.day)
            return candidate
        except ValueError as exc:
            raise InvalidInput("no_such_date") from exc
    raise InvalidInput("bad_date")


def validate_future_date(value: date, today: date) -> date:
    """Today or later, at most a year ahead."""
    if value < today:
        raise InvalidInput("date_in_past")
    if value - today > MAX_DATE_AHEAD:
        raise InvalidInput("date_too_far")
    return value


def parse_time(raw: str) -> time:
    """A time as people type it: 09:30, 9:30, 9：30, 9点, 9点30, 9点半."""
    match = _TIME_RE.match(unicodedata.normalize("NFKC", raw).strip())
    if not match:
        raise InvalidInput("bad_time")
    hour = int(match[1])
    minute = int(match[2] or match[3] or 0) + (30 if match[4] else 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise InvalidInput("bad_time")
    return time(hour, minute)


class DateType(FieldType):
    """A calendar date, today or later (at most a year ahead); stored as ``YYYY-MM-DD``."""

    code = "date"
    widget = Widget.DATE

    def parse_text(self, spec: FieldSpec, raw: str, ctx: FieldContext) -> str:
        return validate_future_date(parse_date(raw, ctx.today), ctx.today).isoformat()

    def check(self, spec: FieldSpec, value: Any, ctx: FieldContext) -> str:
        try:
            parsed = date.fromisoformat(str(value))
        except ValueError as exc:
            raise InvalidInput("bad_date") from exc
        return validate_future_date(parsed, ctx.today).isoformat()

    def show(self, spec: FieldSpec, value: Any, labels: Labels) -> str:
        return labels.date(date.fromisoformat(str(value)))


class DateTimeType(FieldType):
    """A moment in the future (a hearing): a date, then a time; stored as ISO with its offset."""

    code = "datetime"
    widget = Widget.DATETIME

    def combine(self, day: date, moment: time, ctx: FieldContext) -> str:
        value = datetime.combine(day, moment, ctx.tz)
        if value <= ctx.now:
            raise InvalidInput("time_in_past")
        if value - ctx.now > MAX_DATE_AHEAD:
            raise InvalidInput("date_too_far")
        return value.isoformat()

    def check(self, spec: FieldSpec, value: Any, ctx: FieldContext) -> str:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise InvalidInput("bad_time") from exc
        if parsed.tzinfo is None:
            raise InvalidInput("bad_time")
        local = parsed.astimezone(ctx.tz)
        return self.combine(local.date(), local.time().replace(second=0, microsecond=0), ctx)

    def show(self, spec: FieldSpec, value: Any, labels: Labels) -> str:
        return labels.datetime(datetime.fromisoformat(str(value)))


def validate_file(size: int | None, count_so_far: int, spec: FieldSpec) -> None:
    if count_so_far >= spec.max_files:
        raise InvalidInput("too_many_files", max=spec.max_files)
    if size is not None and size > MAX_FILE_BYTES:
        raise InvalidInput("file_too_large", max_mb=MAX_FILE_BYTES // (1024 * 1024))


class FilesType(FieldType):
    """Documents and photos: a list of ``{media, file_id, file_unique_id, file_name, size}``."""

    code = "files"
    widget = Widget.FILES

    def check(self, spec: FieldSpec, value: Any, ctx: FieldContext) -> list[dict[str, Any]]:
        return [dict(f) for f in (value or [])][: spec.max_files]

    def show(self, spec: FieldSpec, value: Any, labels: Labels) -> str:
        return labels.files(len(value or []))


TEXT = TextType()
LONG_TEXT = LongTextType()
NUMBER = NumberType()
CHOICE = ChoiceType()
ORGANISATION = OrganisationType()
ADDRESSEE = AddresseeType()
ORGANISATIONS = OrganisationsType()
MEMBER = MemberType()
DATE = DateType()
DATETIME = DateTimeType()
FILES = FilesType()
AGENDA = AgendaType()


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One question of a form: a raise form's field, or an input an action asks for."""

    name: str
    type: FieldType
    label: str  # message id
    prompt: str  # message id
    required: bool = True
    max_length: int = 0
    choices: tuple[tuple[str, str], ...] = ()  # (value, label msgid)
    org_kinds: tuple[OrgKind, ...] = ()
    personal: bool = False  # personal data: never posted to the group
    max_files: int = 10
    minimum: int | None = None
    maximum: int | None = None
    # Quick answers offered as buttons for a typed field, e.g. common return reasons (msgids).
    suggestions: tuple[str, ...] = ()
    # The committee file's list that replaces ``suggestions`` when it gives one
    # ("return_reasons": its [returns] reasons).
    suggestions_from: str = ""
    # A date's quick choices: in working days from today, read 12月2日（周三）· 5个工作日;
    # ``quick_named``: in calendar days instead, read 今天 / 明天 / 后天 · 12月2日（周三）
    # (a meeting's day, which is not a deadline).
    quick_days: tuple[int, ...] = (3, 5, 10, 20)
    quick_named: bool = False
    # Organisations: the answering member's own organisation offered first (the respondent
    # of a dispute the raising agency refers is often the agency itself).
    own_first: bool = False
    # Several organisations: buttons that toggle every organisation of some kinds at once,
    # as (label msgid, organisation kinds).
    groups: tuple[tuple[str, tuple[OrgKind, ...]], ...] = ()
    # Asked only when an earlier field has one of these values, e.g. the reason a deputy
    # appears instead of the head: ("who", ("deputy",)).
    when: tuple[str, tuple[str, ...]] | None = None

    def asked(self, values: Mapping[str, Any]) -> bool:
        """Whether this question is asked, given the answers so far."""
        return self.when is None or values.get(self.when[0]) in self.when[1]

    def options(self, ctx: FieldContext) -> list[Option]:
        return self.type.options(self, ctx)

    def show(self, value: Any, labels: Labels) -> str:
        if self.type.empty(value):
            return "—"
        return self.type.show(self, value, labels)

    def check(self, value: Any, ctx: FieldContext) -> Any:
        """The value checked again; a refusal names this field, so it can be asked again."""
        try:
            return self.type.check(self, value, ctx)
        except InvalidInput as exc:
            raise InvalidInput(exc.code, **{**exc.params, "field": self.name}) from exc


def asked(fields: Sequence[FieldSpec], values: Mapping[str, Any]) -> tuple[FieldSpec, ...]:
    """The questions a form asks, given the answers so far."""
    return tuple(spec for spec in fields if spec.asked(values))


def check_values(
    fields: Sequence[FieldSpec], values: Mapping[str, Any], ctx: FieldContext
) -> dict[str, Any]:
    """A whole form checked again at submit: required fields present, each value valid."""
    clean: dict[str, Any] = {}
    for spec in fields:
        if not spec.asked(values):
            continue
        value = values.get(spec.name)
        if spec.type.empty(value):
            if spec.required:
                raise InvalidInput("incomplete", field=spec.name)
            clean[spec.name] = [] if spec.type is FILES else None
            continue
        clean[spec.name] = spec.check(value, ctx)
    return clean
