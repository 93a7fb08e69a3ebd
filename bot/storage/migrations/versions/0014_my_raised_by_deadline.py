"""/my: an organisation's raised matters read in deadline order from an index

Revision ID: 0014_my_raised_by_deadline
Revises: 0013_my_raised_due
Create Date: 2026-11-30

/my lists an organisation's raised matters nearest deadline first. It sought each raised
matter's nearest deadline one by one (thousands for a department) and sorted them all for a
page of five. A matter's raiser never changes: each assignment now carries it
(``raiser_org``, filled here from ``cases``), and a partial index holds the running
deadlines by raiser, so a page's raised matters are read in order and the rest never.
Another holds the paused clocks by raiser: the to-do list's raised matters waiting for the
raiser's more, found without going through all it raised.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_my_raised_by_deadline"
down_revision: str | None = "0013_my_raised_due"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_DUE_RUNNING = "due IS NOT NULL"  # as bot.storage.schema.DUE_RUNNING at 0014
_WAITING = "paused_since IS NOT NULL"  # as bot.storage.schema.WAITING at 0014


def upgrade() -> None:
    op.add_column(
        "assignments",
        sa.Column("raiser_org", sa.String(24), nullable=False, server_default=""),
    )
    op.execute(
        "UPDATE assignments SET raiser_org = "
        "(SELECT cases.raiser_org FROM cases WHERE cases.id = assignments.case_id)"
    )
    op.create_index(
        "ix_assignments_raiser_due",
        "assignments",
        ["raiser_org", "due", "case_id"],
        sqlite_where=sa.text(_DUE_RUNNING),
        postgresql_where=sa.text(_DUE_RUNNING),
    )
    op.create_index(
        "ix_assignments_raiser_paused",
        "assignments",
        ["raiser_org", "case_id"],
        sqlite_where=sa.text(_WAITING),
        postgresql_where=sa.text(_WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_assignments_raiser_paused", table_name="assignments")
    op.drop_index("ix_assignments_raiser_due", table_name="assignments")
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.drop_column("raiser_org")
