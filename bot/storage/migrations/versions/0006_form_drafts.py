"""Conversations in progress move to the form engine's one conversation

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

A raise conversation (flow "raise") and a return waiting for its reason (flow "return") become
drafts of the one form conversation (flow "form"): the raise keeps its answers and the step it
waits in, the return waits for the reason of the same matter. Where a user had both, the more
recent one is kept. Meeting drafts stay as they are.
"""

import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_drafts = sa.table(
    "drafts",
    sa.column("user_id", sa.BigInteger()),
    sa.column("flow", sa.String()),
    sa.column("state", sa.String()),
    sa.column("data", sa.JSON()),
    sa.column("updated_at", sa.DateTime()),
)
_cases = sa.table(
    "cases",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("number", sa.String()),
)


def _converted(bind: Any, row: Any) -> tuple[str, dict[str, Any]] | None:
    data = dict(row.data or {})
    if row.flow == "raise":
        return row.state, {**data, "form": "raise", "part": None}
    case = bind.execute(sa.select(_cases).where(_cases.c.id == data.get("case_id"))).first()
    if case is None:
        return None
    return "AWAITING_TEXT", {
        "form": "act",
        "token": secrets.token_hex(6),
        "kind": case.kind,
        "case_id": case.id,
        "assignment_id": 0,
        "action": "return",
        "number": case.number,
        "field": "reason",
        "part": None,
        "values": {},
        "editing": False,
    }


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_drafts)
        .where(_drafts.c.flow.in_(["raise", "return"]))
        .order_by(_drafts.c.updated_at)
    ).all()
    kept: dict[int, tuple[str, dict[str, Any], Any]] = {}
    for row in rows:  # oldest first: a user's newer draft replaces an older one
        converted = _converted(bind, row)
        if converted is not None:
            kept[row.user_id] = (*converted, row.updated_at)
    bind.execute(_drafts.delete().where(_drafts.c.flow.in_(["raise", "return", "form"])))
    for user_id, (state, data, updated_at) in kept.items():
        bind.execute(
            _drafts.insert().values(
                user_id=user_id, flow="form", state=state, data=data, updated_at=updated_at
            )
        )


def downgrade() -> None:
    """Form drafts cannot go back to the old conversations: they are dropped (the users
    start their conversation again)."""
    bind = op.get_bind()
    bind.execute(_drafts.delete().where(_drafts.c.flow == "form"))
