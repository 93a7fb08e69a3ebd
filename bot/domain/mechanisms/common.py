"""Fields, states, actions and deadlines that several mechanisms share.

A mechanism takes what it needs from here and declares the rest itself; nothing here is
special to the engine, these are ordinary declarations.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain.committee import OrgKind
from bot.domain.fields import (
    ADDRESSEE,
    CHOICE,
    DATE,
    FILES,
    LONG_TEXT,
    MEMBER,
    ORGANISATION,
    TEXT,
    FieldSpec,
)
from bot.domain.kinds import Action, Deadline, Effect, Side, State
from bot.domain.models import Role
from bot.i18n import N_

# ---------------------------------------------------------------------------- fields

URGENCY_CHOICES: tuple[tuple[str, str], ...] = (
    ("normal", N_("Normal")),
    ("urgent", N_("Urgent")),
    ("critical", N_("Very urgent")),
)

TITLE = FieldSpec(
    "title",
    TEXT,
    N_("Title"),
    N_("Send the title of the matter in one line."),
    max_length=100,
)
DESCRIPTION = FieldSpec(
    "description",
    LONG_TEXT,
    N_("Description"),
    N_("Describe the matter: the facts, what has been done so far, and what you ask for."),
    max_length=2000,
)
COURT_OR_CENTER = FieldSpec(
    "addressee",
    ADDRESSEE,
    N_("Addressed to"),
    N_("Which coordination center or court should handle it?"),
    org_kinds=(OrgKind.COURT,),
)
# A consultation asks a court for its legal view: a coordination center settles disputes
# and gives no opinions, so it is neither offered nor accepted.
COURT_ONLY = FieldSpec(
    "addressee",
    ORGANISATION,
    N_("Addressed to"),
    N_("Which court should give its view?"),
    org_kinds=(OrgKind.COURT,),
)
URGENCY = FieldSpec(
    "urgency",
    CHOICE,
    N_("Urgency"),
    N_("How urgent is it?"),
    choices=URGENCY_CHOICES,
)
REPLY_BY = FieldSpec(
    "reply_by",
    DATE,
    N_("Reply requested by"),
    N_("By when do you need a reply? Pick a date, or type one like 2026-12-31."),
    required=False,
)
DOCUMENTS = FieldSpec(
    "documents",
    FILES,
    N_("Documents"),
    N_("Send any documents or photos (up to 10, 20 MB each), then press Done."),
    required=False,
)
APPLICANT = FieldSpec(
    "applicant",
    TEXT,
    N_("Applicant"),
    N_("Who is the applicant (the person or company in the dispute)?"),
    max_length=100,
    personal=True,
)
# The agency whose act is disputed: a department or a zone, never the linkage office (it
# takes no administrative acts). Often the raising agency itself, so it comes first.
RESPONDENT = FieldSpec(
    "respondent",
    ORGANISATION,
    N_("Respondent agency"),
    N_("Which agency is the respondent?"),
    org_kinds=(OrgKind.DEPARTMENT, OrgKind.ZONE),
    own_first=True,
)

# Inputs that actions ask for.
REASON = FieldSpec(
    "reason",
    LONG_TEXT,
    N_("Reason"),
    N_("Send the reason in one message (at most 500 characters), or press Cancel."),
    max_length=500,
)
# The usual reasons a court returns a matter, as quick buttons (the committee file may give
# its own list); any other reason is typed.
RETURN_REASONS = (
    N_("Documents incomplete"),
    N_("Not within this court's jurisdiction"),
    N_("Facts unclear"),
    N_("Apply for administrative reconsideration first"),
)
RETURN_REASON = replace(
    REASON,
    prompt=N_("Choose a common reason, or send your own in one message (at most 500 characters)."),
    suggestions=RETURN_REASONS,
    suggestions_from="return_reasons",
)
NOTE = FieldSpec(
    "note",
    LONG_TEXT,
    N_("Note"),
    N_("Send the note in one message (at most 2000 characters)."),
    max_length=2000,
)
QUESTION = FieldSpec(
    "question",
    LONG_TEXT,
    N_("What is needed"),
    N_("Say what more you need from the raising organisation (at most 1000 characters)."),
    max_length=1000,
)
ANSWER = FieldSpec(
    "answer",
    LONG_TEXT,
    N_("Answer"),
    N_("Send your answer in one message (at most 2000 characters)."),
    max_length=2000,
)
ATTACHMENTS = FieldSpec(
    "files",
    FILES,
    N_("Documents"),
    N_("Send any documents or photos (up to 10, 20 MB each), then press Done."),
    required=False,
)
HANDLER = FieldSpec(
    "handler",
    MEMBER,
    N_("Handler"),
    N_("Who in your organisation handles it?"),
)

RAISERS = frozenset({Role.DEPARTMENT_HEAD, Role.OFFICE})
COURT_STAFF = frozenset({Role.COURT_STAFF})

# ---------------------------------------------------------------------------- states

SUBMITTED = State("submitted", N_("Awaiting acknowledgement"))
ACKNOWLEDGED = State("acknowledged", N_("Acknowledged"))
RETURNED = State("returned", N_("Returned"), open=False)
RESOLVED = State("resolved", N_("Concluded"), open=False)
WITHDRAWN = State("withdrawn", N_("Withdrawn"), open=False)

# ---------------------------------------------------------------------------- actions

ACKNOWLEDGE = Action(
    "acknowledge",
    N_("✅ Acknowledge"),
    N_("Acknowledged"),
    Side.ADDRESSEE,
    frozenset({"submitted"}),
    "acknowledged",
    template="answered_raiser",
    receipt_template="answered_court",
    answer=N_("Acknowledged %(number)s."),
    primary=True,
)
RETURN = Action(
    "return",
    N_("↩️ Return"),
    N_("Returned"),
    Side.ADDRESSEE,
    frozenset({"submitted"}),
    "returned",
    inputs=(RETURN_REASON,),
    template="answered_raiser",
    prompt_template="return_reason",
    receipt_template="answered_court",
    cancelled_template="return_cancelled",
    primary=True,
)
RESOLVE = Action(
    "resolve",
    N_("🏁 Record outcome"),
    N_("Outcome recorded"),
    Side.ADDRESSEE,
    frozenset({"acknowledged"}),
    "resolved",
    template="answered_raiser",
    prompt_template="choose_outcome",
    receipt_template="answered_court",
    answer=N_("Outcome recorded."),
    primary=True,
)
NOTE_BY_ADDRESSEE = Action(
    "note",
    N_("📝 Add a note"),
    N_("Note added"),
    Side.ADDRESSEE,
    inputs=(NOTE, ATTACHMENTS),
    notify=frozenset({Side.RAISER}),
)
NOTE_BY_RAISER = Action(
    "raiser_note",
    N_("📝 Add a note"),
    N_("Note added"),
    Side.RAISER,
    inputs=(NOTE, ATTACHMENTS),
    notify=frozenset({Side.ADDRESSEE}),
)
REQUEST_INFO = Action(
    "request_info",
    N_("❓ Ask for more"),
    N_("More information requested"),
    Side.ADDRESSEE,
    inputs=(QUESTION,),
    effects=frozenset({Effect.PAUSE}),
    while_paused=False,
)
PROVIDE_INFO = Action(
    "provide_info",
    N_("📨 Answer the request"),
    N_("Information provided"),
    Side.RAISER,
    inputs=(ANSWER, ATTACHMENTS),
    effects=frozenset({Effect.RESUME}),
    notify=frozenset({Side.ADDRESSEE}),
    while_paused=True,
    primary=True,
)
ASSIGN = Action(
    "assign",
    N_("👤 Assign a handler"),
    N_("Handler assigned"),
    Side.ADDRESSEE,
    inputs=(HANDLER,),
    effects=frozenset({Effect.ASSIGN}),
    notify=frozenset(),
)
WITHDRAW = Action(
    "withdraw",
    N_("✖ Withdraw"),
    N_("Withdrawn"),
    Side.RAISER,
    to_state="withdrawn",
    inputs=(REASON,),
    effects=frozenset({Effect.CLOSE}),
    notify=frozenset({Side.ADDRESSEE}),
)
REOPEN = Action(
    "reopen",
    N_("🔄 Reopen"),
    N_("Reopened"),
    Side.OFFICE,
    frozenset({"returned", "resolved", "withdrawn"}),
    inputs=(REASON,),
    effects=frozenset({Effect.REOPEN}),
    notify=frozenset({Side.RAISER, Side.ADDRESSEE}),
)
RESUBMIT = Action(
    "resubmit",
    N_("✏ Edit and resubmit"),
    N_("Resubmitted"),
    Side.RAISER,
    frozenset({"returned"}),
    "submitted",
    effects=frozenset({Effect.EDIT, Effect.RESTART}),
    notify=frozenset(),  # the addressees get the matter as a new notice, with its buttons
    primary=True,
)

# Carried to its outcome: what every mechanism answered by one addressee offers besides its
# own steps.
FOLLOW_UP = (
    NOTE_BY_ADDRESSEE,
    NOTE_BY_RAISER,
    REQUEST_INFO,
    PROVIDE_INFO,
    ASSIGN,
    WITHDRAW,
    REOPEN,
    RESUBMIT,
)

# ---------------------------------------------------------------------------- deadlines


def ack_and_reply(ack_days: int, reply_days: int) -> tuple[Deadline, ...]:
    """Acknowledge within N working days; record an outcome within M working days of the
    day raised (a reply date the raiser asked for wins where it is earlier)."""
    return (
        Deadline(
            "ack",
            frozenset({"submitted"}),
            N_("%(org)s should acknowledge or return it by %(due)s."),
            working_days=ack_days,
        ),
        Deadline(
            "reply",
            frozenset({"acknowledged"}),
            N_("%(org)s should record its outcome by %(due)s."),
            working_days=reply_days,
            cap_field="reply_by",
        ),
    )


def outcome_field(outcomes: tuple[tuple[str, str], ...]) -> FieldSpec:
    """The outcome choice a mechanism's outcome action asks for."""
    return FieldSpec(
        "outcome",
        CHOICE,
        N_("Outcome"),
        N_("Record the outcome:"),
        choices=outcomes,
    )


# ---------------------------------------------------------------------------- requests to agencies

AGENCY_KINDS = (OrgKind.DEPARTMENT, OrgKind.ZONE)
AWAITING_REPLY = State("submitted", N_("Awaiting reply"))
REPLIED = State("replied", N_("Replied"), open=False)


def agency_reply(
    outcomes: tuple[tuple[str, str], ...], result_prompt: str, details_prompt: str
) -> Action:
    """An agency's reply to a court's request to several agencies: a result, the details
    (named "reason" so that they are also kept as the agency's note), documents."""
    return Action(
        "reply",
        N_("📮 Reply"),
        N_("Replied"),
        Side.ADDRESSEE,
        frozenset({"submitted"}),
        "replied",
        inputs=(
            FieldSpec("outcome", CHOICE, N_("Result"), result_prompt, choices=outcomes),
            FieldSpec("reason", LONG_TEXT, N_("Details"), details_prompt, max_length=2000),
            ATTACHMENTS,
        ),
        template="agency_replied",
        answer=N_("Reply recorded for %(number)s."),
        primary=True,
    )
