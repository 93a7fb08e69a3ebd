"""/calendar: the years the office confirmed from the State Council's notice

Revision ID: 0011_calendar
Revises: 0010_find
Create Date: 2026-11-30

``calendar_years`` holds one row per year confirmed with /calendar: the notice's holidays and
make-up working days, who confirmed them, when, and the hash of the text they were read from.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_calendar"
down_revision: str | None = "0010_find"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("workdays", sa.JSON(), nullable=False),
        sa.Column("confirmed_by", sa.BigInteger(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_years")),
    )


def downgrade() -> None:
    op.drop_table("calendar_years")
