"""裁执分离 — a court hands a non-litigation enforcement ruling to the agency that organises
the enforcement.

The court sends its ruling allowing enforcement (准予强制执行裁定) with the party subject to
it (personal: never posted to the group) and what is to be enforced. The agency confirms
receipt within three working days and reports the result of enforcement within thirty working
days of the hand-over (``[deadlines.handover] receipt_working_days`` and
``result_working_days`` in the committee file); the court accepts the report and closes the
matter, or asks again with a reason, which gives the agency a fresh deadline. The result is
kept per agency (``assignments.outcome``).
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain.committee import GroupDetail, OrgKind
from bot.domain.fields import CHOICE, FILES, LONG_TEXT, ORGANISATION, TEXT, FieldSpec
from bot.domain.kinds import Action, Deadline, Effect, KindSpec, Side, State
from bot.domain.mechanisms import common as c
from bot.domain.models import Role
from bot.i18n import N_

OUTCOMES = (
    ("completed", N_("Enforced in full")),
    ("partly", N_("Partly enforced")),
    ("not_enforced", N_("Could not be enforced")),
)

# ---------------------------------------------------------------------------- the raise form

RULING_NUMBER = FieldSpec(
    "ruling_number",
    TEXT,
    N_("Ruling number"),
    N_("Send the number of the ruling allowing enforcement, like （2026）吉24行审12号."),
    max_length=40,
)
WHAT = FieldSpec(
    "title",
    TEXT,
    N_("To be enforced"),
    N_(
        "What is to be enforced, in one line (like 限期拆除违法建筑)? The committee group "
        "sees this line: leave the party's name out."
    ),
    max_length=100,
)
PARTY = FieldSpec(
    "party",
    TEXT,
    N_("Party subject to enforcement"),
    N_(
        "Who is subject to enforcement (the person or company)? Only the court, the agency and "
        "the office see this."
    ),
    max_length=100,
    personal=True,
)
AGENCY = FieldSpec(
    "agency",
    ORGANISATION,
    N_("Enforcing agency"),
    N_("Which agency organises the enforcement?"),
    org_kinds=c.AGENCY_KINDS,
)
RULING = FieldSpec(
    "ruling",
    FILES,
    N_("Ruling document"),
    N_("Send the ruling (准予强制执行裁定书) as a document or photo, then press Done."),
)

# ---------------------------------------------------------------------------- action inputs

RESULT = FieldSpec(
    "outcome",
    CHOICE,
    N_("Result of enforcement"),
    N_("What came of the enforcement?"),
    choices=OUTCOMES,
)
WHAT_WAS_DONE = FieldSpec(
    "note",
    LONG_TEXT,
    N_("What was done"),
    N_("Say what was done and, if not everything, why (at most 2000 characters)."),
    max_length=2000,
)
EVIDENCE = FieldSpec(
    "files",
    FILES,
    N_("Evidence"),
    N_("Send photos or documents as evidence (up to 10, 20 MB each), then press Done."),
    required=False,
)
AGAIN_REASON = FieldSpec(
    "reason",
    LONG_TEXT,
    N_("Reason"),
    N_("What is still to be done, and why is the report not accepted? (at most 500 characters)"),
    max_length=500,
)

# ---------------------------------------------------------------------------- lifecycle

AWAITING_RECEIPT = State("submitted", N_("Waiting for receipt"))
RECEIVED = State("received", N_("Received; enforcement under way"))
REPORTED = State("reported", N_("Result reported; waiting for the court"))

CONFIRM_RECEIPT = Action(
    "confirm_receipt",
    N_("📥 Confirm receipt"),
    N_("Receipt confirmed"),
    Side.ADDRESSEE,
    frozenset({"submitted"}),
    "received",
    receipt_template="handover_received",
    answer=N_("Receipt of %(number)s confirmed."),
    primary=True,
)
REPORT_RESULT = Action(
    "report_result",
    N_("📤 Report the result"),
    N_("Result reported"),
    Side.ADDRESSEE,
    frozenset({"received"}),
    "reported",
    inputs=(RESULT, WHAT_WAS_DONE, EVIDENCE),
    primary=True,
)
CLOSE = Action(
    "close",
    N_("✅ Accept and close"),
    N_("Accepted and closed"),
    Side.RAISER,
    frozenset({"reported"}),
    "resolved",
    notify=frozenset({Side.ADDRESSEE}),
    answer=N_("%(number)s closed."),
    primary=True,
)
ASK_AGAIN = Action(
    "ask_again",
    N_("🔁 Ask again"),
    N_("Asked to report again"),
    Side.RAISER,
    frozenset({"reported"}),
    "received",
    inputs=(AGAIN_REASON,),
    effects=frozenset({Effect.RESTART}),
    notify=frozenset({Side.ADDRESSEE}),
    template="handover_again",
    primary=True,
)

KIND = KindSpec(
    code="handover",
    number_prefix="裁执",
    label=N_("Enforcement hand-over"),
    raised_by=frozenset({Role.COURT_STAFF}),
    raiser_org_kinds=frozenset({OrgKind.COURT}),
    answered_by=frozenset({Role.DEPARTMENT_HEAD}),
    fields=(RULING_NUMBER, WHAT, PARTY, AGENCY, RULING),
    addressee_field="agency",
    states=(AWAITING_RECEIPT, RECEIVED, REPORTED, c.RESOLVED, c.WITHDRAWN),
    actions=(
        CONFIRM_RECEIPT,
        REPORT_RESULT,
        CLOSE,
        ASK_AGAIN,
        c.NOTE_BY_ADDRESSEE,
        c.NOTE_BY_RAISER,
        replace(c.REQUEST_INFO, from_states=frozenset({"received"})),
        c.PROVIDE_INFO,
        c.WITHDRAW,
        replace(c.REOPEN, from_states=frozenset({"resolved", "withdrawn"})),
    ),
    deadlines=(
        Deadline(
            "receipt",
            frozenset({"submitted"}),
            N_("%(org)s should confirm receipt by %(due)s."),
            working_days=3,
        ),
        Deadline(
            "result",
            frozenset({"received"}),
            N_("%(org)s should report the result of enforcement by %(due)s."),
            working_days=30,
        ),
    ),
    outcomes=OUTCOMES,
    group_detail=GroupDetail.SUMMARY,
    notice_template="handover_notice",
)
