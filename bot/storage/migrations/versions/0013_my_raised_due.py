"""/my: a matter's nearest deadline and paused addressees read from an index

Revision ID: 0013_my_raised_due
Revises: 0012_find_personal
Create Date: 2026-11-30

/my orders an organisation's raised matters by their nearest deadline and finds those
waiting for its more: per matter, the minimum ``due`` and whether an addressee is paused.
Through the ``(case_id, position)`` key each of those reads a whole assignment row (its
answers and deadlines as JSON); this index carries the columns, so thousands of raised
matters are looked through without reading their rows.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_my_raised_due"
down_revision: str | None = "0012_find_personal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_assignments_case_due_paused", "assignments", ["case_id", "due", "paused_since"]
    )


def downgrade() -> None:
    op.drop_index("ix_assignments_case_due_paused", table_name="assignments")
