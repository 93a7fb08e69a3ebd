"""The committee as the bot knows it: organisations, coordination centers, schedule settings.

Plain data, built once from the committee file by ``bot.config`` and read everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from enum import StrEnum

from bot.domain.workdays import CalendarOverrides


class OrgKind(StrEnum):
    DEPARTMENT = "department"
    ZONE = "zone"
    COURT = "court"
    OFFICE = "office"


class GroupDetail(StrEnum):
    """How much of a new matter is posted to the committee group."""

    MINIMAL = "minimal"  # number, kind and a link only
    SUMMARY = "summary"  # plus title, raising organisation, addressee, urgency (default)
    FULL = "full"  # plus description; never the applicant's personal data


@dataclass(frozen=True, slots=True)
class Organisation:
    code: str
    kind: OrgKind
    name_zh: str
    name_en: str
    # The customary short form (人社局, 延边中院) for buttons, where a phone cuts full names;
    # empty: the full name.
    short_zh: str = ""
    short_en: str = ""

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh

    def short(self, lang: str) -> str:
        return (self.short_en if lang == "en" else self.short_zh) or self.name(lang)


@dataclass(frozen=True, slots=True)
class Center:
    """An administrative-dispute coordination center, staffed by one or more courts."""

    code: str
    name_zh: str
    name_en: str
    courts: tuple[str, ...]
    location_zh: str = ""
    location_en: str = ""
    short_zh: str = ""
    short_en: str = ""

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh

    def short(self, lang: str) -> str:
        return (self.short_en if lang == "en" else self.short_zh) or self.name(lang)


@dataclass(frozen=True, slots=True)
class Phrase:
    """A text the committee file gives in both languages (a common return reason)."""

    zh: str
    en: str

    def text(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the bot speaks on its own: deadline alerts, the weekly digest, meeting reminders."""

    due_soon_working_days: int = 1
    escalate_every_working_days: int = 2
    digest_weekday: int = 1  # ISO weekday: Monday = 1
    digest_time: time = time(9, 0)
    # The morning summary of due-soon and overdue matters, each working day (local time).
    summary_time: time = time(8, 30)
    # Alerts, summaries and digests wait while it is quiet (local; the end is when they go).
    quiet_start: time = time(20, 0)
    quiet_end: time = time(8, 0)
    meeting_reminders: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
    # per kind code: deadline name → working days (the committee file's [deadlines.<kind>])
    deadlines: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reports:
    """The reports posted to the committee group on their own (the committee file's
    ``[reports]``): the quarterly evaluation report (绩效考核), on the first working day of
    each quarter at ``quarterly_time``, on the quarter before."""

    quarterly: bool = True
    quarterly_time: time = time(8, 30)


@dataclass(frozen=True, slots=True)
class Committee:
    name_zh: str
    name_en: str
    organisations: Mapping[str, Organisation]
    centers: Mapping[str, Center]
    admins: frozenset[int]
    admin_org: str
    group_chat_id: int | None = None
    group_detail: GroupDetail = GroupDetail.SUMMARY
    invite_ttl_hours: int = 72
    schedule: Schedule = field(default_factory=Schedule)
    # Per kind code: the organisations that may raise it (the committee file's
    # [kinds.<kind>] raisers); a kind not listed may be raised by every organisation that fits.
    raisers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    calendar: CalendarOverrides = field(default_factory=CalendarOverrides)
    # Common return reasons offered as buttons (the committee file's [returns] reasons);
    # empty: the built-in ones.
    return_reasons: tuple[Phrase, ...] = ()
    reports: Reports = field(default_factory=Reports)

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh

    def addressee_name(self, code: str, lang: str) -> str:
        """Display name of an organisation or center code; unknown codes show as is."""
        if code in self.organisations:
            return self.organisations[code].name(lang)
        if code in self.centers:
            return self.centers[code].name(lang)
        return code

    def phrases(self, name: str) -> tuple[Phrase, ...]:
        """A list of phrases the committee file gives by ``name`` (a field's
        ``suggestions_from``); empty when it gives none."""
        return {"return_reasons": self.return_reasons}.get(name, ())

    def button_name(self, code: str, lang: str) -> str:
        """An organisation or center as a button names it: its short form where it has one;
        texts keep the full name (``addressee_name``)."""
        if code in self.organisations:
            return self.organisations[code].short(lang)
        if code in self.centers:
            return self.centers[code].short(lang)
        return code

    def orgs_answering(self, code: str) -> frozenset[str]:
        """Organisations whose members answer for an addressee: a center's courts, or the
        organisation itself."""
        if code in self.centers:
            return frozenset(self.centers[code].courts)
        if code in self.organisations:
            return frozenset({code})
        return frozenset()

    def acting_org(self, code: str) -> str:
        """The organisation that must act for an addressee: for a coordination center staffed
        by a single court, that court; otherwise the addressee itself."""
        center = self.centers.get(code)
        if center is not None and len(center.courts) == 1:
            return center.courts[0]
        return code

    def courts_answering(self, code: str) -> frozenset[str]:
        """Court codes whose staff answer for an addressee (a court or a center)."""
        if code in self.centers:
            return frozenset(self.centers[code].courts)
        org = self.organisations.get(code)
        if org is not None and org.kind is OrgKind.COURT:
            return frozenset({code})
        return frozenset()

    def orgs_of_kind(self, *kinds: OrgKind) -> list[Organisation]:
        return [o for o in self.organisations.values() if o.kind in kinds]
