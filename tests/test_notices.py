"""A notice carries what is needed: both deadlines; after an action its details, who acted
and the next steps; and every copy of it, in every colleague's chat, kept up to date through
the outbox."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.storage import schema as t
from tests import test_mech_assistance as assistance
from tests.conftest import SHANGHAI
from tests.fakes.telegram import FakeUser
from tests.flows import LI, ZHAO, admin, member, rows, seed_case
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


WU = 3003
EDIT = "editMessageText"
TITLE = "景区道路改扩建项目法律风险研判"


async def cast(bot: Harness) -> tuple[FakeUser, FakeUser, FakeUser]:
    li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
    zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
    wu = await member(bot, WU, "吴法官", "YB-IPC", Role.COURT_STAFF)
    return li, zhao, wu


def edits_of(bot: Harness, user: FakeUser, since: int) -> list[int]:
    """The message ids the bot edited in the user's chat since call ``since``."""
    return [
        int(c.params["message_id"])
        for c in bot.fake.calls[since:]
        if c.method == EDIT and int(c.params["chat_id"]) == user.id and c.response.get("ok")
    ]


async def test_the_notice_shows_both_deadlines_with_their_weekdays(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        _, zhao, _ = await cast(bot)
        await seed_case(bot, LI, "李明", TITLE)  # Wednesday 25 November 2026, 10:00
        await bot.flush_outbox()
        text = bot.last_with_buttons(zhao)["text"]
        # 3 and 10 working days on (the consultation's terms), as the assignment holds them.
        assert "⏰ 受理期限：2026年11月30日（周一）\n" in text
        assert "⏰ 答复期限：2026年12月9日（周三）\n" in text
        (row,) = await rows(bot, t.assignments)
        assert row.dues == {"ack": "2026-11-30", "reply": "2026-12-09"}


async def test_an_acknowledged_notice_keeps_its_details_and_every_copy_follows(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        _, zhao, wu = await cast(bot)
        case = await seed_case(bot, LI, "李明", TITLE)
        await bot.flush_outbox()
        mine, theirs = bot.last_with_buttons(zhao), bot.last_with_buttons(wu)
        assert bot.labels(theirs) == ["✅ 受理", "↩️ 退回"]

        since, wu_had = len(bot.fake.calls), len(bot.fake.messages_to(wu))
        await bot.press(zhao, "受理", message=mine)

        # The clerk's notice: the same details under who acted, and what comes next.
        shown = bot.fake.message(zhao, mine["message_id"])
        first, rest = shown["text"].split("\n\n", 1)
        assert (
            first
            == "📌 已受理：赵法官（延边州中级人民法院），2026年11月25日（周三）10:00。\n状态：已受理"
        )
        assert f"标题：{TITLE}" in rest and "⏰ 答复期限：2026年12月9日（周三）" in rest
        assert "请受理" not in rest  # the invitation to acknowledge went with the step
        labels = bot.labels(shown)
        assert "🏁 登记结果" in labels and "❓ 请求补充" in labels
        assert "✅ 受理" not in labels and "↩️ 退回" not in labels

        # The colleague's copy was edited (not a new message): it names who acted, lost
        # 受理/退回, and offers what he may do now too.
        assert edits_of(bot, wu, since) == [theirs["message_id"]]
        copy = bot.fake.message(wu, theirs["message_id"])
        assert copy["text"].startswith("📌 已受理：赵法官（延边州中级人民法院）")
        assert f"标题：{TITLE}" in copy["text"]
        assert "✅ 受理" not in bot.labels(copy) and "🏁 登记结果" in bot.labels(copy)
        assert len(bot.fake.messages_to(wu)) == wu_had  # edited in place, nothing new sent

        # The outbox holds one edit row for that copy, done, recording the message edited;
        # none for the notice the clerk pressed (his own press updated it).
        (event,) = await rows(bot, t.events, t.events.c.action == "acknowledge")
        edits = await rows(bot, t.outbox, t.outbox.c.kind == "case_refresh")
        (wu_notice,) = await rows(
            bot, t.outbox, t.outbox.c.kind == "case_new", t.outbox.c.chat_id == WU
        )
        assert [(r.key, r.chat_id, r.status, r.message_id) for r in edits] == [
            (f"case:{case.id}:e{event.id}:edit:{wu_notice.id}", WU, "sent", theirs["message_id"])
        ]
        assert (await rows(bot, t.cases))[0].status == "acknowledged"

        # 登记结果 on the notice records an outcome.
        await bot.press(zhao, "登记结果", message=bot.fake.message(zhao, mine["message_id"]))
        outcome = bot.labels(bot.last_with_buttons(zhao))[0]
        since = len(bot.fake.calls)
        await bot.press(zhao, outcome)
        (stored,) = await rows(bot, t.assignments)
        assert (stored.state, stored.acted_by) == ("resolved", ZHAO)
        assert (await rows(bot, t.cases))[0].status == "resolved"
        # Both copies now say so, and neither keeps a button that no longer applies.
        for user, message in ((zhao, mine), (wu, theirs)):
            assert edits_of(bot, user, since).count(message["message_id"]) == 1
            final = bot.fake.message(user, message["message_id"])
            assert final["text"].startswith("📌 已登记办理结果：赵法官")
            assert f"办理结果：{outcome}" in final["text"]
            assert "reply_markup" not in final
        refreshed = await rows(bot, t.outbox, t.outbox.c.kind == "case_refresh")
        assert len(refreshed) == 3 and {r.status for r in refreshed} == {"sent"}

        # A stale 受理 pressed on a copy the client had not yet updated is refused cleanly.
        await bot.press(wu, message=theirs, data=f"v:acknowledge:{case.id}")
        assert bot.alerts(wu)[-1] == "该事项已登记办理结果。"
        assert len(await rows(bot, t.events, t.events.c.action == "acknowledge")) == 1


async def test_a_copy_that_is_gone_or_already_up_to_date_counts_as_updated(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        _, zhao, wu = await cast(bot)
        await seed_case(bot, LI, "李明", TITLE)
        await bot.flush_outbox()
        bot.allowed_errors.add(400)  # Telegram's answers to both edits, taken as done
        theirs = bot.last_with_buttons(wu)
        await bot.press(zhao, "受理", message=bot.last_with_buttons(zhao))
        (edit,) = await rows(bot, t.outbox, t.outbox.c.kind == "case_refresh")
        assert (edit.status, edit.attempts, edit.chat_id) == ("sent", 1, WU)

        # The bot stopped before it recorded the edit: it is made again, and Telegram says
        # the message is not modified. That is done too.
        async with bot.svc.db.write() as conn:
            await conn.execute(
                t.outbox.update().where(t.outbox.c.id == edit.id).values(status="sending")
            )
        assert await bot.app.bot_data["runtime"].courier.recover() == 1
        await bot.flush_outbox()
        (edit,) = await rows(bot, t.outbox, t.outbox.c.kind == "case_refresh")
        assert (edit.status, edit.attempts) == ("sent", 2)
        assert "not modified" in bot.fake.calls[-1].response["description"]

        # The colleague deleted his notice: the next edit finds nothing and is done with.
        wu_had = len(bot.fake.messages_to(wu))
        bot.fake.user_deletes(wu, theirs["message_id"])
        await bot.press(zhao, "📝 添加说明")
        await bot.say(zhao, "已联系申请人。")
        await bot.press(zhao, "完成")
        last = (await rows(bot, t.outbox, t.outbox.c.kind == "case_refresh"))[-1]
        assert (last.status, last.attempts, last.chat_id) == ("sent", 1, WU)
        # Nothing was reported to the office, and no new message went to the colleague.
        assert await rows(bot, t.outbox, t.outbox.c.kind == "delivery_failed") == []
        assert theirs["message_id"] not in [m["message_id"] for m in bot.fake.messages_to(wu)]
        assert len(bot.fake.messages_to(wu)) == wu_had - 1


# ---------------------------------------------------------------------------- /my


def numbers_on(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"研判〔2026〕(\d+)号", text)]


async def test_my_is_sorted_by_the_nearest_deadline_with_overdue_marks_and_lists(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li, zhao, wu = await cast(bot)
        clerk = await bot.svc.viewer(ZHAO, "赵法官", None)
        # 1: Wednesday 25 November, to be acknowledged by Monday 30 November.
        (a,) = [await seed_case(bot, LI, "李明", "甲")]
        # 2: Thursday 26, acknowledged at once: its outcome is due Thursday 10 December, and
        # Wu handles it.
        bot.clock.set(datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI))
        c = await seed_case(bot, LI, "李明", "丙")
        await bot.svc.acknowledge(clerk, c.id)
        await bot.svc.act(clerk, c.id, None, "assign", {"handler": str(WU)})
        # 3-7: Friday 27, to be acknowledged by Wednesday 2 December (listed in the order
        # they were raised).
        for n in range(5):
            bot.clock.set(datetime(2026, 11, 27, 10, n, tzinfo=SHANGHAI))
            await seed_case(bot, LI, "李明", f"乙{n + 1}")
        dues = {r.case_id: r.due for r in await rows(bot, t.assignments)}
        assert dues[a.id] == date(2026, 11, 30) and dues[c.id] == date(2026, 12, 10)
        assert sorted(set(dues.values())) == [
            date(2026, 11, 30),
            date(2026, 12, 2),
            date(2026, 12, 10),
        ]

        # Thursday 3 December: the first is 3 working days late, the Friday ones 1.
        bot.clock.set(datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI))
        await bot.say(li, "/my")
        page = bot.last_with_buttons(li)
        assert page["text"].startswith("在办事项（7） · 第1/2页\n")
        assert numbers_on(page["text"]) == [1, 3, 4, 5, 6]
        assert (
            "• 研判〔2026〕1号「甲」\n  待受理 · 延边州中级人民法院 · "
            "期限：2026年11月30日（周一） ⚠ 逾期3个工作日\n" in page["text"]
        )
        assert (
            "研判〔2026〕3号「乙1」\n  待受理 · 延边州中级人民法院 · 期限：2026年12月2日（周三） ⚠ 逾期1个工作日"
            in page["text"]
        )
        assert bot.labels(page)[-5:] == ["下一页 ▶", "• 全部", "待我办理", "我方提请", "已逾期"]
        await bot.press(li, "下一页 ▶", message=page)
        page = bot.fake.message(li, page["message_id"])
        assert numbers_on(page["text"]) == [7, 2]
        assert (
            "研判〔2026〕2号「丙」\n  已受理 · 延边州中级人民法院 · 期限：2026年12月10日（周四）\n"
            in (page["text"] + "\n")
        )

        # Overdue only: six, over two pages; the next page keeps the list.
        await bot.press(li, "已逾期", message=page)
        page = bot.fake.message(li, page["message_id"])
        assert page["text"].startswith("已逾期（6） · 第1/2页\n")
        assert numbers_on(page["text"]) == [1, 3, 4, 5, 6]
        assert "• 已逾期" in bot.labels(page)
        await bot.press(li, "下一页 ▶", message=page)
        page = bot.fake.message(li, page["message_id"])
        assert page["text"].startswith("已逾期（6） · 第2/2页\n")
        assert numbers_on(page["text"]) == [7]
        # Raised by us: all seven; waiting for the department: none (the court is to act).
        await bot.press(li, "我方提请", message=page)
        page = bot.fake.message(li, page["message_id"])
        assert page["text"].startswith("我方提请（7） · 第1/2页\n")
        await bot.press(li, "待我办理", message=page)
        page = bot.fake.message(li, page["message_id"])
        assert page["text"] == "待我办理（0）\n暂无此类事项。"

        # The court: Zhao waits on six, not on the one Wu handles; Wu on all seven.
        for user, expected in ((zhao, [1, 3, 4, 5, 6]), (wu, [1, 3, 4, 5, 6])):
            await bot.say(user, "/my")
            await bot.press(user, "待我办理", message=bot.last_with_buttons(user))
            shown = bot.last_with_buttons(user)["text"]
            assert numbers_on(shown) == expected
        assert bot.last_with_buttons(zhao)["text"].startswith("待我办理（6） · 第1/2页")
        assert bot.last_with_buttons(wu)["text"].startswith("待我办理（7） · 第1/2页")

        # The office sees every open matter in the same order, from the deadlines' index.
        office = admin(bot)
        await bot.say(office, "/my")
        page = bot.last_with_buttons(office)
        assert page["text"].startswith("在办事项（7） · 第1/2页\n")
        assert numbers_on(page["text"]) == [1, 3, 4, 5, 6]
        await bot.press(office, "已逾期", message=page)
        page = bot.fake.message(office, page["message_id"])
        assert page["text"].startswith("已逾期（6） · 第1/2页\n")

        # More information asked of the department: now it waits on the department, and
        # has no deadline running (it comes last).
        await bot.svc.act(clerk, a.id, None, "request_info", {"question": "请补充材料。"})
        await bot.say(li, "/my")
        await bot.press(li, "待我办理", message=bot.last_with_buttons(li))
        shown = bot.last_with_buttons(li)["text"]
        assert shown.startswith("待我办理（1）\n") and numbers_on(shown) == [1]
        await bot.say(li, "/my")
        await bot.press(li, "下一页 ▶", message=bot.last_with_buttons(li))
        assert numbers_on(bot.last_with_buttons(li)["text"]) == [2, 1]
        await bot.say(office, "/my")
        await bot.press(office, "下一页 ▶", message=bot.last_with_buttons(office))
        assert numbers_on(bot.last_with_buttons(office)["text"]) == [2, 1]


async def test_a_matter_with_several_addressees_is_listed_once_at_its_nearest_deadline(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await assistance.cast(bot)
        office, li = people["office"], people["li"]
        case_id = await assistance.seed(bot, ["CBS-NR", "CBS-ENV", "CBS-HOUSING"])
        await seed_case(bot, LI, "李明", "甲")  # to be acknowledged by Monday 30 November
        assert (
            len({r.due for r in await rows(bot, t.assignments, t.assignments.c.case_id == case_id)})
            == 1
        )
        await bot.say(office, "/my")
        shown = bot.last_with_buttons(office)["text"]
        assert shown.startswith("在办事项（2）\n")
        assert shown.count(assistance.NUMBER) == 1
        # The department's own request is due first, then the court's (2 December).
        assert shown.index("研判〔2026〕1号") < shown.index(assistance.NUMBER)
        assert "期限：2026年12月2日（周三）" in shown
        # Each agency sees it once too, with its own deadline.
        await bot.say(li, "/my")
        assert bot.last_with_buttons(li)["text"].count(assistance.NUMBER) == 1


async def test_an_agencys_reply_updates_its_own_copies_only(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await assistance.cast(bot)
        li, wang = people["li"], people["wang"]
        await assistance.seed(bot, ["CBS-NR", "CBS-ENV"])
        theirs = bot.last_with_buttons(wang)
        since = len(bot.fake.calls)
        await assistance.reply(bot, li, assistance.NR, "Assisted as asked", "已查询。")
        # The other agency may not see how this one answered: its notice is left alone.
        assert edits_of(bot, wang, since) == []
        assert bot.fake.message(wang, theirs["message_id"]) == theirs
        edits = await rows(bot, t.outbox, t.outbox.c.kind == "case_refresh")
        assert [e.chat_id for e in edits] == [LI]
