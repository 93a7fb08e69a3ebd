"""What the committee group sees of a matter: one rule (``bot.domain.privacy``) for every
message that reaches it — the new matter's post, deadline alerts, the weekly digest and the
joint-meeting messages (``tests/test_meeting_buttons.py``).

Under ``group_detail = "minimal"`` the group sees numbers (编号) and kinds, no title and no
parties; the applicant's personal data never reaches the group at any level.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import pytest

from bot.domain import privacy
from bot.domain.committee import Committee, GroupDetail
from bot.domain.mechanisms import default_registry
from bot.domain.meetings import AgendaItem
from bot.domain.models import Member, Role
from bot.domain.privacy import AgendaLine, Audience
from bot.storage import schema as t
from tests.conftest import SHANGHAI
from tests.flows import GROUP, LI, ZHAO, bind_group, member, rows, seed_case
from tests.scenario import running_bot

KINDS = default_registry()
MINIMAL, SUMMARY, FULL = GroupDetail.MINIMAL, GroupDetail.SUMMARY, GroupDetail.FULL


def at(day: str, hour: int = 9) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), SHANGHAI).replace(
        hour=hour
    )


# ---------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("audience", "committee", "kind", "title", "parties", "description", "personal"),
    [
        (Audience.GROUP, MINIMAL, FULL, False, False, False, False),
        (Audience.GROUP, SUMMARY, FULL, True, True, False, False),
        (Audience.GROUP, FULL, FULL, True, True, True, False),
        (Audience.GROUP, FULL, SUMMARY, True, True, False, False),  # the kind caps it
        (Audience.GROUP, SUMMARY, MINIMAL, False, False, False, False),
        (Audience.MEMBER, MINIMAL, MINIMAL, True, True, True, True),
        # An observer follows every matter, but not the people in it.
        (Audience.OBSERVER, MINIMAL, MINIMAL, True, True, True, False),
        (Audience.LOG, FULL, FULL, False, False, False, False),
    ],
)
def test_what_each_audience_sees(
    audience: Audience,
    committee: GroupDetail,
    kind: GroupDetail,
    title: bool,
    parties: bool,
    description: bool,
    personal: bool,
) -> None:
    shown = privacy.disclosure(audience, committee, kind)
    assert (shown.title, shown.parties, shown.description, shown.personal) == (
        title,
        parties,
        description,
        personal,
    )


@pytest.mark.parametrize(
    ("role", "audience"),
    [
        (Role.OBSERVER, Audience.OBSERVER),
        (Role.OFFICE, Audience.MEMBER),  # the office oversees: it sees the personal data
        (Role.COURT_STAFF, Audience.MEMBER),
        (Role.DEPARTMENT_HEAD, Audience.MEMBER),
    ],
)
def test_a_member_in_a_private_chat_is_the_audience_of_their_role(
    role: Role, audience: Audience
) -> None:
    member = Member(1, 1, "CBS-ADMIN", role, "甲", at("2026-11-30"))
    assert privacy.audience_of(member) is audience


def test_agenda_lines_per_audience() -> None:
    items = (
        AgendaItem(1, "研判〔2026〕1号 滑雪场扩建", 7, "研判〔2026〕1号", "consultation"),
        AgendaItem(2, "通报化解情况"),
        AgendaItem(3, "旧事项 标题", 8, "旧〔2020〕1号", "retired_kind"),
    )
    assert privacy.agenda(items, Audience.GROUP, MINIMAL, KINDS) == (
        AgendaLine("", "研判〔2026〕1号", "consultation"),
        AgendaLine("通报化解情况"),
        AgendaLine("", "旧〔2020〕1号", "retired_kind"),
    )
    summary = privacy.agenda(items, Audience.GROUP, SUMMARY, KINDS)
    assert [line.text for line in summary] == ["研判〔2026〕1号 滑雪场扩建", "通报化解情况", ""]
    member = privacy.agenda(items, Audience.MEMBER, MINIMAL, KINDS)
    assert [line.hidden for line in member] == [False, False, False]
    log = privacy.agenda(items, Audience.LOG, FULL, KINDS)
    assert [line.text for line in log] == ["", "", ""]  # numbers only


# ---------------------------------------------------------------------------- the group


async def test_minimal_group_sees_numbers_and_kinds_only(committee: Committee, db_url: str) -> None:
    minimal = dataclasses.replace(committee, group_detail=GroupDetail.MINIMAL)
    async with running_bot(minimal, db_url) as bot:
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        bot.clock.set(at("2026-11-25", 10))  # Wednesday
        case = await seed_case(
            bot, LI, "李明", "征收补偿争议", kind="referral", addressee="CHIBEI-CENTER"
        )
        await bot.tick()
        await bot.tick(at("2026-11-30"))  # Monday 09:00: the weekly digest
        await bot.tick(at("2026-12-01"))  # the acknowledgement is overdue

        post, digest, overdue = (
            next(text for text in bot.texts(group) if needle in text)
            for needle in ("📌 新事项", "周报", "已逾期")
        )
        assert post == f"📌 新事项：{case.number} · 行政争议协调化解"
        assert f"• {case.number}\n" in digest
        assert f"🔴 {case.number}（行政争议协调化解）\n" in overdue
        assert "期限：2026年11月30日（周一） · 已逾期1个工作日" in overdue
        for text in bot.texts(group):
            for secret in ("征收补偿争议", "长白山管委会自然资源局", "池北", "张三"):
                assert secret not in text
        # The addressee is told privately, in full.
        (private,) = [text for text in bot.texts(zhao) if "已逾期" in text]
        assert "征收补偿争议" in private and "（池北行政争议协调化解中心）" in private
        keys = {r.key: r.status for r in await rows(bot, t.outbox, t.outbox.c.chat_id == GROUP)}
        assert keys[f"case:{case.id}:group"] == "sent"
        assert keys[f"summary:2026-12-01:{GROUP}"] == "sent"


async def test_the_applicant_never_reaches_the_group(committee: Committee, db_url: str) -> None:
    full = dataclasses.replace(committee, group_detail=GroupDetail.FULL)
    async with running_bot(full, db_url) as bot:
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        case = await seed_case(
            bot, LI, "李明", "征收补偿争议", kind="referral", addressee="CHIBEI-CENTER"
        )
        await bot.tick()
        (post,) = [text for text in bot.texts(group) if case.number in text]
        assert "征收补偿争议" in post and "情况说明。" in post
        assert "张三" not in post
