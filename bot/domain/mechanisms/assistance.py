"""执行联动 — a court asks one or several agencies for assistance with enforcement.

The court names the measure (a property inquiry, a registration freeze, restricting a
defaulter, locating a person), its own case number, the person or company concerned (personal:
never posted to the group) and what exactly it asks. Each agency addressed replies on its own —
done, partly, or cannot, with the details and any documents — within five working days (the
court may ask for an earlier date). The matter closes once every agency has replied, or when the
court withdraws it.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain.committee import GroupDetail, OrgKind
from bot.domain.fields import CHOICE, DATE, LONG_TEXT, ORGANISATIONS, TEXT, FieldSpec
from bot.domain.kinds import Closing, Deadline, KindSpec
from bot.domain.mechanisms import common as c
from bot.domain.models import Role
from bot.i18n import N_

AGENCIES = c.AGENCY_KINDS

MEASURES = (
    ("property_inquiry", N_("Property inquiry")),
    ("freeze", N_("Freezing a registration")),
    ("restriction", N_("Restricting a defaulter")),
    ("locate", N_("Locating a person")),
    ("other", N_("Other assistance")),
)

OUTCOMES = (
    ("done", N_("Assisted as asked")),
    ("partly", N_("Partly assisted")),
    ("cannot", N_("Could not assist")),
)

# ---------------------------------------------------------------------------- the form

MEASURE = FieldSpec(
    "measure",
    CHOICE,
    N_("Assistance requested"),
    N_("What kind of assistance does the court ask for?"),
    choices=MEASURES,
)
DOCKET = FieldSpec(
    "docket",
    TEXT,
    N_("Court case number"),
    N_("Send the court's case number, for example （2026）吉24执12号."),
    max_length=60,
)
PARTY = FieldSpec(
    "party",
    TEXT,
    N_("Person or company concerned"),
    N_("Who is the person or company concerned (name, and an ID or credit code if needed)?"),
    max_length=100,
    personal=True,
)
REQUEST = FieldSpec(
    "request",
    LONG_TEXT,
    N_("What is asked"),
    N_("Say exactly what the agencies are asked to do or to look up."),
    max_length=2000,
)
ADDRESSED = FieldSpec(
    "agencies",
    ORGANISATIONS,
    N_("Agencies asked"),
    N_("Which agencies are asked? Each one replies on its own. Toggle them, then press Done."),
    org_kinds=AGENCIES,
)
REPLY_BY = FieldSpec(
    "reply_by",
    DATE,
    N_("Reply requested by"),
    N_(
        "The agencies reply within 5 working days. If you need the replies sooner, pick a date;"
        " otherwise choose no specific date."
    ),
    required=False,
    quick_days=(1, 2, 3),
)

# ---------------------------------------------------------------------------- lifecycle


REPLY = c.agency_reply(
    OUTCOMES,
    N_("What came of the request?"),
    N_("What did you find or do? If not everything could be done, say why."),
)
WITHDRAW = replace(
    c.WITHDRAW,
    from_states=frozenset({"submitted"}),
    template="agency_request_closed",
)

KIND = KindSpec(
    code="assistance",
    number_prefix="协助",
    label=N_("Enforcement assistance"),
    raised_by=c.COURT_STAFF,
    raiser_org_kinds=frozenset({OrgKind.COURT}),
    answered_by=frozenset({Role.DEPARTMENT_HEAD}),
    fields=(MEASURE, DOCKET, PARTY, REQUEST, ADDRESSED, REPLY_BY, c.DOCUMENTS),
    title_field="docket",
    addressee_field="agencies",
    closing=Closing.ALL_ANSWERED,
    states=(c.AWAITING_REPLY, c.REPLIED, c.WITHDRAWN),
    actions=(REPLY, c.NOTE_BY_ADDRESSEE, c.ASSIGN, WITHDRAW),
    deadlines=(
        Deadline(
            "reply",
            frozenset({"submitted"}),
            N_("%(org)s should reply to the assistance request by %(due)s."),
            working_days=5,
            cap_field="reply_by",
        ),
    ),
    outcomes=OUTCOMES,
    # Enforcement is sensitive: the group sees the number, the court and the agencies only.
    group_detail=GroupDetail.SUMMARY,
    notice_template="assistance_notice",
)
