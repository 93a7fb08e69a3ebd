"""Upgrading: a database written by release 0.1 (``tests/fixtures/release-0.1.sqlite3``) is
migrated at start-up and keeps its matters, numbers, conversations, meetings and messages.

On PostgreSQL the same rows are loaded into a database brought to release 0.1's revision
(what an office that ran 0.1 on PostgreSQL has), which the bot then upgrades at start-up."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.domain.committee import Committee
from tests.conftest import POSTGRES, SHANGHAI
from tests.flows import GROUP, LI, QIAN, STRANGER, WANG, ZHAO
from tests.postgres import PostgresServer, load_sqlite_database
from tests.scenario import running_bot

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "release-0.1.sqlite3"
FIXTURE_REVISION = "0004"  # release 0.1's schema
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


@pytest.fixture
def old_release(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a database as release 0.1 left it, on the database this run is on."""
    if database != POSTGRES:
        yield upgraded(tmp_path)
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    with server.fresh_database(migrated=False) as url:
        load_sqlite_database(FIXTURE, url, FIXTURE_REVISION)
        yield url


@pytest.mark.postgres
async def test_every_matter_and_its_history_survive_the_upgrade(
    committee: Committee, old_release: str
) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, old_release, clock) as bot:
        qian = bot.user(QIAN, "钱观察")
        for number, status in NUMBERS.items():
            await bot.say(qian, f"/case {number}")
            shown = bot.last_text(qian)
            assert number in shown and status in shown, shown
        await bot.say(qian, "/case 协调〔2026〕2号")
        assert "不属于行政争议受理范围，请通过信访渠道处理。" in bot.last_text(qian)
        await bot.say(qian, "/case 研判〔2026〕1号")
        assert "已出具研判意见" in bot.last_text(qian)
        await bot.say(qian, "/case 协调〔2026〕1号")
        shown = bot.last_text(qian)
        assert "2个文件" in shown and "赵法官" in shown
        # The applicant is personal data: the raiser sees and finds it, an observer neither.
        assert "张三" not in shown
        await bot.say(qian, "/find 张三")
        assert "协调〔2026〕1号" not in bot.last_text(qian)
        li = bot.user(LI, "李明")
        await bot.say(li, "/case 协调〔2026〕1号")
        assert "申请人：张三" in bot.last_text(li)
        await bot.say(li, "/find 张三")
        assert "协调〔2026〕1号" in bot.last_text(li)
        # The numbering goes on after the last number of each kind.
        await bot.say(li, "/my")
        assert "研判〔2026〕3号" in bot.last_text(li)


@pytest.mark.postgres
async def test_open_conversations_continue_after_the_upgrade(
    committee: Committee, old_release: str
) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, old_release, clock) as bot:
        # 王强 was asked for the reply date of his consultation.
        wang = bot.user(WANG, "王强")
        await bot.say(wang, "12月18日")
        await bot.press(wang, "完成")
        summary = bot.last_text(wang)
        assert "冰雪旅游节安全保障研判" in summary and "2026年12月18日（周五）" in summary
        await bot.press(wang, "提请")
        assert "研判〔2026〕4号" in bot.last_text(wang)
        # 赵法官 was asked why he returns 研判〔2026〕2号. His notice, sent by the release
        # before (this fake Telegram never saw it), is brought up to date: Telegram answers
        # that it has no such message, and the edit is done with.
        zhao = bot.user(ZHAO, "赵法官")
        bot.allowed_errors.add(400)
        await bot.say(zhao, "材料不全，请补充项目批复文件后重新提请。")
        bot.allowed_errors.discard(400)
        await bot.say(zhao, "/case 研判〔2026〕2号")
        assert "已退回" in bot.last_text(zhao)
        async with bot.svc.db.read() as conn:
            edits = (
                await conn.exec_driver_sql(
                    "SELECT chat_id, status FROM outbox WHERE kind = 'case_refresh'"
                )
            ).all()
        assert [tuple(e) for e in edits] == [(ZHAO, "sent")]
        # The office was asked for the meeting's start time.
        office = bot.user(OFFICE, "办公室管理员")
        await bot.say(office, "15:00")
        assert "4/6" in bot.last_text(office)


@pytest.mark.postgres
async def test_pending_messages_go_out_once_after_the_upgrade(
    committee: Committee, old_release: str
) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, old_release, clock) as bot:
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


