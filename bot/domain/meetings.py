"""Joint meetings (府院联席会议): what a meeting is, its answers and agenda, and the rules for
its title, place, agenda and start. The operations live in ``bot.services.meetings``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.errors import InvalidInput
from bot.domain.text import clean_text

SCHEDULED, CANCELLED = "scheduled", "cancelled"
ANSWERS: tuple[str, ...] = ("attend", "deputy", "absent")
MAX_TITLE = 200
MAX_PLACE = 300
MAX_AGENDA_ITEM = 300
MAX_AGENDA_ITEMS = 20
MAX_AHEAD = timedelta(days=366)
# A reminder queued more than this after its moment says that it is late.
LATE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Meeting:
    id: int
    title: str
    starts_at: datetime
    place: str
    status: str
    version: int
    created_by: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Answer:
    """One invited organisation and what it answered (``rsvp`` None: not yet)."""

    org_code: str
    rsvp: str | None = None
    by: int | None = None
    by_name: str = ""
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AgendaItem:
    """An agenda item: free text, or a matter (its text is then the matter's number and
    title as they were when it was put on the agenda; its number and kind are the matter's,
    for an audience that may not see the title — ``bot.domain.privacy``)."""

    position: int
    text: str
    case_id: int | None = None
    case_number: str = ""
    case_kind: str = ""


@dataclass(frozen=True, slots=True)
class MeetingView:
    """A meeting with its invited organisations' answers and its agenda."""

    meeting: Meeting
    answers: tuple[Answer, ...]
    agenda: tuple[AgendaItem, ...]

    @property
    def id(self) -> int:
        return self.meeting.id

    @property
    def title(self) -> str:
        return self.meeting.title

    @property
    def starts_at(self) -> datetime:
        return self.meeting.starts_at

    @property
    def place(self) -> str:
        return self.meeting.place

    @property
    def version(self) -> int:
        return self.meeting.version

    @property
    def cancelled(self) -> bool:
        return self.meeting.status == CANCELLED

    def closed(self, now: datetime) -> str | None:
        """Why nothing more can happen to this meeting (no change, answer or message), if so:
        "meeting_cancelled" or "meeting_started"."""
        if self.cancelled:
            return "meeting_cancelled"
        if self.starts_at <= now:
            return "meeting_started"
        return None

    @property
    def orgs(self) -> tuple[str, ...]:
        return tuple(a.org_code for a in self.answers)

    def answer_of(self, org_code: str) -> str | None:
        for answer in self.answers:
            if answer.org_code == org_code:
                return answer.rsvp
        return None


@dataclass(frozen=True, slots=True)
class Change:
    """What an RSVP or a cancellation did: ``changed`` is False when it had happened before."""

    view: MeetingView
    changed: bool


# ---------------------------------------------------------------------------- validation


def validate_title(raw: str) -> str:
    return _line(raw, MAX_TITLE)


def validate_place(raw: str) -> str:
    return _line(raw, MAX_PLACE)


def _line(raw: str, max_length: int) -> str:
    text = clean_text(raw, multiline=False)
    if not text:
        raise InvalidInput("empty")
    if len(text) > max_length:
        raise InvalidInput("too_long", max=max_length, length=len(text))
    return text


def validate_agenda_item(raw: str) -> str:
    return _line(raw, MAX_AGENDA_ITEM)


def validate_start(starts_at: datetime, now: datetime) -> datetime:
    """A meeting starts in the future, at most a year ahead, on a whole minute."""
    if starts_at.tzinfo is None:
        raise InvalidInput("bad_time")
    starts_at = starts_at.replace(second=0, microsecond=0)
    if starts_at <= now:
        raise InvalidInput("time_in_past")
    if starts_at - now > MAX_AHEAD:
        raise InvalidInput("date_too_far")
    return starts_at
