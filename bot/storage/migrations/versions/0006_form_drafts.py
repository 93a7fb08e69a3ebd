"""Conversations in progress move to the form engine's one conversation

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

A raise conversation (flow "raise"), a return waiting for its reason (flow "return") and a
meeting being scheduled (flow "meeting") become drafts of the one form conversation (flow
"form"): each keeps its answers and the step it waits in. Where a user had several, the most
recent one is kept. A meeting's date and time are read in the bot's time zone (``TZ``, by
default Asia/Shanghai), as the conversation read them.
"""

import os
import secrets
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

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
    # With its zone, as the column is: PostgreSQL takes the aware value read back in as is.
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_cases = sa.table(
    "cases",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("number", sa.String()),
)


_MEETING_STEPS = {  # the meeting conversation's state → (the form's state, field)
    "AWAITING_TITLE": ("AWAITING_TEXT", "title"),
    "AWAITING_DATE": ("AWAITING_DATE", "starts_at"),
    "AWAITING_TIME": ("AWAITING_TIME", "starts_at"),
    "AWAITING_PLACE": ("AWAITING_TEXT", "place"),
    "AWAITING_ORGS": ("AWAITING_CHOICES", "orgs"),
    "AWAITING_AGENDA": ("AWAITING_CHOICES", "agenda"),
    "AWAITING_CONFIRMATION": ("AWAITING_CONFIRMATION", "agenda"),
}


def _meeting(row: Any) -> tuple[str, dict[str, Any]] | None:
    data = dict(row.data or {})
    step = _MEETING_STEPS.get(row.state)
    if step is None:
        return None
    values: dict[str, Any] = {}
    for name in ("title", "place"):
        if data.get(name):
            values[name] = data[name]
    if data.get("orgs"):
        values["orgs"] = list(data["orgs"])
    if data.get("date") and data.get("time"):
        tz = ZoneInfo(os.environ.get("TZ") or "Asia/Shanghai")
        moment = datetime.combine(
            date.fromisoformat(data["date"]), time.fromisoformat(data["time"])
        )
        values["starts_at"] = moment.replace(tzinfo=tz).isoformat()
    agenda = [["case", int(i), str(label)] for i, label in data.get("cases") or []]
    agenda += [["text", str(item)] for item in data.get("free") or []]
    if agenda or row.state in ("AWAITING_AGENDA", "AWAITING_CONFIRMATION"):
        values["agenda"] = agenda
    state, field = step
    return state, {
        "form": "meeting",
        "token": secrets.token_hex(6),
        "mode": data.get("mode") or "new",
        "meeting_id": data.get("meeting_id"),
        "field": field,
        "part": data.get("date") if state == "AWAITING_TIME" else None,
        "values": values,
        "editing": False,
    }


def _converted(bind: Any, row: Any) -> tuple[str, dict[str, Any]] | None:
    data = dict(row.data or {})
    if row.flow == "raise":
        return row.state, {**data, "form": "raise", "part": None}
    if row.flow == "meeting":
        return _meeting(row)
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
        .where(_drafts.c.flow.in_(["raise", "return", "meeting"]))
        .order_by(_drafts.c.updated_at)
    ).all()
    kept: dict[int, tuple[str, dict[str, Any], Any]] = {}
    for row in rows:  # oldest first: a user's newer draft replaces an older one
        converted = _converted(bind, row)
        if converted is not None:
            kept[row.user_id] = (*converted, row.updated_at)
    bind.execute(_drafts.delete().where(_drafts.c.flow.in_(["raise", "return", "meeting", "form"])))
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
