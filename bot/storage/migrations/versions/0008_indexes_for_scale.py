"""Covering indexes for the overdue scan, the digest and /my at a million matters

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Each replaces an index that found the rows but then had to read every one of them from its
table: a matter's row carries its whole form, so reading a week of them, or every running
deadline, touched tens of megabytes. The new ones carry the columns those queries read:

- the scan's running deadlines (due, stage, matter, addressee, round, handler);
- the digest's matters raised in a week, in order (created, number, title, organisation);
- the digest's answers in a week (action, time, matter, addressee row);
- /my's matters raised by an organisation (organisation, status, created) and addressed to
  it (addressee, state, matter), so a page is chosen without reading every open matter.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, old index, its columns, new index, its columns)
_CHANGES = (
    (
        "assignments",
        "ix_assignments_due",
        ["due"],
        "ix_assignments_due_stage",
        ["due", "stage", "case_id", "addressee", "round", "handler_user_id"],
    ),
    (
        "assignments",
        "ix_assignments_addressee_state",
        ["addressee", "state"],
        "ix_assignments_addressee_state_case",
        ["addressee", "state", "case_id"],
    ),
    (
        "cases",
        "ix_cases_raiser_org_status",
        ["raiser_org", "status"],
        "ix_cases_raiser_org_status_created",
        ["raiser_org", "status", "created_at"],
    ),
    (
        "cases",
        "ix_cases_created",
        ["created_at"],
        "ix_cases_created_number",
        ["created_at", "number", "title", "raiser_org"],
    ),
    (
        "events",
        "ix_events_action_at",
        ["action", "at"],
        "ix_events_action_at_case",
        ["action", "at", "case_id", "assignment_id"],
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
