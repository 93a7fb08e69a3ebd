"""Plain records the domain hands to its callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from bot.i18n import N_


class Role(StrEnum):
    DEPARTMENT_HEAD = "department_head"
    COURT_STAFF = "court_staff"
    OFFICE = "office"
    OBSERVER = "observer"


ROLE_LABELS: dict[str, str] = {  # message ids, translated where shown
    "department_head": N_("Department head"),
    "court_staff": N_("Court staff"),
    "office": N_("Office"),
    "observer": N_("Observer"),
}


class Status(StrEnum):
    SUBMITTED = "submitted"
    ACKNOWLEDGED = "acknowledged"
    RETURNED = "returned"
    RESOLVED = "resolved"


OPEN_STATUSES: frozenset[Status] = frozenset({Status.SUBMITTED, Status.ACKNOWLEDGED})


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    user_id: int
    org_code: str
    role: Role
    display_name: str
    joined_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is acting: a Telegram user, their language and their membership (if any)."""

    user_id: int
    lang: str
    member: Member | None
    name: str = ""


@dataclass(frozen=True, slots=True)
class Invite:
    token: str
    org_code: str
    role: Role
    created_by: int
    created_at: datetime
    expires_at: datetime
    used_by: int | None = None
    used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CaseFile:
    media: str  # "document" or "photo"
    file_id: str
    file_unique_id: str
    file_name: str | None = None
    file_size: int | None = None


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    number: str
    kind: str
    year: int
    seq: int
    status: Status
    title: str
    addressee: str
    urgency: str
    reply_by: date | None
    raiser_user_id: int
    raiser_org: str
    fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    acted_by: int | None = None
    acted_at: datetime | None = None
    return_reason: str | None = None
    ack_due: date | None = None
    reply_due: date | None = None
    outcome: str | None = None
    acted_by_name: str = ""
    raiser_name: str = ""
    files: tuple[CaseFile, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    action: str
    actor_user_id: int | None
    actor_name: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Draft:
    """A conversation in progress, kept in the database so a restart loses nothing."""

    user_id: int
    flow: str
    state: str
    data: dict[str, Any]
