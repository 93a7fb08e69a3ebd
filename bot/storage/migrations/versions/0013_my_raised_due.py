"""/my: a matter's nearest deadline from an index; its shared matters found by addressee

Revision ID: 0013_my_raised_due
Revises: 0012_find_personal
Create Date: 2026-11-30

/my orders an organisation's raised matters by their nearest deadline and finds those
waiting for its more: per matter, the minimum ``due`` and whether an addressee is paused.
Through the ``(case_id, position)`` key each of those reads a whole assignment row (its
answers and deadlines as JSON); this index carries the columns, so thousands of raised
matters are looked through without reading their rows.

Its shared matters still open (several addressees, ``cases.status = 'open'``) were found by
going through every such matter of all organisations: each assignment now carries its
matter's status (``matter_status``, filled here from ``cases``), and a partial index holds
the open shared matters' assignments by addressee.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_my_raised_due"
down_revision: str | None = "0012_find_personal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_SHARED_OPEN = "matter_status = 'open'"  # as bot.storage.schema.SHARED_OPEN at 0013


def upgrade() -> None:
    op.create_index(
        "ix_assignments_case_due_paused", "assignments", ["case_id", "due", "paused_since"]
    )
    op.add_column(
        "assignments",
        sa.Column("matter_status", sa.String(24), nullable=False, server_default=""),
    )
    op.execute(
        "UPDATE assignments SET matter_status = "
        "(SELECT cases.status FROM cases WHERE cases.id = assignments.case_id)"
    )
    op.create_index(
        "ix_assignments_shared_open",
        "assignments",
        ["addressee", "case_id"],
        sqlite_where=sa.text(_SHARED_OPEN),
        postgresql_where=sa.text(_SHARED_OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_assignments_shared_open", table_name="assignments")
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.drop_column("matter_status")
    op.drop_index("ix_assignments_case_due_paused", table_name="assignments")
