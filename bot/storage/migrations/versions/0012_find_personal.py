"""/find: a matter's personal data in a search document of its own

Revision ID: 0012_find_personal
Revises: 0011_calendar
Create Date: 2026-11-30

A matter's personal data (an applicant, a party to enforcement, a contact) moves out of its
main search document into one of its own (``bot.domain.search.PERSONAL_SLOT``), which only
those who may see it search: the documents of every matter of a kind with personal fields are
rewritten with the code's own builder. Going down removes those documents (the matters are
then not found by such a name at all, never found by one who may not see it).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_find_personal"
down_revision: str | None = "0011_calendar"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from bot.domain.mechanisms import default_registry
    from bot.storage.search import reindex_kinds

    kinds = default_registry()
    personal = [k.code for k in kinds if any(spec.personal for spec in k.fields)]
    reindex_kinds(op.get_bind(), kinds, personal)


def downgrade() -> None:
    from bot.domain.search import PERSONAL_SLOT
    from bot.storage.search import drop_slot

    drop_slot(op.get_bind(), PERSONAL_SLOT)
