"""/my by the nearest deadline, from indexes

Revision ID: 0009_notices
Revises: 0008
Create Date: 2026-12-04

/my lists matters by their nearest running deadline:

- the running deadlines' index puts the matter right after the due day, so the office's list
  (every open matter) is read in order from it, each matter at its nearest deadline, with no
  sort of every open matter (the overdue scan reads the same columns, only in another order);
- the index of an organisation's addressed matters also carries the deadline, whether the
  clock waits on the raiser, and the handler, so /my's parts and lists ("waiting for me")
  are still answered from the index alone.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_notices"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, old index, its columns, new index, its columns)
_CHANGES = (
    (
        "assignments",
        "ix_assignments_due_stage",
        ["due", "stage", "case_id", "addressee", "round", "handler_user_id"],
        "ix_assignments_due_case",
        ["due", "case_id", "stage", "addressee", "round", "handler_user_id"],
    ),
    (
        "assignments",
        "ix_assignments_addressee_state_case",
        ["addressee", "state", "case_id"],
        "ix_assignments_addressee_state_case_due",
        ["addressee", "state", "case_id", "due", "paused_since", "handler_user_id"],
    ),
)


def upgrade() -> None:
    for table, old, _, new, columns in _CHANGES:
        op.create_index(new, table, columns)
        op.drop_index(old, table_name=table)


def downgrade() -> None:
    for table, old, old_columns, new, _ in reversed(_CHANGES):
        op.create_index(old, table, old_columns)
        op.drop_index(new, table_name=table)
