"""Invite links: tokens kept as hashes only; links can be withdrawn, and by whom is recorded

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Each stored token is replaced by its SHA-256 (hex), so links already handed out keep working
while the database no longer holds a usable one. ``revoked_at`` becomes ``withdrawn_at`` with
``withdrawn_by`` beside it, and ``menu_message_id`` records the office's role menu a link was
made from (one link per menu, however often it is pressed).

On SQLite the freed pages are zeroed, so no token is left in the file; on PostgreSQL the old
row versions stay on disk until the table is vacuumed (``VACUUM invites`` after upgrading).
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_invites = sa.table(
    "invites",
    sa.column("id", sa.Integer()),
    sa.column("token", sa.String()),
    sa.column("token_hash", sa.String()),
)


def _digest(token: str) -> str:
    """As the bot computes it (bot/services/members.py), frozen here with this revision."""
    return hashlib.sha256(token.encode()).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    secure = None
    if sqlite:  # overwrite what is deleted: the old tokens must not linger in free pages
        secure = bind.exec_driver_sql("PRAGMA secure_delete").scalar()
        bind.exec_driver_sql("PRAGMA secure_delete = ON")
    op.add_column("invites", sa.Column("token_hash", sa.String(length=64), nullable=True))
    for row in bind.execute(sa.select(_invites.c.id, _invites.c.token)).all():
        bind.execute(
            sa.update(_invites).where(_invites.c.id == row.id).values(token_hash=_digest(row.token))
        )
    # SQLite rebuilds the table here (nothing refers to invites, so nothing cascades).
    with op.batch_alter_table("invites") as batch:
        batch.drop_constraint("uq_invites_token", type_="unique")
        batch.drop_column("token")
        batch.alter_column("token_hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column(
            "revoked_at",
            new_column_name="withdrawn_at",
            existing_type=sa.DateTime(timezone=True),
            existing_nullable=True,
        )
        batch.add_column(sa.Column("withdrawn_by", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("menu_message_id", sa.BigInteger(), nullable=True))
        batch.create_unique_constraint(op.f("uq_invites_token_hash"), ["token_hash"])
        batch.create_unique_constraint(
            op.f("uq_invites_created_by_menu_message_id"), ["created_by", "menu_message_id"]
        )
    if sqlite:
        bind.exec_driver_sql(f"PRAGMA secure_delete = {int(secure or 0)}")


def downgrade() -> None:
    """The tokens cannot be recovered: every link handed out stops working (each row keeps a
    prefix of its hash, which no link carries)."""
    op.add_column("invites", sa.Column("token", sa.String(length=32), nullable=True))
    bind = op.get_bind()
    for row in bind.execute(sa.select(_invites.c.id, _invites.c.token_hash)).all():
        bind.execute(
            sa.update(_invites).where(_invites.c.id == row.id).values(token=row.token_hash[:32])
        )
    with op.batch_alter_table("invites") as batch:
        batch.drop_constraint("uq_invites_created_by_menu_message_id", type_="unique")
        batch.drop_constraint("uq_invites_token_hash", type_="unique")
        batch.drop_column("menu_message_id")
        batch.drop_column("withdrawn_by")
        batch.alter_column(
            "withdrawn_at",
            new_column_name="revoked_at",
            existing_type=sa.DateTime(timezone=True),
            existing_nullable=True,
        )
        batch.drop_column("token_hash")
        batch.alter_column("token", existing_type=sa.String(length=32), nullable=False)
        batch.create_unique_constraint(op.f("uq_invites_token"), ["token"])
