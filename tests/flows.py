"""Shared steps for the in-process flow tests: the cast, joining through invite links,
seeding matters quickly, and reading tables back."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import Table, select

from bot.domain.models import Case, Role
from bot.storage import schema as t
from tests.conftest import ADMIN_ID
from tests.fakes.telegram import FakeChat, FakeUser
from tests.scenario import Harness

# The cast: a department head of the Natural Resources Bureau, one of the Ecology Bureau,
# a judge of the Yanbian court (answers for the Chibei center), a clerk of the Fusong court
# (answers for the Chixi–Chinan center only), an observer and a stranger.
LI, WANG, ZHAO, SUN, QIAN, STRANGER = 2001, 2002, 3001, 3002, 4001, 9001
GROUP = -1001234567890

NOT_MEMBER_LINES = (
    "您好！本机器人服务于府院联动工作委员会成员。",
    "您还不是成员。请向府院联动办公室索取邀请链接，并在此打开。",
)


def not_member_text(user_id: int) -> str:
    """The polite explanation anyone who is not a member gets, with their user id."""
    return f"{NOT_MEMBER_LINES[0]}\n\n{NOT_MEMBER_LINES[1]}\n您的 Telegram 用户 ID 为{user_id}。"


def admin(bot: Harness) -> FakeUser:
    return bot.user(ADMIN_ID, "办公室管理员")


async def member(bot: Harness, user_id: int, name: str, org: str, role: Role) -> FakeUser:
    user = bot.user(user_id, name)
    await bot.join(user, org, role)
    return user


async def bind_group(bot: Harness) -> FakeChat:
    group = bot.fake.group(GROUP, "长白山府院联动群", add_bot=True)
    await bot.say(admin(bot), "/bindgroup", chat=group)
    assert await bot.svc.group_chat_id() == GROUP
    return group


async def seed_case(
    bot: Harness,
    user_id: int,
    name: str,
    title: str,
    *,
    kind: str = "consultation",
    addressee: str = "YB-IPC",
) -> Case:
    """Record a matter through the service, as a finished raise conversation would."""
    viewer = await bot.svc.viewer(user_id, name, None)
    values: dict[str, Any] = {
        "title": title,
        "description": "情况说明。",
        "addressee": addressee,
        "urgency": "normal",
        "reply_by": None,
        "documents": [],
    }
    if kind == "referral":
        values.update(applicant="张三", respondent="CBS-NR")
    outcome = await bot.svc.submit(viewer, kind, values, secrets.token_hex(8))
    assert outcome.changed
    return outcome.case


def on_button(bot: Harness, name: str) -> str:
    """An organisation, given by its full Chinese name, as a form's button names it: by its
    short name (texts keep the full one)."""
    for org in bot.svc.committee.organisations.values():
        if org.name_zh == name:
            return org.short("zh_CN")
    return name


async def rows(bot: Harness, table: Table, *where: Any) -> list[Any]:
    """The table as it stands once what updates that wrote nothing deferred (a user's name,
    update records: written a moment later, see ``Database.unit``) is written too."""
    await bot.svc.db.write_left_over()
    async with bot.svc.db.read() as conn:
        return list((await conn.execute(select(table).where(*where))).all())


async def new_invite(bot: Harness, org_name: str, role_label: str) -> str:
    """The office creates an invite link; returns its token."""
    office = admin(bot)
    await bot.say(office, "/invite")
    await bot.press(office, org_name)
    await bot.press(office, role_label)
    link = re.search(r"https://t\.me/\S+\?start=i_(\S+)", bot.last_text(office))
    assert link is not None, bot.last_text(office)
    return link.group(1)


def all_seen(bot: Harness, user: FakeUser) -> str:
    """Everything a user could read: messages, button labels and button-press answers."""
    parts = list(bot.texts(user))
    for message in bot.fake.messages_to(user):
        parts.extend(label for row in bot.fake.buttons(message) for label, _ in row)
    parts.extend(bot.alerts(user))
    return "\n".join(parts)


async def deadline_keys(bot: Harness) -> set[str]:
    """What deadline summaries and 督办 messages were queued, one entry per matter and
    recipient as ``<alert key>:<chat>`` (``case:12:ack:overdue:3001``)."""
    summaries = await rows(bot, t.outbox, t.outbox.c.kind.in_(["deadline_summary", "escalation"]))
    return {f"{item['key']}:{r.chat_id}" for r in summaries for item in r.payload["items"]}


def alert_entries(bot: Harness, chat: FakeUser | FakeChat, marks: str = "⏰🔴🚨") -> list[str]:
    """Each matter's entry (its lines) in the deadline summaries and 督办 messages the chat
    received, oldest first: those starting with one of ``marks`` (⏰ due soon, 🔴 overdue,
    🚨 督办)."""
    entries = []
    for text in bot.texts(chat):
        if text.startswith(("📋", "🚨")):
            entries += [e for e in text.split("\n\n")[1:] if e[:1] in marks]
    return entries
