"""出庭应诉 — agency heads appearing in court.

A court registers an upcoming administrative hearing in which an agency (a department or a
zone) is the defendant. The agency names who will appear for it — its head, or a deputy with
the reason the head cannot — within three working days and no later than two working days
before the hearing; it is reminded three days and one day before. Once the hearing has
begun (not before) the court records who appeared, asked to in its morning summary; kept per
agency (``assignments.outcome``) for the evaluation figures (行政机关负责人出庭应诉率). A
naming deadline still open then is moot and no longer pressed.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain.committee import GroupDetail, OrgKind
from bot.domain.fields import CHOICE, DATETIME, LONG_TEXT, ORGANISATION, TEXT, FieldSpec
from bot.domain.kinds import Action, Deadline, KindSpec, Reminder, Side, State
from bot.domain.mechanisms import common as c
from bot.domain.models import Role
from bot.i18n import N_

# Who appeared, as the court records it after the hearing (the evaluation counts "head").
OUTCOMES = (
    ("head", N_("The head appeared")),
    ("deputy", N_("A deputy appeared")),
    ("none", N_("No official appeared")),
)

# ---------------------------------------------------------------------------- the raise form

DOCKET = FieldSpec(
    "docket",
    TEXT,
    N_("Court case number"),
    N_("Send the court's case number, like （2026）吉24行初12号."),
    max_length=60,  # as every court-side kind's case number
)
CAUSE = FieldSpec(
    "title",
    TEXT,
    N_("Cause of action"),
    N_("Send the cause of action in one line, like 林业行政处罚."),
    max_length=100,
)
AGENCY = FieldSpec(
    "agency",
    ORGANISATION,
    N_("Defendant agency"),
    N_("Which agency is the defendant?"),
    org_kinds=c.AGENCY_KINDS,
)
COURTROOM = FieldSpec(
    "courtroom",
    TEXT,
    N_("Courtroom"),
    N_("In which courtroom of your court is the hearing (like 第三审判庭)?"),
    max_length=60,
)
HEARING = FieldSpec(
    "hearing",
    DATETIME,
    N_("Hearing"),
    N_("On which day is the hearing? Pick a date, or type one like 2026-12-09; then the time."),
)

# ---------------------------------------------------------------------------- action inputs

APPEARING = FieldSpec(
    "appearing",
    CHOICE,
    N_("Who appears"),
    N_("Who will appear in court for the agency?"),
    choices=(
        ("head", N_("The head of the agency")),
        ("deputy", N_("A deputy (the head cannot appear)")),
    ),
)
OFFICIAL = FieldSpec(
    "official",
    TEXT,
    N_("Appearing official"),
    N_("The name of the official who will appear?"),
    max_length=40,
)
POST = FieldSpec(
    "post",
    TEXT,
    N_("Post"),
    N_("Their post, like 局长 or 副局长?"),
    max_length=40,
)
# Named "reason": kept as the addressee's note too.
DEPUTY_REASON = FieldSpec(
    "reason",
    LONG_TEXT,
    N_("Why the head cannot appear"),
    N_("Why can the head not appear in person? (at most 500 characters)"),
    max_length=500,
    when=("appearing", ("deputy",)),
)
APPEARANCE = FieldSpec(
    "outcome",
    CHOICE,
    N_("Appearance in court"),
    N_("Who appeared in court for the agency?"),
    choices=OUTCOMES,
)
NOBODY_REASON = FieldSpec(
    "reason",
    LONG_TEXT,
    N_("Why no official appeared"),
    N_("Why did no official of the agency appear? (at most 500 characters)"),
    max_length=500,
    when=("outcome", ("none",)),
)
NAMING = (APPEARING, OFFICIAL, POST, DEPUTY_REASON)

# ---------------------------------------------------------------------------- lifecycle

AWAITING = State("submitted", N_("Waiting for the official to be named"))
NAMED = State("named", N_("Official named"))
HEARD = State("heard", N_("Appearance recorded"), open=False)

NAME_OFFICIAL = Action(
    "name_official",
    N_("🧑‍⚖️ Name who appears"),
    N_("Official named"),
    Side.ADDRESSEE,
    frozenset({"submitted"}),
    "named",
    inputs=NAMING,
    template="hearing_named",
    receipt_template="hearing_named_receipt",
    primary=True,
)
CHANGE_OFFICIAL = Action(
    "change_official",
    N_("🔁 Change who appears"),
    N_("Official changed"),
    Side.ADDRESSEE,
    frozenset({"named"}),
    inputs=NAMING,
    template="hearing_named",
    receipt_template="hearing_named_receipt",
)
RECORD_APPEARANCE = Action(
    "record_hearing",
    N_("🏛 Record the appearance"),
    N_("Appearance recorded"),
    Side.RAISER,
    frozenset({"submitted", "named"}),
    "heard",
    inputs=(APPEARANCE, NOBODY_REASON),
    notify=frozenset({Side.ADDRESSEE}),
    primary=True,
    after_field="hearing",
    early=N_("The appearance can be recorded once the hearing has begun (%(moment)s)."),
    ask=N_("The hearing was on %(moment)s: please record who appeared for %(org)s."),
)

KIND = KindSpec(
    code="hearing",
    number_prefix="应诉",
    label=N_("Agency head in court"),
    raised_by=frozenset({Role.COURT_STAFF}),
    raiser_org_kinds=frozenset({OrgKind.COURT}),
    answered_by=frozenset({Role.DEPARTMENT_HEAD}),
    fields=(DOCKET, CAUSE, AGENCY, COURTROOM, HEARING, c.DOCUMENTS),
    addressee_field="agency",
    states=(AWAITING, NAMED, HEARD, c.WITHDRAWN),
    actions=(
        NAME_OFFICIAL,
        RECORD_APPEARANCE,
        CHANGE_OFFICIAL,
        c.NOTE_BY_ADDRESSEE,
        c.NOTE_BY_RAISER,
        c.WITHDRAW,
        replace(c.REOPEN, from_states=frozenset({"heard", "withdrawn"})),
    ),
    deadlines=(
        Deadline(
            "name",
            frozenset({"submitted"}),
            N_("%(org)s should name who appears in court by %(due)s."),
            working_days=3,
            before_field="hearing",
            before_working_days=2,
            until_field="hearing",
        ),
    ),
    reminders=(
        Reminder(
            "hearing",
            (3, 1),
            frozenset({"submitted", "named"}),
            N_(
                "The hearing is on %(moment)s. The head of %(org)s, or a deputy named in their "
                "place, should appear in court."
            ),
        ),
    ),
    outcomes=OUTCOMES,
    group_detail=GroupDetail.SUMMARY,
    notice_template="hearing_notice",
)
