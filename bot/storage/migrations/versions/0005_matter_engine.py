"""The matter engine: each addressee of a matter in its own row (assignments)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

A matter's addressee, its state, its deadlines and the court's answers move from ``cases`` to
``assignments`` (one row per addressee; every existing matter has one), and events may name
the addressee they concern. Existing matters keep their numbers, states, deadlines, reasons
and outcomes.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STAGE = {"submitted": "ack", "acknowledged": "reply"}
_LAST_OPEN = {"returned": "submitted", "resolved": "acknowledged"}
_MOVED: dict[str, Any] = {
    "addressee": sa.String(length=24),
    "urgency": sa.String(length=16),
    "reply_by": sa.Date(),
    "acted_by": sa.BigInteger(),
    "acted_at": sa.DateTime(timezone=True),
    "return_reason": sa.Text(),
    "ack_due": sa.Date(),
    "reply_due": sa.Date(),
    "outcome": sa.String(length=32),
    "outcome_note": sa.Text(),
}


def upgrade() -> None:
    assignments = op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("addressee", sa.String(length=24), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("handler_user_id", sa.BigInteger(), nullable=True),
        sa.Column("acted_by", sa.BigInteger(), nullable=True),
        sa.Column("acted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("stage", sa.String(length=24), nullable=True),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("dues", sa.JSON(), nullable=False),
        sa.Column("clock_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_since", sa.Date(), nullable=True),
        sa.Column("paused_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("round", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_open_state", sa.String(length=24), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_assignments_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("case_id", "position", name=op.f("uq_assignments_case_id_position")),
    )
    op.create_index("ix_assignments_addressee_state", "assignments", ["addressee", "state"])
    op.create_index("ix_assignments_due", "assignments", ["due"])
    op.create_index("ix_assignments_handler", "assignments", ["handler_user_id"])

    bind = op.get_bind()
    cases = sa.table(
        "cases",
        sa.column("id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("created_at", sa.DateTime()),
        sa.column("updated_at", sa.DateTime()),
        *(sa.column(name, type_) for name, type_ in _MOVED.items()),
    )
    rows: list[dict[str, Any]] = []
    for case in bind.execute(sa.select(cases)).mappings():
        status = case["status"]
        stage = _STAGE.get(status)
        due = {"ack": case["ack_due"], "reply": case["reply_due"]}.get(stage or "")
        answers: dict[str, Any] = {}
        if status == "returned" and case["return_reason"]:
            answers["return"] = {"reason": case["return_reason"]}
        if case["outcome"]:
            answers["resolve"] = {"outcome": case["outcome"]}
        rows.append(
            {
                "case_id": case["id"],
                "position": 1,
                "addressee": case["addressee"],
                "state": status,
                "acted_by": case["acted_by"],
                "acted_at": case["acted_at"],
                "outcome": case["outcome"],
                "note": case["return_reason"] if status == "returned" else case["outcome_note"],
                "stage": stage,
                "due": due,
                "dues": {
                    name: str(value)
                    for name, value in (("ack", case["ack_due"]), ("reply", case["reply_due"]))
                    if value is not None
                },
                "clock_started_at": case["created_at"],
                "paused_days": 0,
                "round": 0,
                "last_open_state": _LAST_OPEN.get(status),
                "answers": answers,
                "updated_at": case["updated_at"],
            }
        )
    if rows:
        op.bulk_insert(assignments, rows)

    # Plain ALTER TABLE, never a batch copy: on SQLite a batch recreates the table, and
    # dropping the old copy would cascade to every matter's events, files and addressees.
    op.add_column("events", sa.Column("assignment_id", sa.Integer(), nullable=True))
    op.drop_index("ix_cases_addressee_status", table_name="cases")
    op.drop_index("ix_cases_status_ack_due", table_name="cases")
    op.drop_index("ix_cases_status_reply_due", table_name="cases")
    for name in _MOVED:
        op.drop_column("cases", name)


def downgrade() -> None:
    """Back to one addressee per matter: the first addressee's row goes back into ``cases``
    (a request to several agencies keeps only its first; notes and answers are lost)."""
    for name, type_ in _MOVED.items():
        op.add_column("cases", sa.Column(name, type_, nullable=True))
    bind = op.get_bind()
    first = sa.table(
        "assignments",
        sa.column("case_id", sa.Integer()),
        sa.column("position", sa.Integer()),
        sa.column("addressee", sa.String()),
        sa.column("acted_by", sa.BigInteger()),
        sa.column("acted_at", sa.DateTime()),
        sa.column("outcome", sa.String()),
        sa.column("note", sa.Text()),
        sa.column("state", sa.String()),
        sa.column("dues", sa.JSON()),
    )
    cases = sa.table("cases", sa.column("id", sa.Integer()), *(sa.column(n) for n in _MOVED))
    for row in bind.execute(sa.select(first).where(first.c.position == 1)).mappings():
        dues = row["dues"] or {}
        bind.execute(
            sa.update(cases)
            .where(cases.c.id == row["case_id"])
            .values(
                addressee=row["addressee"],
                urgency="normal",
                acted_by=row["acted_by"],
                acted_at=row["acted_at"],
                outcome=row["outcome"],
                return_reason=row["note"] if row["state"] == "returned" else None,
                ack_due=dues.get("ack"),
                reply_due=dues.get("reply"),
            )
        )
    op.drop_column("events", "assignment_id")
    op.drop_table("assignments")
    # The indexes the upgrade dropped with the columns (0001, 0002): 0005 can run again.
    op.create_index("ix_cases_addressee_status", "cases", ["addressee", "status"])
    op.create_index("ix_cases_status_ack_due", "cases", ["status", "ack_due"])
    op.create_index("ix_cases_status_reply_due", "cases", ["status", "reply_due"])
