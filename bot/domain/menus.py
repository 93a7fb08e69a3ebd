"""Which commands each kind of user finds in Telegram's command menu.

A member's menu lists what their role can do, so nobody is offered a command that only
answers "not allowed"; a stranger's lists how to get in; the group's what works there.
Descriptions are message ids, translated where the menu is set.
"""

from __future__ import annotations

from bot.domain import rules
from bot.domain.committee import Committee
from bot.domain.kinds import KindRegistry
from bot.domain.models import Member, Role
from bot.i18n import N_

Command = tuple[str, str]  # (command, description msgid)

STRANGER_MENU: tuple[Command, ...] = (
    ("start", N_("Get in with the office's invite link")),
    ("whoami", N_("My Telegram user ID")),
    ("lang", N_("Language / 语言")),
    ("help", N_("Help")),
)
GROUP_MENU: tuple[Command, ...] = (
    ("help", N_("Help")),
    ("bindgroup", N_("Make this the committee group (office)")),
)

_RAISE = ("new", N_("Raise a consultation or a dispute referral"))
_RAISE_COURT = ("new", N_("Raise a matter of the court"))
_COMMON: tuple[Command, ...] = (
    ("my", N_("My open matters")),
    ("case", N_("Show a matter by its number")),
    ("find", N_("Search matters")),
    ("meetings", N_("Upcoming joint meetings")),
)
_ENDING: tuple[Command, ...] = (
    ("lang", N_("Language / 语言")),
    ("whoami", N_("Who am I")),
    ("help", N_("Help")),
)
# The evaluation figures (绩效考核): the office's and the observers'.
_STATS = ("stats", N_("Evaluation figures"))
_OFFICE: tuple[Command, ...] = (
    ("invite", N_("Invite a member")),
    ("invites", N_("Open invite links")),
    ("members", N_("Members")),
    ("meeting", N_("Schedule a joint meeting")),
    ("digest", N_("Weekly digest now")),
    ("calendar", N_("Holiday calendar")),
    ("export", N_("Spreadsheets of the matters")),
    ("status", N_("Bot status")),
)


def member_menu(member: Member, kinds: KindRegistry, committee: Committee) -> tuple[Command, ...]:
    """A member's private-chat menu: /new only if their role may raise some kind, /cancel
    only with /new (a form is the only thing to cancel), the office's tools for the office."""
    raising: tuple[Command, ...] = ()
    if rules.raisable_kinds(member, kinds, committee):
        raising = (_RAISE_COURT if member.role is Role.COURT_STAFF else _RAISE,)
    menu = raising + _COMMON
    if member.role in (Role.OFFICE, Role.OBSERVER):
        menu += (_STATS,)
    if member.role is Role.OFFICE:
        menu += _OFFICE
    if raising or member.role is Role.OFFICE:  # /meeting is a form too
        menu += (("cancel", N_("Cancel what you are doing")),)
    return menu + _ENDING
