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
    # Whether a language is stored for them: chosen with /lang, or zh_CN stored when English
    # was offered (see ``Members.offer_lang_once``); until then they read the default.
    lang_stored: bool = True


@dataclass(frozen=True, slots=True)
class Invite:
    """A link just made: the only moment its token exists outside the link itself."""

    token: str
    org_code: str
    role: Role
    created_by: int
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class OpenInvite:
    """A link that still lets someone in, as the office lists it (its token is not kept)."""

    id: int
    org_code: str
    role: Role
    created_by: int
    creator_name: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CaseFile:
    media: str  # "document" or "photo"
    file_id: str
    file_unique_id: str
    file_name: str | None = None
    file_size: int | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    """One addressee of a matter and where it stands: its state, deadline, handler and answers.

    A matter for one court has one; a request to several agencies has one per agency, each
    answered on its own."""

    id: int
    case_id: int
    addressee: str
    position: int
    state: str
    clock_started_at: datetime
    updated_at: datetime
    handler_user_id: int | None = None
    handler_name: str = ""
    acted_by: int | None = None
    acted_by_name: str = ""
    acted_at: datetime | None = None
    outcome: str | None = None
    note: str | None = None  # the reason given last (a return, a withdrawal, a reopening)
    stage: str | None = None  # the deadline running now, if any
    due: date | None = None
    dues: dict[str, str] = field(default_factory=dict)  # every deadline of the matter (ISO)
    paused_since: date | None = None
    paused_days: int = 0
    round: int = 0  # grows when the clock starts afresh (resubmitted, reopened)
    last_open_state: str | None = None
    answers: dict[str, Any] = field(default_factory=dict)  # the latest inputs, per action

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    def due_on(self, name: str) -> date | None:
        value = self.dues.get(name)
        return date.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    number: str
    kind: str
    year: int
    seq: int
    status: str
    title: str
    raiser_user_id: int
    raiser_org: str
    fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    raiser_name: str = ""
    files: tuple[CaseFile, ...] = ()
    assignments: tuple[Assignment, ...] = ()

    # A matter addressed to one court or center reads as that one addressee.

    @property
    def first(self) -> Assignment | None:
        return self.assignments[0] if self.assignments else None

    @property
    def addressees(self) -> tuple[str, ...]:
        return tuple(a.addressee for a in self.assignments)

    @property
    def addressee(self) -> str:
        return self.first.addressee if self.first else ""

    @property
    def urgency(self) -> str:
        return str(self.fields.get("urgency") or "normal")

    @property
    def reply_by(self) -> date | None:
        value = self.fields.get("reply_by")
        return date.fromisoformat(value) if value else None

    @property
    def acted_by(self) -> int | None:
        return self.first.acted_by if self.first else None

    @property
    def acted_by_name(self) -> str:
        return self.first.acted_by_name if self.first else ""

    @property
    def acted_at(self) -> datetime | None:
        return self.first.acted_at if self.first else None

    @property
    def return_reason(self) -> str | None:
        first = self.first
        return first.note if first and first.state == "returned" else None

    @property
    def outcome(self) -> str | None:
        return self.first.outcome if self.first else None

    @property
    def ack_due(self) -> date | None:
        return self.first.due_on("ack") if self.first else None

    @property
    def reply_due(self) -> date | None:
        return self.first.due_on("reply") if self.first else None

    def assignment(self, assignment_id: int) -> Assignment | None:
        for assignment in self.assignments:
            if assignment.id == assignment_id:
                return assignment
        return None


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    action: str
    actor_user_id: int | None
    actor_name: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any] = field(default_factory=dict)
    assignment_id: int | None = None
    id: int = 0


@dataclass(frozen=True, slots=True)
class Draft:
    """A conversation in progress, kept in the database so a restart loses nothing."""

    user_id: int
    flow: str
    state: str
    data: dict[str, Any]
