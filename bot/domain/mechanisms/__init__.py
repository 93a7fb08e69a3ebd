"""The linkage mechanisms the bot runs, one declaration module each.

To add one: write its module here (a ``KIND``), import it and list it in ``default_registry``
below, add its templates and its catalog entries (README, "How to add a mechanism").
"""

from __future__ import annotations

from bot.domain.kinds import KindRegistry
from bot.domain.mechanisms import (
    assistance,
    bankruptcy,
    bulletin,
    consultation,
    handover,
    hearing,
    referral,
)


def default_registry() -> KindRegistry:
    """Every mechanism, in the order /new offers them."""
    return KindRegistry.of(
        (
            consultation.KIND,
            referral.KIND,
            hearing.KIND,
            handover.KIND,
            assistance.KIND,
            bankruptcy.KIND,
            bulletin.KIND,
        )
    )
