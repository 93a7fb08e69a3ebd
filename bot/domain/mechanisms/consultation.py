"""重大事项研判 — a department asks the courts for a legal-risk view on a major matter."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.kinds import KindSpec
from bot.domain.mechanisms import common as c
from bot.i18n import N_

OUTCOMES = (("opinion_given", N_("Legal opinion given")), ("withdrawn", N_("Withdrawn")))

KIND = KindSpec(
    code="consultation",
    number_prefix="研判",
    label=N_("Major-matter consultation"),
    raised_by=c.RAISERS,
    answered_by=c.COURT_STAFF,
    fields=(c.TITLE, c.DESCRIPTION, c.COURT_ONLY, c.URGENCY, c.REPLY_BY, c.DOCUMENTS),
    states=(c.SUBMITTED, c.ACKNOWLEDGED, c.RETURNED, c.RESOLVED, c.WITHDRAWN),
    actions=(
        c.ACKNOWLEDGE,
        c.RETURN,
        replace(c.RESOLVE, inputs=(c.outcome_field(OUTCOMES),)),
        *c.FOLLOW_UP,
    ),
    deadlines=c.ack_and_reply(3, 10),
    outcomes=OUTCOMES,
)
