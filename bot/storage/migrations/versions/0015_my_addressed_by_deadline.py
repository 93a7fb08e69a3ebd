"""/my: an organisation's addressed matters read in deadline order from an index

Revision ID: 0015_my_addressed_by_deadline
Revises: 0014_my_raised_by_deadline
Create Date: 2026-11-30

A court is the addressee of thousands of open matters: /my gathered and grouped them all
for a page of five and its total. A partial index now holds the running deadlines by
addressee (a page's matters read nearest first, the rest never), and another the rows by
addressee and matter status (the total counted over the open matters' rows, from the index
alone).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_my_addressed_by_deadline"
down_revision: str | None = "0014_my_raised_by_deadline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_DUE_RUNNING = "due IS NOT NULL"  # as bot.storage.schema.DUE_RUNNING at 0015


def upgrade() -> None:
    op.create_index(
        "ix_assignments_addressee_due",
        "assignments",
        [
            "addressee",
            "due",
            "case_id",
            "state",
            "matter_status",
            "raiser_org",
            "paused_since",
            "handler_user_id",
        ],
        sqlite_where=sa.text(_DUE_RUNNING),
        postgresql_where=sa.text(_DUE_RUNNING),
    )
    op.create_index(
        "ix_assignments_addressee_open",
        "assignments",
        [
            "addressee",
            "matter_status",
            "case_id",
            "raiser_org",
            "state",
            "due",
            "paused_since",
            "handler_user_id",
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_assignments_addressee_open", table_name="assignments")
    op.drop_index("ix_assignments_addressee_due", table_name="assignments")
