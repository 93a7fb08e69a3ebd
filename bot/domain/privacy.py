"""What each audience may see of a matter and of a joint meeting's agenda — the one rule.

Four audiences: the committee group (many readers, most of them outside any one matter), a
member in a private chat (sent only what they are entitled to), an observer in a private chat
(follows every matter, acts on none: everything but the personal data), and the log
(operators: ids and numbers, nothing a matter says). The committee file's ``group_detail``
caps what the group sees, and a kind's own ``group_detail`` can show the group less, never
more. Under "minimal" the group sees a matter's number (编号) and kind: no title, no parties.

Personal data (fields marked ``personal``: an applicant, a party to enforcement, a contact)
is seen by the members of the organisations concerned and by the office, which oversees
every matter; never by an observer, the group or the log, at any level — and nobody else
finds a matter by it (``bot.domain.search`` keeps it in a document of its own).

Every renderer that may show a matter to the group asks here instead of deciding for itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.committee import GroupDetail
from bot.domain.kinds import KindRegistry
from bot.domain.meetings import AgendaItem
from bot.domain.models import Member, Role


class Audience(StrEnum):
    GROUP = "group"
    MEMBER = "member"
    OBSERVER = "observer"
    LOG = "log"


def audience_of(member: Member | None) -> Audience:
    """The audience a member in a private chat is: an observer's own, else a member's."""
    if member is not None and member.role is Role.OBSERVER:
        return Audience.OBSERVER
    return Audience.MEMBER


_ORDER = (GroupDetail.MINIMAL, GroupDetail.SUMMARY, GroupDetail.FULL)


def capped(committee: GroupDetail, kind: GroupDetail) -> GroupDetail:
    """The lesser of two levels: the committee file caps, a kind can only lower it."""
    return min(committee, kind, key=_ORDER.index)


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What one audience may see of one matter."""

    detail: GroupDetail
    personal: bool = False  # personal data (fields marked ``personal``)

    @property
    def title(self) -> bool:
        return self.detail is not GroupDetail.MINIMAL

    @property
    def parties(self) -> bool:
        """The raising organisation, the addressees, the urgency and the dates asked for."""
        return self.detail is not GroupDetail.MINIMAL

    @property
    def description(self) -> bool:
        return self.detail is GroupDetail.FULL


def disclosure(
    audience: Audience,
    committee: GroupDetail,
    kind: GroupDetail = GroupDetail.FULL,
) -> Disclosure:
    """What ``audience`` may see of a matter of a kind whose cap is ``kind``, when the
    committee file says ``committee``."""
    if audience is Audience.MEMBER:
        return Disclosure(GroupDetail.FULL, personal=True)
    if audience is Audience.OBSERVER:
        return Disclosure(GroupDetail.FULL)
    if audience is Audience.LOG:
        return Disclosure(GroupDetail.MINIMAL)
    return Disclosure(capped(committee, kind))


def of_kind(
    audience: Audience, committee: GroupDetail, kinds: KindRegistry, kind_code: str | None
) -> Disclosure:
    """``disclosure`` for a matter of a kind by its code; a kind the registry does not know
    (a matter of a retired kind) gets the least."""
    spec = kinds.get(kind_code)
    return disclosure(audience, committee, spec.group_detail if spec else GroupDetail.MINIMAL)


@dataclass(frozen=True, slots=True)
class AgendaLine:
    """One agenda item as an audience may see it: its text, or — a matter whose title it
    may not see — only the matter's number and kind."""

    text: str
    number: str = ""
    kind: str = ""

    @property
    def hidden(self) -> bool:
        return not self.text


def agenda(
    items: Sequence[AgendaItem],
    audience: Audience,
    committee: GroupDetail,
    kinds: KindRegistry,
) -> tuple[AgendaLine, ...]:
    """A meeting's agenda for an audience. Free-text items are the office's own words for
    the meeting and are shown as written; an item that is a matter shows its title only to
    an audience that may see the matter's title."""
    lines: list[AgendaLine] = []
    for item in items:
        if item.case_id is None:
            lines.append(AgendaLine("" if audience is Audience.LOG else item.text))
        elif of_kind(audience, committee, kinds, item.case_kind or None).title:
            lines.append(AgendaLine(item.text, item.case_number, item.case_kind))
        else:
            lines.append(AgendaLine("", item.case_number, item.case_kind))
    return tuple(lines)
