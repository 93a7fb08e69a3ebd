"""Upgrading: a database written by release 0.1 (``tests/fixtures/release-0.1.sqlite3``) is
migrated at start-up and keeps its matters, numbers, conversations, meetings and messages."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from bot.clock import ManualClock
from bot.domain.committee import Committee
from tests.conftest import SHANGHAI
from tests.flows import GROUP, LI, QIAN, WANG, ZHAO
from tests.scenario import running_bot

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "release-0.1.sqlite3"
OFFICE = 1001
NUMBERS = {
    "协调〔2026〕1号": "已受理",
    "研判〔2026〕1号": "已办结",
    "协调〔2026〕2号": "已退回",
    "研判〔2026〕2号": "待受理",
    "协调〔2026〕3号": "已办结",
    "研判〔2026〕3号": "待受理",
}


def upgraded(tmp_path: Path) -> str:
    target = tmp_path / "upgraded.sqlite3"
    shutil.copy(FIXTURE, target)
    return f"sqlite+aiosqlite:///{target}"


async def test_every_matter_and_its_history_survive_the_upgrade(
    committee: Committee, tmp_path: Path
) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, upgraded(tmp_path), clock) as bot:
        qian = bot.user(QIAN, "钱观察")
        for number, status in NUMBERS.items():
            await bot.say(qian, f"/case {number}")
            shown = bot.last_text(qian)
            assert number in shown and status in shown, shown
        await bot.say(qian, "/case 协调〔2026〕2号")
        assert "不属于行政争议受理范围，请通过信访渠道处理。" in bot.last_text(qian)
        await bot.say(qian, "/case 研判〔2026〕1号")
        assert "已出具法律意见" in bot.last_text(qian)
        await bot.say(qian, "/case 协调〔2026〕1号")
        shown = bot.last_text(qian)
        assert "张三" in shown and "2 个文件" in shown and "赵法官" in shown
        # The numbering goes on after the last number of each kind.
        li = bot.user(LI, "李明")
        await bot.say(li, "/my")
        assert "研判〔2026〕3号" in bot.last_text(li)


async def test_open_conversations_continue_after_the_upgrade(
    committee: Committee, tmp_path: Path
) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, upgraded(tmp_path), clock) as bot:
        # 王强 was asked for the reply date of his consultation.
        wang = bot.user(WANG, "王强")
        await bot.say(wang, "12月18日")
        await bot.press(wang, "完成")
        summary = bot.last_text(wang)
        assert "冰雪旅游节安全保障研判" in summary and "2026年12月18日" in summary
        await bot.press(wang, "提交")
        assert "研判〔2026〕4号" in bot.last_text(wang)
        # 赵法官 was asked why he returns 研判〔2026〕2号.
        zhao = bot.user(ZHAO, "赵法官")
        await bot.say(zhao, "材料不全，请补充项目批复文件后重新提请。")
        await bot.say(zhao, "/case 研判〔2026〕2号")
        assert "已退回" in bot.last_text(zhao)
        # The office was asked for the meeting's start time.
        office = bot.user(OFFICE, "办公室管理员")
        await bot.say(office, "15:00")
        assert "4/6" in bot.last_text(office)


async def test_pending_messages_go_out_once_after_the_upgrade(
    committee: Committee, tmp_path: Path
) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, upgraded(tmp_path), clock) as bot:
        group = bot.fake.group(GROUP, "长白山府院联动群", add_bot=True)
        # Telegram delivers private messages only to people who opened the chat before.
        await bot.say(bot.user(ZHAO, "赵法官"), "/whoami")
        await bot.say(bot.user(OFFICE, "办公室管理员"), "/whoami")
        await bot.flush_outbox()
        new_matter = [t for t in bot.texts(ZHAO) if "研判〔2026〕3号" in t]
        assert len(new_matter) == 1, bot.texts(ZHAO)
        assert "矿泉水源地保护区划定研判" in new_matter[0]
        assert any("研判〔2026〕3号" in t for t in bot.texts(group))
        # The message that timed out goes again, saying it may be a repeat.
        assert any("重新发送" in t for t in bot.texts(ZHAO))
        before = len(bot.fake.calls_of("sendMessage"))
        await bot.flush_outbox()
        assert len(bot.fake.calls_of("sendMessage")) == before


async def test_the_buttons_of_notices_sent_before_the_upgrade_still_act(
    committee: Committee, tmp_path: Path
) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, upgraded(tmp_path), clock) as bot:
        zhao = bot.user(ZHAO, "赵法官")
        await bot.say(zhao, "/whoami")
        chat = bot.fake.last_message_to(zhao)
        # 研判〔2026〕3号 (id 6) waits for the court; its 0.1 notice carries v:ack:6.
        await bot.press(zhao, message=chat, data="v:ack:6")
        assert bot.alerts(zhao)[-1] == "已受理 研判〔2026〕3号。"
        assert (await bot.svc.get_case(6)).status == "acknowledged"
        # 登记结果 (v:res:6) opens the outcome question of the form engine.
        await bot.press(zhao, message=chat, data="v:res:6")
        await bot.press(zhao, "已出具法律意见")
        assert (await bot.svc.get_case(6)).outcome == "opinion_given"


async def test_a_conversation_carried_over_answers_its_old_buttons_with_its_question(
    committee: Committee, tmp_path: Path
) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, upgraded(tmp_path), clock) as bot:
        wang = bot.user(WANG, "王强")
        await bot.say(wang, "/whoami")
        # 王强's reply-date question of 0.1 had "No specific date" as r:skip.
        await bot.press(wang, message=bot.fake.last_message_to(wang), data="r:skip")
        assert bot.alerts(wang)[-1] == "该按钮来自旧版本，请在此作答。"
        question = bot.last_with_buttons(wang)
        assert "期望答复日期" in question["text"]
        await bot.press(wang, "不指定日期", message=question)
        await bot.press(wang, "完成")
        assert "冰雪旅游节安全保障研判" in bot.last_text(wang)
