"""Business rules in one place: roles, who may raise and see a matter, numbering, ids.

Plain functions over plain records, unit-tested on their own; the services call them inside
their transactions and handlers never re-implement them. What an action needs is in
``bot.domain.lifecycle``; how an answer is checked is in ``bot.domain.fields``.
"""

from __future__ import annotations

import re
import unicodedata

from bot.domain.committee import Committee, OrgKind
from bot.domain.kinds import KindRegistry, KindSpec
from bot.domain.models import Assignment, Case, Member, Role
from bot.domain.text import clean_text

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


def can_raise(member: Member | None, kind: KindSpec, committee: Committee | None = None) -> bool:
    """The member's role raises this kind (and, where the kind says so, the kind of their
    organisation: a court for a court-side mechanism)."""
    if member is None or not member.active or member.role not in kind.raised_by:
        return False
    if committee is not None and kind.code in committee.raisers:
        return member.org_code in committee.raisers[kind.code]
    if kind.raiser_org_kinds and committee is not None:
        org = committee.organisations.get(member.org_code)
        return org is not None and org.kind in kind.raiser_org_kinds
    return True


def raisable_kinds(
    member: Member | None, kinds: KindRegistry, committee: Committee | None = None
) -> list[KindSpec]:
    return [k for k in kinds if can_raise(member, k, committee)]


def can_view(member: Member | None, case: Case, committee: Committee) -> bool:
    """The raising organisation, every organisation answering for an addressee, the office
    and observers."""
    if member is None or not member.active:
        return False
    if member.role in (Role.OFFICE, Role.OBSERVER):
        return True
    if member.org_code == case.raiser_org:
        return True
    return any(member.org_code in committee.orgs_answering(code) for code in case.addressees)


def addressees_seen(
    member: Member | None, case: Case, committee: Committee, kind: KindSpec
) -> tuple[Assignment, ...]:
    """The addressees of a matter whose state and answers a member may see: all of them for
    the raising organisation, the office and observers; with several addressees, an
    addressee's member sees only its own (one agency does not read another's reply)."""
    if (
        not kind.several_addressees
        or member is None
        or member.role in (Role.OFFICE, Role.OBSERVER)
        or member.org_code == case.raiser_org
    ):
        return case.assignments
    return tuple(
        a for a in case.assignments if member.org_code in committee.orgs_answering(a.addressee)
    )


# ---------------------------------------------------------------------------- numbering


def format_number(kind: KindSpec, year: int, seq: int) -> str:
    return f"{kind.number_prefix}〔{year}〕{seq}号"


_NUMBER_RE = re.compile(
    r"^\s*(?P<prefix>[^\d\s〔\[【（(]+?)\s*[〔\[【（(]?\s*(?P<year>\d{4})\s*[〕\]】）)]?\s*"
    r"(?:第\s*)?[-/]?\s*(?P<seq>\d{1,7})\s*号?\s*$"
)


def parse_number(text: str, kinds: KindRegistry) -> tuple[str, int, int] | None:
    """Read a number as people type it: 协调〔2026〕12号, 协调[2026]12, 协调2026-12 ..."""
    match = _NUMBER_RE.match(clean_text(unicodedata.normalize("NFKC", text), multiline=False))
    if not match:
        return None
    kind = kinds.by_prefix(match["prefix"].strip())
    if kind is None:
        return None
    return kind.code, int(match["year"]), int(match["seq"])


_ID_RE = re.compile(r"[0-9]{1,12}")


def parse_id(text: str) -> int | None:
    """A row id as buttons and deep links carry it: ASCII digits of a sane length, or None
    (no minus sign, no superscript or other Unicode digits, nothing too large for the
    database)."""
    return int(text) if _ID_RE.fullmatch(text) else None


def addressee_codes(committee: Committee) -> list[str]:
    """Where a matter may be sent: the coordination centers first, then the courts."""
    return [*committee.centers, *(o.code for o in committee.orgs_of_kind(OrgKind.COURT))]