@pytest.mark.postgres
async def test_the_buttons_of_notices_sent_before_the_upgrade_still_act(
    committee: Committee, old_release: str
) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, old_release, clock) as bot:
        zhao = bot.user(ZHAO, "赵法官")
        await bot.say(zhao, "/whoami")
        chat = bot.fake.last_message_to(zhao)
        # 研判〔2026〕3号 (id 6) waits for the court; its 0.1 notice carries v:ack:6.
        await bot.press(zhao, message=chat, data="v:ack:6")
        assert bot.alerts(zhao)[-1] == "已受理研判〔2026〕3号。"
        assert (await bot.svc.get_case(6)).status == "acknowledged"
        # 登记结果 (v:res:6) opens the outcome question of the form engine.
        await bot.press(zhao, message=chat, data="v:res:6")
        await bot.press(zhao, "已出具研判意见")
        assert (await bot.svc.get_case(6)).outcome == "opinion_given"


@pytest.mark.postgres
async def test_a_conversation_carried_over_answers_its_old_buttons_with_its_question(
    committee: Committee, old_release: str
) -> None:
    clock = ManualClock(datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, old_release, clock) as bot:
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


# The links release 0.1 stored in plain text; the last one was never used.
FIXTURE_TOKENS = (
    "SUPLHg9SS_7lugHg",
    "sVJG-pd0BePSYS_4",
    "-WZ7q9tYqLbdjzg9",
    "pEVwp30DMsDv3oyV",
    "yPiaOb5RpH3mWh9A",
    "FRBLcmUXL2RWynPX",
    "_SoUxNcvS_nITjCo",
)
REVOKED_ADMINS_LINK = "Rv0kEdAdm1nL1nk_"


async def test_invite_links_survive_the_upgrade_as_hashes(
    committee: Committee, tmp_path: Path
) -> None:
    url = upgraded(tmp_path)
    path = tmp_path / "upgraded.sqlite3"
    # Release 0.1 did not withdraw the links of an office admin it revoked: a second admin,
    # revoked after handing out a link that has not expired yet.
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO members (user_id, org_code, role, display_name, joined_at, invited_by,"
            " revoked_at, revoked_by) VALUES (1002, 'CBS-OFFICE', 'office', '韩主任',"
            " '2026-11-16 01:30:00.000000', 1001, '2026-11-16 03:00:00.000000', 1001)"
        )
        raw.execute(
            "INSERT INTO invites (token, org_code, role, created_by, created_at, expires_at)"
            f" VALUES ('{REVOKED_ADMINS_LINK}', 'CBS-HRSS', 'department_head', 1002,"
            " '2026-11-16 02:00:00.000000', '2026-11-19 02:00:00.000000')"
        )
    raw.close()
    # Before the unused link of 0.1 expires (2026-11-19 09:30 in Shanghai).
    clock = ManualClock(datetime(2026, 11, 17, 10, 0, tzinfo=SHANGHAI))
    async with running_bot(committee, url, clock) as bot:
        newcomer = bot.user(2003, "张新")
        await bot.say(newcomer, "/start i__SoUxNcvS_nITjCo")
        assert bot.texts(newcomer)[0] == (
            "✅ 欢迎！您已以部门负责人身份加入长白山管委会市场监督管理局。"
        )
        stranger = bot.user(STRANGER, "路人甲")
        await bot.say(stranger, f"/start i_{REVOKED_ADMINS_LINK}")
        assert bot.texts(stranger) == ["⚠ 该邀请链接已被收回。请联系府院联动办公室重新获取。"]
        # A link already used stays used.
        await bot.say(stranger, "/start i_SUPLHg9SS_7lugHg")
        assert bot.last_text(stranger) == "⚠ 该邀请链接已被使用。请联系府院联动办公室重新获取。"
        office = bot.user(OFFICE, "办公室管理员")
        await bot.say(office, "/invites")
        assert bot.last_text(office) == "有效邀请链接（0） · 第1/1页\n\n暂无有效的邀请链接。"

    with sqlite3.connect(path) as raw:
        members = raw.execute(
            "SELECT user_id, org_code, invited_by FROM members WHERE revoked_at IS NULL"
            " AND user_id IN (2003, 9001)"
        ).fetchall()
        hashes = dict(raw.execute("SELECT id, token_hash FROM invites").fetchall())
        tables = [r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        stored = "\n".join(
            repr(row) for table in tables for row in raw.execute(f'SELECT * FROM "{table}"')
        )
    raw.close()
    assert members == [(2003, "CBS-MARKET", 1001)]
    assert [hashes[i] for i in range(1, 8)] == [
        hashlib.sha256(token.encode()).hexdigest() for token in FIXTURE_TOKENS
    ]
    for token in (*FIXTURE_TOKENS, REVOKED_ADMINS_LINK):
        assert token not in stored
        assert token.encode() not in path.read_bytes()  # not even in a freed page
