"""行政争议协调化解 — a department refers an administrative dispute to a coordination center."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.kinds import KindSpec
from bot.domain.mechanisms import common as c
from bot.i18n import N_

OUTCOMES = (
    ("resolved", N_("Resolved by agreement")),
    ("withdrawn", N_("Application withdrawn")),
    ("unresolved", N_("Not resolved; left to litigation")),
)

KIND = KindSpec(
    code="referral",
    number_prefix="协调",
    label=N_("Administrative dispute referral"),
    raised_by=c.RAISERS,
    answered_by=c.COURT_STAFF,
    fields=(
        c.TITLE,
        c.DESCRIPTION,
        c.APPLICANT,
        c.RESPONDENT,
        c.COURT_OR_CENTER,
        c.URGENCY,
        c.REPLY_BY,
        c.DOCUMENTS,
    ),
    states=(c.SUBMITTED, c.ACKNOWLEDGED, c.RETURNED, c.RESOLVED, c.WITHDRAWN),
    actions=(
        c.ACKNOWLEDGE,
        c.RETURN,
        replace(c.RESOLVE, inputs=(c.outcome_field(OUTCOMES),)),
        *c.FOLLOW_UP,
    ),
    deadlines=c.ack_and_reply(3, 30),
    outcomes=OUTCOMES,
)
