"""Business rules in one place: who may do what, state transitions, numbering, validation.

Plain functions over plain records, unit-tested on their own; the service calls them inside
its transactions and handlers never re-implement them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from bot.domain.committee import Committee, OrgKind
from bot.domain.kinds import KINDS, FieldSpec, FieldType, KindSpec
from bot.domain.models import Case, Member, Role, Status

# ---------------------------------------------------------------------------- errors


class DomainError(Exception):
    """A refusal the user should see; ``code`` selects the message, ``params`` fill it."""

    code = "error"

    def __init__(self, code: str | None = None, **params: Any) -> None:
        super().__init__(code or self.code)
        if code:
            self.code = code
        self.params = params


class NotAllowed(DomainError):
    code = "not_allowed"


class NotFound(DomainError):
    code = "not_found"


class InvalidInput(DomainError):
    code = "invalid"


# ---------------------------------------------------------------------------- roles

ROLE_ORG_KINDS: dict[Role, frozenset[OrgKind]] = {
    Role.DEPARTMENT_HEAD: frozenset({OrgKind.DEPARTMENT, OrgKind.ZONE}),
    Role.COURT_STAFF: frozenset({OrgKind.COURT}),
    Role.OFFICE: frozenset({OrgKind.OFFICE}),
    Role.OBSERVER: frozenset(OrgKind),
}


def role_fits_org(role: Role, org_kind: OrgKind) -> bool:
    """Court staff belong to courts, department heads to departments or zones, and so on."""
    return org_kind in ROLE_ORG_KINDS[role]


def is_admin(member: Member | None) -> bool:
    """Office members administer the bot: invites, members, the group binding."""
    return member is not None and member.active and member.role is Role.OFFICE


def can_raise(member: Member | None, kind: KindSpec) -> bool:
    return member is not None and member.active and member.role in kind.raiser_roles


def raisable_kinds(member: Member | None) -> list[KindSpec]:
    return [k for k in KINDS.values() if can_raise(member, k)]


def can_answer(member: Member | None, case: Case, committee: Committee) -> bool:
    """Only staff of a court that answers for the addressee may acknowledge or return."""
    if member is None or not member.active:
        return False
    kind = KINDS.get(case.kind)
    if kind is None or member.role not in kind.answerer_roles:
        return False
    return member.org_code in committee.courts_answering(case.addressee)


def can_view(member: Member | None, case: Case, committee: Committee) -> bool:
    if member is None or not member.active:
        return False
    if member.role in (Role.OFFICE, Role.OBSERVER):
        return True
    if member.org_code == case.raiser_org:
        return True
    return member.org_code in committee.courts_answering(case.addressee)


# ---------------------------------------------------------------------------- transitions

TRANSITIONS: dict[tuple[Status, str], Status] = {
    (Status.SUBMITTED, "acknowledge"): Status.ACKNOWLEDGED,
    (Status.SUBMITTED, "return"): Status.RETURNED,
    (Status.ACKNOWLEDGED, "resolve"): Status.RESOLVED,
}


def next_status(current: Status, action: str) -> Status | None:
    """The status an action leads to, or None when the action no longer applies."""
    return TRANSITIONS.get((current, action))


# ---------------------------------------------------------------------------- numbering


def format_number(kind: KindSpec, year: int, seq: int) -> str:
    return f"{kind.number_prefix}〔{year}〕{seq}号"


_NUMBER_RE = re.compile(
    r"^\s*(?P<prefix>[^\d\s〔\[【（(]+?)\s*[〔\[【（(]?\s*(?P<year>\d{4})\s*[〕\]】）)]?\s*"
    r"(?:第\s*)?[-/]?\s*(?P<seq>\d{1,7})\s*号?\s*$"
)


def parse_number(text: str) -> tuple[str, int, int] | None:
    """Read a case number as people type it: 协调〔2026〕12号, 协调[2026]12, 协调2026-12 ..."""
    match = _NUMBER_RE.match(clean_text(unicodedata.normalize("NFKC", text), multiline=False))
    if not match:
        return None
    prefix = match["prefix"].strip()
    for kind in KINDS.values():
        if prefix == kind.number_prefix:
            return kind.code, int(match["year"]), int(match["seq"])
    return None


_ID_RE = re.compile(r"[0-9]{1,12}")


def parse_id(text: str) -> int | None:
    """A row id as buttons and deep links carry it: ASCII digits of a sane length, or None
    (no minus sign, no superscript or other Unicode digits, nothing too large for the
    database)."""
    return int(text) if _ID_RE.fullmatch(text) else None


# ---------------------------------------------------------------------------- validation

# Format characters (Unicode category Cf: zero-width spaces and joiners, bidirectional marks,
# overrides and isolates, soft hyphens, invisible operators...) are invisible and can make a
# title look like something else, or like nothing at all. They are kept out of stored text,
# except where they hold an emoji together: the joiner in 👨‍👩‍👧 and the tags of 🏴󠁧󠁢󠁳󠁣󠁴󠁿.
_ZWJ = "\u200d"
_BLACK_FLAG = "\U0001f3f4"
_LINE_BREAKS = "\n\r\u2028\u2029"


def _is_tag(ch: str) -> bool:
    return "\U000e0020" <= ch <= "\U000e007f"


def _emoji_part(ch: str) -> bool:
    """An emoji, a skin-tone modifier or the emoji presentation selector."""
    return ch == "\ufe0f" or unicodedata.category(ch) in ("So", "Sk")


def _keep_format_char(ch: str, before: str, after: str) -> bool:
    if ch == _ZWJ:
        return bool(before) and bool(after) and _emoji_part(before) and _emoji_part(after)
    if _is_tag(ch):
        return before == _BLACK_FLAG or _is_tag(before)
    return False


def clean_text(value: str, *, multiline: bool) -> str:
    """Drop control, format and private-use characters; one-line fields lose their line
    breaks."""
    value = value.replace("\r\n", "\n")
    out: list[str] = []
    for i, ch in enumerate(value):
        if ch in _LINE_BREAKS:
            out.append("\n" if multiline else " ")
            continue
        if ch == "\t":
            out.append(" ")
            continue
        category = unicodedata.category(ch)
        if category == "Cf":
            after = value[i + 1] if i + 1 < len(value) else ""
            if _keep_format_char(ch, out[-1] if out else "", after):
                out.append(ch)
            continue
        if category in ("Cc", "Cs", "Co"):
            continue
        out.append(ch)
    text = "".join(out)
    if multiline:
        lines = [line.rstrip() for line in text.split("\n")]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    else:
        text = re.sub(r" {2,}", " ", text)
    return text.strip()


def validate_text(spec: FieldSpec, raw: str) -> str:
    text = clean_text(raw, multiline=spec.type is FieldType.LONG_TEXT)
    if not text:
        raise InvalidInput("empty")
    if spec.max_length and len(text) > spec.max_length:
        raise InvalidInput("too_long", max=spec.max_length, length=len(text))
    return text


def validate_reason(raw: str, max_length: int = 500) -> str:
    text = clean_text(raw, multiline=True)
    if not text:
        raise InvalidInput("empty")
    if len(text) > max_length:
        raise InvalidInput("too_long", max=max_length, length=len(text))
    return text


MAX_DATE_AHEAD = timedelta(days=366)

_DATE_PATTERNS = (
    re.compile(r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?$"),
    re.compile(r"^(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?$"),
)


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


def validate_reply_date(value: date, today: date) -> date:
    if value < today:
        raise InvalidInput("date_in_past")
    if value - today > MAX_DATE_AHEAD:
        raise InvalidInput("date_too_far")
    return value


MAX_FILE_BYTES = 20 * 1024 * 1024


def validate_file(size: int | None, count_so_far: int, spec: FieldSpec) -> None:
    if count_so_far >= spec.max_files:
        raise InvalidInput("too_many_files", max=spec.max_files)
    if size is not None and size > MAX_FILE_BYTES:
        raise InvalidInput("file_too_large", max_mb=MAX_FILE_BYTES // (1024 * 1024))


@dataclass(slots=True)
class Completeness:
    missing: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing


def check_complete(kind: KindSpec, values: dict[str, Any]) -> Completeness:
    """Which required fields a draft still lacks (guards a submit after an edit or a restart)."""
    result = Completeness()
    for spec in kind.fields:
        if spec.required and values.get(spec.name) in (None, "", []):
            result.missing.append(spec.name)
    return result


def addressee_codes(committee: Committee) -> list[str]:
    """Where a matter may be sent: the coordination centers first, then the courts."""
    return [*committee.centers, *(o.code for o in committee.orgs_of_kind(OrgKind.COURT))]
