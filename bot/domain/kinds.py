"""The kinds of tracked matter, declared as data.

A kind lists its fields (in the order the raise conversation asks them), who may raise it,
who answers it, its deadlines and its outcomes. The raise conversation, the summary, the
notifications and /case are driven by these declarations, so a further linkage mechanism is a
new ``KindSpec``, not new conversation code. Labels are message ids translated at display time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.domain.committee import OrgKind
from bot.domain.models import Role
from bot.i18n import N_


class FieldType(StrEnum):
    TEXT = "text"  # one line
    LONG_TEXT = "long_text"  # several lines
    ADDRESSEE = "addressee"  # a coordination center or a court
    ORGANISATION = "organisation"  # an organisation of the given kinds
    CHOICE = "choice"  # one of fixed choices
    DATE = "date"  # a calendar date, not in the past
    FILES = "files"  # documents and photos


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: FieldType
    label: str
    prompt: str
    required: bool = True
    max_length: int = 0
    choices: tuple[tuple[str, str], ...] = ()  # (value, label msgid)
    org_kinds: tuple[OrgKind, ...] = ()
    personal: bool = False  # personal data: never posted to the group
    max_files: int = 10


@dataclass(frozen=True, slots=True)
class KindSpec:
    code: str
    number_prefix: str  # as in 协调〔2026〕12号
    label: str
    raiser_roles: frozenset[Role]
    answerer_roles: frozenset[Role]
    fields: tuple[FieldSpec, ...]
    ack_working_days: int = 3
    reply_working_days: int = 15
    outcomes: tuple[tuple[str, str], ...] = ()

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)


URGENCY_CHOICES: tuple[tuple[str, str], ...] = (
    ("normal", N_("Normal")),
    ("urgent", N_("Urgent")),
    ("critical", N_("Very urgent")),
)

TITLE = FieldSpec(
    "title",
    FieldType.TEXT,
    N_("Title"),
    N_("Send the title of the matter in one line."),
    max_length=100,
)
DESCRIPTION = FieldSpec(
    "description",
    FieldType.LONG_TEXT,
    N_("Description"),
    N_("Describe the matter: the facts, what has been done so far, and what you ask for."),
    max_length=2000,
)
ADDRESSEE = FieldSpec(
    "addressee",
    FieldType.ADDRESSEE,
    N_("Addressed to"),
    N_("Which coordination center or court should handle it?"),
)
URGENCY = FieldSpec(
    "urgency",
    FieldType.CHOICE,
    N_("Urgency"),
    N_("How urgent is it?"),
    choices=URGENCY_CHOICES,
)
REPLY_BY = FieldSpec(
    "reply_by",
    FieldType.DATE,
    N_("Reply requested by"),
    N_("By when do you need a reply? Pick a date, or type one like 2026-12-31."),
    required=False,
)
DOCUMENTS = FieldSpec(
    "documents",
    FieldType.FILES,
    N_("Documents"),
    N_("Send any documents or photos (up to 10, 20 MB each), then press Done."),
    required=False,
)
APPLICANT = FieldSpec(
    "applicant",
    FieldType.TEXT,
    N_("Applicant"),
    N_("Who is the applicant (the person or company in the dispute)?"),
    max_length=100,
    personal=True,
)
RESPONDENT = FieldSpec(
    "respondent",
    FieldType.ORGANISATION,
    N_("Respondent agency"),
    N_("Which agency is the respondent?"),
    org_kinds=(OrgKind.DEPARTMENT, OrgKind.ZONE, OrgKind.OFFICE),
)

RAISERS = frozenset({Role.DEPARTMENT_HEAD, Role.OFFICE})
ANSWERERS = frozenset({Role.COURT_STAFF})

CONSULTATION = KindSpec(
    code="consultation",
    number_prefix="研判",
    label=N_("Major-matter consultation"),
    raiser_roles=RAISERS,
    answerer_roles=ANSWERERS,
    fields=(TITLE, DESCRIPTION, ADDRESSEE, URGENCY, REPLY_BY, DOCUMENTS),
    ack_working_days=3,
    reply_working_days=10,
    outcomes=(("opinion_given", N_("Legal opinion given")), ("withdrawn", N_("Withdrawn"))),
)

REFERRAL = KindSpec(
    code="referral",
    number_prefix="协调",
    label=N_("Administrative dispute referral"),
    raiser_roles=RAISERS,
    answerer_roles=ANSWERERS,
    fields=(TITLE, DESCRIPTION, APPLICANT, RESPONDENT, ADDRESSEE, URGENCY, REPLY_BY, DOCUMENTS),
    ack_working_days=3,
    reply_working_days=30,
    outcomes=(
        ("resolved", N_("Resolved by agreement")),
        ("withdrawn", N_("Application withdrawn")),
        ("unresolved", N_("Not resolved; left to litigation")),
    ),
)

KINDS: dict[str, KindSpec] = {k.code: k for k in (CONSULTATION, REFERRAL)}
