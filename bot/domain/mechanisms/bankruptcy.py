"""破产府院联动 — a court raises the issues of a bankruptcy case to several agencies.

The court names its case number, the debtor enterprise, the main kind of issue (unpaid wages,
tax, social insurance, registration and deregistration, land and property, credit repair) and
describes the issues agency by agency; the administrator's contact is personal and never posted
to the group. Each agency replies on its own within fifteen working days (the court may ask for
an earlier date). The matter closes once every agency has replied, or earlier when the court
closes it with a reason; while it is open the office can put it on a joint meeting's agenda
(the meeting form offers open matters).

The engine has no per-agency field, so the issues are one description every agency reads.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain.committee import OrgKind
from bot.domain.fields import CHOICE, DATE, LONG_TEXT, ORGANISATIONS, TEXT, FieldSpec
from bot.domain.kinds import Action, Closing, Deadline, Effect, KindSpec, Side, State
from bot.domain.mechanisms import common as c
from bot.domain.models import Role
from bot.i18n import N_

AGENCIES = c.AGENCY_KINDS

ISSUES = (
    ("wages", N_("Unpaid wages")),
    ("tax", N_("Tax")),
    ("social_insurance", N_("Social insurance")),
    ("registration", N_("Registration and deregistration")),
    ("land_property", N_("Land and property")),
    ("credit", N_("Credit repair")),
    ("other", N_("Other issues")),
)

OUTCOMES = (
    ("handled", N_("Issues handled")),
    ("partly", N_("Partly handled")),
    ("cannot", N_("Could not be handled")),
)

# ---------------------------------------------------------------------------- the form

DOCKET = FieldSpec(
    "docket",
    TEXT,
    N_("Court case number"),
    N_("Send the court's case number of the bankruptcy case, for example （2026）吉24破1号."),
    max_length=60,
)
DEBTOR = FieldSpec(
    "debtor",
    TEXT,
    N_("Debtor enterprise"),
    N_("Which enterprise is the debtor? Send its full registered name."),
    max_length=100,
)
ISSUE = FieldSpec(
    "issue",
    CHOICE,
    N_("Main issue"),
    N_("What is the main issue the agencies are asked to help with?"),
    choices=ISSUES,
)
DESCRIPTION = FieldSpec(
    "description",
    LONG_TEXT,
    N_("Issues for the agencies"),
    N_(
        "Describe the issues agency by agency: what each agency is asked to do (wages, tax,"
        " social insurance, registration, land and property, credit repair)."
    ),
    max_length=3000,
)
ADDRESSED = FieldSpec(
    "agencies",
    ORGANISATIONS,
    N_("Agencies asked"),
    N_("Which agencies are asked? Each one replies on its own. Toggle them, then press Done."),
    org_kinds=AGENCIES,
    groups=((N_("All departments and zones"), AGENCIES),),
)
ADMINISTRATOR = FieldSpec(
    "administrator",
    TEXT,
    N_("Administrator's contact"),
    N_("Who is the bankruptcy administrator's contact person, and their phone number?"),
    max_length=100,
    required=False,
    personal=True,
)
REPLY_BY = FieldSpec(
    "reply_by",
    DATE,
    N_("Reply requested by"),
    N_(
        "The agencies reply within 15 working days. If you need the replies sooner, pick a"
        " date; otherwise choose no specific date."
    ),
    required=False,
    quick_days=(3, 5, 10),
)

# ---------------------------------------------------------------------------- lifecycle

CLOSED_BY_COURT = State("closed_by_court", N_("Closed by the court"), open=False)

REPLY = c.agency_reply(
    OUTCOMES,
    N_("How do the issues stand for your agency?"),
    N_(
        "What has your agency done, and what is still open? If something cannot be"
        " handled, say why."
    ),
)
CLOSE = Action(
    "close",
    N_("🏁 Close the matter"),
    N_("Closed by the court"),
    Side.RAISER,
    frozenset({"submitted"}),
    "closed_by_court",
    inputs=(
        replace(
            c.REASON,
            suggestions=(
                N_("The bankruptcy proceedings have ended."),
                N_("The remaining issues are being handled otherwise."),
            ),
        ),
    ),
    effects=frozenset({Effect.CLOSE}),
    notify=frozenset({Side.ADDRESSEE, Side.OFFICE}),
    template="agency_request_closed",
    answer=N_("%(number)s is closed."),
)

KIND = KindSpec(
    code="bankruptcy",
    number_prefix="破产",
    label=N_("Bankruptcy coordination"),
    raised_by=c.COURT_STAFF,
    raiser_org_kinds=frozenset({OrgKind.COURT}),
    answered_by=frozenset({Role.DEPARTMENT_HEAD}),
    fields=(DOCKET, DEBTOR, ISSUE, DESCRIPTION, ADDRESSED, ADMINISTRATOR, REPLY_BY, c.DOCUMENTS),
    title_field="debtor",
    addressee_field="agencies",
    closing=Closing.ALL_ANSWERED,
    states=(c.AWAITING_REPLY, c.REPLIED, CLOSED_BY_COURT),
    actions=(REPLY, c.NOTE_BY_ADDRESSEE, c.ASSIGN, CLOSE),
    deadlines=(
        Deadline(
            "reply",
            frozenset({"submitted"}),
            N_("%(org)s should reply on the bankruptcy issues by %(due)s."),
            working_days=15,
            cap_field="reply_by",
        ),
    ),
    outcomes=OUTCOMES,
    notice_template="bankruptcy_notice",
)
