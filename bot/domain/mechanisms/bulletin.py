"""司法审查定期通报 — a court publishes a judicial-review bulletin to the agencies.

Court staff publish a bulletin for a period (title, period, summary, the document) to the
departments and zones it concerns; each agency is one addressee and confirms it has read it
(已阅), from the committee group's post or from its own notice. An agency that has not read it
is reminded. A bulletin may ask for something to be rectified by a date; an agency answers in
writing (text and documents) and the court is told.

When it closes: the court closes it (``Closing.RAISER_CLOSES``), not the last 已阅. The engine
cannot make the closing rule depend on whether a rectification was asked, and with
``ALL_ANSWERED`` the last agency to read a bulletin would close it, and every written answer
still to come (due weeks later, at the rectification date) could no longer be given. So the
court closes the bulletin once it has the read receipts and the answers it asked for; its read
receipts tell it how many agencies have read it so far and show the close button.
"""

from __future__ import annotations

from bot.domain.committee import OrgKind
from bot.domain.fields import DATE, FILES, LONG_TEXT, ORGANISATIONS, TEXT, FieldSpec
from bot.domain.kinds import Action, Closing, Deadline, Effect, KindSpec, Side, State
from bot.domain.mechanisms import common as c
from bot.domain.models import Role
from bot.i18n import N_

# ---------------------------------------------------------------------------- fields

TITLE = FieldSpec(
    "title",
    TEXT,
    N_("Title"),
    N_("Send the title of the bulletin in one line."),
    max_length=100,
)
PERIOD = FieldSpec(
    "period",
    TEXT,
    N_("Period"),
    N_("Which period does the bulletin cover? For example: Q3 2026."),
    max_length=40,
)
# Named "description" so that a committee group shown full detail also sees the summary.
SUMMARY = FieldSpec(
    "description",
    LONG_TEXT,
    N_("Summary"),
    N_(
        "Summarise the bulletin: the administrative cases it covers, what it found, "
        "and what the agencies should note."
    ),
    max_length=2000,
)
AGENCIES = FieldSpec(
    "agencies",
    ORGANISATIONS,
    N_("Addressed to"),
    N_("Which agencies is it for? Toggle them, or press All departments and zones; then Done."),
    org_kinds=c.AGENCY_KINDS,
    groups=((N_("All departments and zones"), c.AGENCY_KINDS),),
)
# The engine addresses a rectification to every agency of the bulletin: it cannot ask only
# some of them, so the text says which agencies it concerns.
RECTIFY = FieldSpec(
    "rectify",
    LONG_TEXT,
    N_("To be rectified"),
    N_(
        "Does the bulletin ask for something to be rectified? Say what, and which agencies "
        "it concerns; or press Skip."
    ),
    required=False,
    max_length=1000,
)
RECTIFY_BY = FieldSpec(
    "rectify_by",
    DATE,
    N_("Answer on the rectification by"),
    N_(
        "By when should the agencies concerned answer in writing on the rectification? "
        "Pick a date, type one like 2026-12-31, or press No specific date."
    ),
    required=False,
)
DOCUMENT = FieldSpec(
    "document",
    FILES,
    N_("Bulletin document"),
    N_("Send the bulletin itself as a document (up to 5 files, 20 MB each), then press Done."),
    max_files=5,
)

# Inputs of the actions.
WRITTEN_ANSWER = FieldSpec(
    "answer",
    LONG_TEXT,
    N_("Written answer"),
    N_(
        "Send your organisation's written answer in one message: what has been rectified "
        "or will be, and by when (at most 2000 characters)."
    ),
    max_length=2000,
)
CLOSING_NOTE = FieldSpec(
    "note",
    LONG_TEXT,
    N_("Note"),
    N_(
        "Closing ends the bulletin for every agency: those that have not read it are no longer "
        "reminded, and no more written answers can be given. Anything to record? Send it, or "
        "press Skip to close it; press Cancel to keep it open."
    ),
    required=False,
    max_length=500,
)

# ---------------------------------------------------------------------------- states

UNREAD = State("unread", N_("Not yet read"))
READ = State("read", N_("Read"), open=False)
ANSWERED = State("answered", N_("Read; answered in writing"), open=False)
# Where the agencies that never read it end when the court closes the bulletin, and the
# bulletin's own status then.
CLOSED = State("closed", N_("Closed"), open=False)

# While the bulletin is open an agency may answer in writing whether or not it has pressed
# 已阅 (answering counts as reading), and again later (what it has since rectified).
NOT_CLOSED = frozenset({"unread", "read", "answered"})

# ---------------------------------------------------------------------------- actions

MARK_READ = Action(
    "read",
    N_("✅ Mark as read"),
    N_("Read"),
    Side.ADDRESSEE,
    frozenset({"unread"}),
    "read",
    notify=frozenset({Side.RAISER}),
    template="bulletin_read",
    receipt_template="bulletin_read_receipt",
    answer=N_("%(number)s marked as read."),
    primary=True,
    in_group=True,
)
ANSWER_IN_WRITING = Action(
    "answer",
    N_("📝 Answer in writing"),
    N_("Answered in writing"),
    Side.ADDRESSEE,
    NOT_CLOSED,
    "answered",
    inputs=(WRITTEN_ANSWER, c.ATTACHMENTS),
    notify=frozenset({Side.RAISER}),
)
CLOSE = Action(
    "close",
    N_("🏁 Close the bulletin"),
    N_("Bulletin closed"),
    Side.RAISER,
    NOT_CLOSED,
    "closed",
    inputs=(CLOSING_NOTE,),
    effects=frozenset({Effect.CLOSE}),
    notify=frozenset(),
    # On the court's read receipts: closing asks for a note first, so a stray press only
    # opens a question that Cancel leaves.
    primary=True,
)

# ---------------------------------------------------------------------------- deadlines

# "Reminded after 3 working days": published on day D, the deadline falls on
# add_working_days(D, 3), the third working day after D (D itself never counts). The engine's
# overdue alert comes on the first working day after the due day, so an agency that has not
# read the bulletin is reminded on the fourth working day after publication, once three whole
# working days have passed (published Wednesday 25 November 2026: due Monday 30 November,
# reminded Tuesday 1 December). Escalations (督办) follow every
# `escalate_every_working_days`; the committee-wide `due_soon_working_days` also warns the
# agency privately before the due day.
READ_WITHIN = Deadline(
    "read",
    frozenset({"unread"}),
    N_("%(org)s should confirm it has read the bulletin (已阅) by %(due)s."),
    working_days=3,
)

KIND = KindSpec(
    code="bulletin",
    number_prefix="通报",
    label=N_("Judicial-review bulletin"),
    raised_by=c.COURT_STAFF,
    raiser_org_kinds=frozenset({OrgKind.COURT}),
    answered_by=frozenset({Role.DEPARTMENT_HEAD}),
    fields=(TITLE, PERIOD, SUMMARY, AGENCIES, RECTIFY, RECTIFY_BY, DOCUMENT),
    addressee_field="agencies",
    initial="unread",
    states=(UNREAD, READ, ANSWERED, CLOSED),
    actions=(MARK_READ, ANSWER_IN_WRITING, CLOSE),
    deadlines=(READ_WITHIN,),
    closing=Closing.RAISER_CLOSES,
    notice_template="bulletin_notice",
)
