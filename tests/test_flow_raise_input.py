"""The raise conversation refuses what it cannot use, says why, and keeps the draft as it was."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.domain.committee import Committee
from bot.domain.models import Draft, Role
from bot.storage import schema as t
from tests.flows import (
    LI,
    QIAN,
    ZHAO,
    admin,
    bind_group,
    member,
    rows,
)
from tests.scenario import Harness, running_bot

EMPTY = "⚠ 内容为空，请发送文字。"
SEND_TEXT = "⚠ 请发送文字，或发送 /cancel 取消。"
USE_BUTTONS = "⚠ 请使用上方按钮选择，或发送 /cancel 取消。"
SEND_FILES = "⚠ 请发送文件或照片，或点击「完成」。"
CANCELLED = "已取消，未提请任何事项。"
STALE = "该按钮已失效。"
HINT = "未能理解您的消息。请使用菜单或发送 /help。"


async def draft_of(bot: Harness, user_id: int = LI) -> Draft | None:
    return await bot.svc.load_draft(user_id, "form")


async def no_cases(bot: Harness) -> bool:
    return await rows(bot, t.cases) == [] and await rows(bot, t.counters) == []


async def start(bot: Harness) -> None:
    """Li is a department head and Zhao a judge of the Yanbian court; Li opens /new."""
    li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
    await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
    await bot.say(li, "/new")


async def to_title(bot: Harness) -> None:
    await start(bot)
    await bot.press(bot.user(LI, "李明"), "重大事项研判")


async def to_addressee(bot: Harness) -> None:
    await to_title(bot)
    li = bot.user(LI, "李明")
    await bot.say(li, "滑雪场扩建项目土地租赁模式法律风险")
    await bot.say(li, "拟以长期租赁方式供地，请研判法律风险。")


async def to_date(bot: Harness) -> None:
    await to_addressee(bot)
    li = bot.user(LI, "李明")
    await bot.press(li, "延边中院")
    await bot.press(li, "一般")


async def to_files(bot: Harness) -> None:
    await to_date(bot)
    await bot.press(bot.user(LI, "李明"), "不指定日期")


async def to_summary(bot: Harness) -> None:
    await to_files(bot)
    await bot.press(bot.user(LI, "李明"), "完成")


# ---------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    "blank",
    ["   ", "\u200b", "\u200b\u200c\u200d\u2060\ufeff", " \u200b \u202e ", "\t\t"],
    ids=["spaces", "zero-width", "invisible-mix", "spaces-and-invisibles", "tabs"],
)
async def test_a_blank_title_is_refused(committee: Committee, db_url: str, blank: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_title(bot)
        li = bot.user(LI, "李明")
        # The kind's question became the first question, the kind chosen kept above it.
        assert (
            bot.last_text(li)
            == "✔ 重大事项研判\n\n1/6 · 标题\n请用一行文字发送事项标题。\n最多100字。"
        )
        before = await draft_of(bot)
        await bot.say(li, blank)
        assert bot.last_text(li) == EMPTY
        assert await draft_of(bot) == before
        assert before is not None and before.state == "AWAITING_TEXT"
        assert before.data["field"] == "title" and before.data["values"] == {}


async def test_a_title_over_100_characters_is_refused(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_title(bot)
        li = bot.user(LI, "李明")
        assert "最多100字。" in bot.last_text(li)
        before = await draft_of(bot)
        await bot.say(li, "征" * 101)
        assert bot.last_text(li) == "⚠ 内容过长：共101字，最多100字。请精简后重新发送。"
        assert await draft_of(bot) == before
        # Exactly 100 is fine, and the conversation moves on to the description.
        await bot.say(li, "征" * 100)
        assert bot.last_text(li).startswith("2/6 · 情况说明")
        draft = await draft_of(bot)
        assert draft is not None and draft.data["values"] == {"title": "征" * 100}


async def test_a_photo_or_a_file_where_text_is_expected(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_title(bot)
        li = bot.user(LI, "李明")
        before = await draft_of(bot)
        await bot.send_photo(li)
        assert bot.last_text(li) == SEND_TEXT
        await bot.send_document(li, "标题.docx", 30_000)
        assert bot.last_text(li) == SEND_TEXT
        assert await draft_of(bot) == before


async def test_text_typed_where_a_button_is_expected(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await start(bot)
        li = bot.user(LI, "李明")
        before = await draft_of(bot)
        await bot.say(li, "重大事项研判")  # typed, not pressed
        assert bot.last_text(li) == USE_BUTTONS
        assert await draft_of(bot) == before

        await bot.press(li, "重大事项研判")
        await bot.say(li, "滑雪场扩建项目")
        await bot.say(li, "请研判。")
        before = await draft_of(bot)
        await bot.say(li, "延边州中级人民法院")
        assert bot.last_text(li) == USE_BUTTONS
        assert await draft_of(bot) == before

        await bot.press(li, "延边中院")
        before = await draft_of(bot)
        await bot.say(li, "紧急")
        assert bot.last_text(li) == USE_BUTTONS
        assert await draft_of(bot) == before

        await bot.press(li, "紧急")
        await bot.press(li, "不指定日期")
        before = await draft_of(bot)
        await bot.say(li, "没有附件")
        assert bot.last_text(li) == SEND_FILES
        assert await draft_of(bot) == before

        await bot.press(li, "完成")
        before = await draft_of(bot)
        assert before is not None and before.state == "AWAITING_CONFIRMATION"
        await bot.say(li, "提请")  # the summary wants a button, not more files
        assert bot.last_text(li) == USE_BUTTONS
        assert await draft_of(bot) == before
        await bot.send_document(li, "补充材料.pdf", 10_000)
        assert bot.last_text(li) == USE_BUTTONS
        assert await draft_of(bot) == before

        await bot.press(li, "修改某项")
        before = await draft_of(bot)
        await bot.say(li, "标题")
        assert bot.last_text(li) == USE_BUTTONS
        assert await draft_of(bot) == before
        assert await no_cases(bot)


# ---------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("2026-11-01", "⚠ 该日期已过，请选择今天或之后的日期。"),
        ("2026-11-24", "⚠ 该日期已过，请选择今天或之后的日期。"),
        ("下周五", "⚠ 无法识别该日期。请使用按钮选择，或按 2026-12-31 的格式输入。"),
        ("12/3/2026", "⚠ 无法识别该日期。请使用按钮选择，或按 2026-12-31 的格式输入。"),
        ("2026-02-30", "⚠ 该日期不存在，请核对月份和日期。"),
        ("2027年2月29日", "⚠ 该日期不存在，请核对月份和日期。"),
        ("2月30日", "⚠ 该日期不存在，请核对月份和日期。"),
        ("2028-01-01", "⚠ 该日期距今超过一年，请选择更早的日期。"),
    ],
)
async def test_a_typed_date_that_cannot_be_used(
    committee: Committee, db_url: str, typed: str, message: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_date(bot)
        li = bot.user(LI, "李明")
        before = await draft_of(bot)
        assert before is not None and before.state == "AWAITING_DATE"
        await bot.say(li, typed)
        assert bot.last_text(li) == message
        assert await draft_of(bot) == before


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("12月3日", "2026-12-03"),
        ("2026-12-31", "2026-12-31"),
        ("２０２６年１２月１日", "2026-12-01"),
        ("2026-11-25", "2026-11-25"),  # today is allowed
        ("3月1日", "2027-03-01"),  # without a year: the next one
    ],
)
async def test_a_typed_date_is_taken(
    committee: Committee, db_url: str, typed: str, stored: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_date(bot)
        li = bot.user(LI, "李明")
        await bot.say(li, typed)
        assert bot.last_text(li).startswith("6/6 · 附件（选填）")
        draft = await draft_of(bot)
        assert draft is not None and draft.data["values"]["reply_by"] == stored
        await bot.press(li, "完成")
        day = date.fromisoformat(stored)
        assert f"期望答复日期：{day.year}年{day.month}月{day.day}日" in bot.last_text(li)


async def test_a_date_picked_from_the_calendar(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_date(bot)
        li = bot.user(LI, "李明")
        question = bot.last_with_buttons(li)
        # Wednesday 25 November: the quick choices are counted in working days.
        assert bot.labels(question)[:5] == [
            "11月30日（周一）· 3个工作日",
            "12月2日（周三）· 5个工作日",
            "12月9日（周三）· 10个工作日",
            "12月23日（周三）· 20个工作日",
            "📅 选择日期",
        ]
        before = await draft_of(bot)
        await bot.press(li, "📅 选择日期", message=question)
        november = bot.fake.message(li, question["message_id"])
        assert november["text"] == question["text"]  # only the keyboard changes
        nav = bot.fake.buttons(november)[0]
        assert [label for label, _ in nav] == ["·", "2026年11月", "▶"]  # no way back in time
        assert [label for label, _ in bot.fake.buttons(november)[1]] == list("一二三四五六日")
        # Days before today cannot be chosen; today and later can.
        assert "24" not in bot.labels(november) and "25" in bot.labels(november)
        assert before is not None
        # The question's buttons carry the conversation's token and the question's number.
        key = nav[2][1].removesuffix(":cal:2026-12")
        assert key.startswith(f"f:{before.data['token']}.")
        await bot.press(li, message=november, data=f"{key}:noop")  # a "·" cell
        assert bot.alerts(li)[-1] == ""
        assert await draft_of(bot) == before

        await bot.press(li, "▶", message=november)
        december = bot.fake.message(li, question["message_id"])
        assert [label for label, _ in bot.fake.buttons(december)[0]] == ["◀", "2026年12月", "▶"]
        assert bot.labels(december).count("1") == 1 and "31" in bot.labels(december)
        assert await draft_of(bot) == before
        # A day pressed on an old month's keyboard that is now in the past is refused.
        await bot.press(li, message=december, data=f"{key}:date:2026-11-20")
        assert bot.alerts(li)[-1] == "该日期已不可选。"
        assert bot.fake.callback_answers(li)[-1]["show_alert"] is True
        assert await draft_of(bot) == before

        await bot.press(li, "15", message=december)
        # The calendar's message became the next question, the date chosen kept above it.
        answered = bot.fake.message(li, question["message_id"])
        assert answered["text"].startswith(
            "✔ 接收单位：延边州中级人民法院\n✔ 紧急程度：一般\n✔ 期望答复日期：2026年12月15日（周二）"
            "\n\n6/6 · 附件"
        )
        assert bot.labels(answered) == ["✔ 完成", "✖ 取消"]
        draft = await draft_of(bot)
        assert draft is not None and draft.data["values"]["reply_by"] == "2026-12-15"
        assert draft.data["field"] == "documents"


async def test_the_calendar_goes_back_to_the_quick_choices(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_date(bot)
        li = bot.user(LI, "李明")
        question = bot.last_with_buttons(li)
        await bot.press(li, "📅 选择日期", message=question)
        await bot.press(li, "返回", message=bot.fake.message(li, question["message_id"]))
        back = bot.fake.message(li, question["message_id"])
        assert bot.labels(back) == bot.labels(question)
        await bot.press(li, "5个工作日", message=back)
        draft = await draft_of(bot)
        assert draft is not None and draft.data["values"]["reply_by"] == "2026-12-02"


async def test_a_double_tap_on_the_calendar_arrow(
    committee: Committee, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_date(bot)
        li = bot.user(LI, "李明")
        question = bot.last_with_buttons(li)
        await bot.press(li, "📅 选择日期", message=question)
        november = bot.fake.message(li, question["message_id"])
        before = await draft_of(bot)
        bot.fake.press(li, november, "▶")
        bot.fake.press(li, november, "▶")  # the second tap still sees November
        bot.allowed_errors.add(400)  # Telegram refuses the identical second edit
        await bot.deliver()
        bot.allowed_errors.discard(400)
        december = bot.fake.message(li, question["message_id"])
        assert bot.fake.buttons(december)[0][1][0] == "2026年12月"
        assert bot.alerts(li)[-2:] == ["", ""]
        assert await draft_of(bot) == before
        assert not [r for r in caplog.records if r.levelname == "ERROR"]
        await bot.press(li, "15", message=december)
        draft = await draft_of(bot)
        assert draft is not None and draft.data["values"]["reply_by"] == "2026-12-15"


# ---------------------------------------------------------------------------- files


async def test_a_document_over_20_mb_is_not_attached(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_files(bot)
        li = bot.user(LI, "李明")
        before = await draft_of(bot)
        await bot.send_document(li, "航拍视频.zip", 20 * 1024 * 1024 + 1)
        assert bot.last_text(li) == "⚠ 该文件超过20 MB，未能添加。"
        assert await draft_of(bot) == before
        await bot.send_document(li, "规划图.pdf", 20 * 1024 * 1024)
        assert bot.last_text(li) == "📎 已收到1个文件（最多10个）。可继续发送，或点击「完成」。"
        draft = await draft_of(bot)
        assert draft is not None
        assert [f["file_name"] for f in draft.data["values"]["documents"]] == ["规划图.pdf"]


async def test_an_eleventh_file_is_refused(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_files(bot)
        li = bot.user(LI, "李明")
        for n in range(1, 11):
            if n % 2:
                await bot.send_document(li, f"材料{n}.pdf", 50_000)
            else:
                await bot.send_photo(li)
            assert bot.last_text(li) == (
                f"📎 已收到{n}个文件（最多10个）。可继续发送，或点击「完成」。"
            )
        before = await draft_of(bot)
        await bot.send_document(li, "材料11.pdf", 50_000)
        assert bot.last_text(li) == "⚠ 最多可添加10个文件。请点击「完成」继续。"
        assert await draft_of(bot) == before
        assert before is not None and len(before.data["values"]["documents"]) == 10
        done = bot.last_with_buttons(li)
        await bot.press(li, "完成", message=done)
        # The message whose Done was pressed became the summary.
        assert "附件：10个文件" in bot.fake.message(li, done["message_id"])["text"]
        await bot.press(li, "提请")
        files = await rows(bot, t.case_files)
        assert [f.media for f in files] == ["document", "photo"] * 5
        assert files[0].file_name == "材料1.pdf" and files[1].file_name is None


# ---------------------------------------------------------------------------- summary


async def test_editing_a_field_from_the_summary(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_date(bot)
        li = bot.user(LI, "李明")
        await bot.say(li, "12月3日")
        await bot.send_document(li, "租赁方案.pdf", 80_000)
        await bot.press(li, "完成")
        summary = bot.last_with_buttons(li)
        assert "标题：滑雪场扩建项目土地租赁模式法律风险" in summary["text"]
        assert bot.labels(summary) == ["📨 提请", "✏ 修改某项", "✖ 取消"]
        before = await draft_of(bot)
        assert before is not None

        await bot.press(li, "修改某项", message=summary)
        menu = bot.fake.message(li, summary["message_id"])
        assert menu["text"] == "要修改哪一项？"
        assert bot.labels(menu) == [
            "标题",
            "情况说明",
            "接收单位",
            "紧急程度",
            "期望答复日期",
            "附件",
            "↩ 返回",
        ]
        await bot.press(li, "标题", message=menu)
        ask = bot.last_text(li)
        assert ask == (
            "✏ 标题\n请用一行文字发送事项标题。\n最多100字。\n"
            "当前内容：滑雪场扩建项目土地租赁模式法律风险"
        )
        await bot.say(li, "滑雪场二期扩建用地法律风险研判")

        summary = bot.last_with_buttons(li)
        assert "标题：滑雪场二期扩建用地法律风险研判" in summary["text"]
        assert "滑雪场扩建项目土地租赁模式法律风险" not in summary["text"]
        for kept in (
            "情况说明：拟以长期租赁方式供地，请研判法律风险。",
            "接收单位：延边州中级人民法院",
            "紧急程度：一般",
            "期望答复日期：2026年12月3日（周四）",
            "附件：1个文件",
        ):
            assert kept in summary["text"]
        after = await draft_of(bot)
        assert after is not None and after.state == "AWAITING_CONFIRMATION"
        assert after.data["values"] == {
            **before.data["values"],
            "title": "滑雪场二期扩建用地法律风险研判",
        }
        assert after.data["token"] == before.data["token"]

        # A choice field goes straight back to the summary as well.
        await bot.press(li, "修改某项", message=summary)
        await bot.press(li, "紧急程度")
        await bot.press(li, "特急")
        assert "紧急程度：特急" in bot.last_text(li)
        assert "标题：滑雪场二期扩建用地法律风险研判" in bot.last_text(li)

        await bot.press(li, "提请")
        (case,) = await rows(bot, t.cases)
        assert case.title == "滑雪场二期扩建用地法律风险研判"
        assert case.fields["urgency"] == "critical"
        assert case.fields["reply_by"] == date(2026, 12, 3).isoformat()


async def test_back_from_the_field_menu_changes_nothing(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_summary(bot)
        li = bot.user(LI, "李明")
        before = await draft_of(bot)
        summary_text = bot.last_text(li)
        await bot.press(li, "修改某项")
        await bot.press(li, "返回")
        assert bot.last_text(li) == summary_text
        after = await draft_of(bot)
        assert after is not None and before is not None
        assert after.data["values"] == before.data["values"]
        assert after.state == "AWAITING_CONFIRMATION"


async def test_a_reply_date_that_passed_while_the_summary_was_open(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_date(bot)
        li = bot.user(LI, "李明")
        await bot.say(li, "2026-11-25")  # today
        await bot.press(li, "完成")
        summary = bot.last_with_buttons(li)
        bot.clock.advance(timedelta(days=1))  # the summary stays open overnight
        before = len(bot.texts(li))
        await bot.press(li, "提请", message=summary)
        shown = bot.new_texts(li, before)
        assert shown[0] == "⚠ 该日期已过，请选择今天或之后的日期。"
        # The bot asks for that date again instead of showing the same summary.
        assert shown[1].startswith("✏ 期望答复日期（选填）\n")
        assert shown[1].endswith("当前内容：2026年11月25日（周三）")
        assert len(shown) == 2
        assert await no_cases(bot)
        draft = await draft_of(bot)
        assert draft is not None and draft.state == "AWAITING_DATE"
        await bot.say(li, "12月1日")
        assert "期望答复日期：2026年12月1日（周二）" in bot.last_text(li)
        await bot.press(li, "提请")
        (case,) = await rows(bot, t.cases)
        assert case.fields["reply_by"] == date(2026, 12, 1).isoformat()


# ---------------------------------------------------------------------------- cancel & /new


STEPS = {
    "kind": start,
    "title": to_title,
    "addressee": to_addressee,
    "date": to_date,
    "files": to_files,
    "summary": to_summary,
}


@pytest.mark.parametrize("how", ["button", "command"])
@pytest.mark.parametrize("step", list(STEPS))
async def test_cancel_discards_the_draft(
    committee: Committee, db_url: str, step: str, how: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await STEPS[step](bot)
        li = bot.user(LI, "李明")
        assert await draft_of(bot) is not None
        if how == "button":
            await bot.press(li, "取消")
        else:
            await bot.say(li, "/cancel")
        assert bot.last_text(li) == CANCELLED
        assert await draft_of(bot) is None
        assert await no_cases(bot)
        assert bot.texts(ZHAO)[-1].startswith("长白山府院联动工作委员会")  # only the help
        # The conversation is over: the next text is not taken as an answer.
        await bot.say(li, "滑雪场扩建项目")
        assert bot.last_text(li) == HINT
        await bot.say(li, "/cancel")
        assert bot.last_text(li) == "当前没有可取消的操作。"
        assert await draft_of(bot) is None


async def test_cancel_from_the_field_menu(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_summary(bot)
        li = bot.user(LI, "李明")
        await bot.press(li, "修改某项")
        await bot.say(li, "/cancel")
        assert bot.last_text(li) == CANCELLED
        assert await draft_of(bot) is None and await no_cases(bot)


async def test_new_while_a_draft_is_open_keeps_it(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await start(bot)
        li = bot.user(LI, "李明")
        before = await draft_of(bot)
        await bot.say(li, "/new")
        assert bot.last_text(li) == "⚠ 请先完成上方的选择，或发送 /cancel 取消。"
        assert await draft_of(bot) == before

        await bot.press(li, "重大事项研判")
        await bot.say(li, "滑雪场扩建项目")
        before = await draft_of(bot)
        await bot.say(li, "/new")
        assert bot.last_text(li).startswith(
            "您有一个正在填写的事项。请在此继续，或发送 /cancel 放弃。\n\n2/6 · 情况说明"
        )
        assert await draft_of(bot) == before
        await bot.say(li, "请研判。")  # still taken as the description
        draft = await draft_of(bot)
        assert draft is not None
        assert draft.data["values"] == {"title": "滑雪场扩建项目", "description": "请研判。"}

        await bot.press(li, "延边中院")
        await bot.press(li, "一般")
        await bot.press(li, "不指定日期")
        await bot.press(li, "完成")
        before = await draft_of(bot)
        await bot.say(li, "/new")
        summary = bot.last_with_buttons(li)
        assert summary["text"].startswith(
            "您有一个正在填写的事项。请在此继续，或发送 /cancel 放弃。"
        )
        assert "标题：滑雪场扩建项目" in summary["text"]
        after = await draft_of(bot)
        assert after is not None and before is not None
        assert (after.state, after.data) == (before.state, before.data)
        await bot.press(li, "提请", message=summary)
        (case,) = await rows(bot, t.cases)
        assert case.title == "滑雪场扩建项目"


async def test_submit_pressed_twice_records_one_matter(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_summary(bot)
        li = bot.user(LI, "李明")
        summary = bot.last_with_buttons(li)
        # Two taps before the bot answered the first: both updates are already queued.
        bot.fake.press(li, summary, "提请")
        bot.fake.press(li, summary, "提请")
        # The second tap still carries the keyboard the first one removed, so the bot's
        # attempt to remove it again is refused as "not modified" (and ignored by the bot).
        bot.allowed_errors.add(400)
        calls_before = len(bot.fake.calls)
        await bot.deliver()
        bot.allowed_errors.discard(400)
        refused = [c for c in bot.fake.calls[calls_before:] if not c.ok]
        assert [(c.method, "not modified" in c.response["description"]) for c in refused] == [
            ("editMessageReplyMarkup", True)
        ]
        assert bot.alerts(li)[-2:] == [
            "已提请：研判〔2026〕1号",
            "已提请过，编号为研判〔2026〕1号。",
        ]
        assert [text for text in bot.texts(li) if text.startswith("✅ 已提请")] == [
            bot.last_text(li)
        ]
        assert bot.last_text(li).startswith("✅ 已提请。事项编号为研判〔2026〕1号。")
        (case,) = await rows(bot, t.cases)
        assert case.number == "研判〔2026〕1号"
        (counter,) = await rows(bot, t.counters)
        assert counter.value == 1
        assert len([e for e in await rows(bot, t.events) if e.action == "submitted"]) == 1
        assert sum("研判〔2026〕1号" in text for text in bot.texts(ZHAO)) == 1
        # Later, on the same old message: the same answer.
        await bot.press(li, message=summary, data=bot.fake.buttons(summary)[0][0][1])
        assert bot.alerts(li)[-1] == "已提请过，编号为研判〔2026〕1号。"
        assert len(await rows(bot, t.cases)) == 1


async def test_a_button_of_a_cancelled_conversation(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_addressee(bot)
        li = bot.user(LI, "李明")
        question = bot.last_with_buttons(li)
        (court,) = [d for row in bot.fake.buttons(question) for x, d in row if x == "延边中院"]
        await bot.say(li, "/cancel")
        # /cancel took the question's buttons away; a client that still shows them sends:
        assert "reply_markup" not in bot.fake.message(li, question["message_id"])
        await bot.press(li, message=question, data=court)
        assert bot.alerts(li)[-1] == STALE
        assert await draft_of(bot) is None

        await bot.say(li, "/new")
        await bot.press(li, "重大事项研判")
        await bot.say(li, "滑雪场扩建项目")
        await bot.say(li, "请研判。")
        await bot.press(li, "延边中院")
        await bot.press(li, "一般")
        await bot.press(li, "不指定日期")
        await bot.press(li, "完成")
        summary = bot.last_with_buttons(li)
        (submit,) = [d for row in bot.fake.buttons(summary) for x, d in row if "提请" in x]
        await bot.say(li, "/cancel")
        assert "reply_markup" not in bot.fake.message(li, summary["message_id"])
        await bot.press(li, message=summary, data=submit)
        assert bot.alerts(li)[-1] == STALE
        assert "reply_markup" not in bot.fake.message(li, summary["message_id"])
        assert await no_cases(bot) and await draft_of(bot) is None


async def test_court_staff_cannot_raise(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        qian = await member(bot, QIAN, "钱观察", "CBS-ADMIN", Role.OBSERVER)
        await bot.say(qian, "/new")
        assert (
            bot.last_text(qian) == "⚠ 您的角色不能提请事项，仅部门负责人和府院联动办公室可以提请。"
        )
        assert await draft_of(bot, qian.id) is None
        # The help does not offer /new to them either.
        assert "/new" not in bot.texts(qian)[1]
        # Court staff raise only the court-side mechanisms, never a department's matter.
        await bot.say(zhao, "/new")
        offered = bot.labels(bot.last_with_buttons(zhao))
        assert "重大事项研判" not in offered and "行政争议协调化解" not in offered
        await bot.say(zhao, "/cancel")
        assert await draft_of(bot, ZHAO) is None
        # A forged kind button does not open a conversation for them.
        await bot.press(
            zhao, message=bot.fake.last_message_to(zhao), data="f:0123456789ab:kind:referral"
        )
        assert bot.alerts(zhao)[-1] == STALE
        assert await draft_of(bot, ZHAO) is None


async def test_new_in_a_group_points_to_the_private_chat(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        zhang = await member(bot, 2003, "张局长", "CBS-ENV", Role.DEPARTMENT_HEAD)
        await to_title(bot)
        li = bot.user(LI, "李明")
        before = await draft_of(bot)
        group = await bind_group(bot)
        for user in (zhang, li):
            await bot.say(user, "/new", chat=group)
            assert (
                bot.last_text(group) == "请在与我的私聊中使用此功能：https://t.me/fuyuan_test_bot"
            )
        assert await draft_of(bot, zhang.id) is None
        assert await draft_of(bot) == before
        # Li's private conversation goes on where it was.
        await bot.say(li, "滑雪场扩建项目")
        draft = await draft_of(bot)
        assert draft is not None and draft.data["values"] == {"title": "滑雪场扩建项目"}
        assert [d.user_id for d in await rows(bot, t.drafts)] == [LI]


async def test_a_member_revoked_mid_flow_cannot_submit(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await to_summary(bot)
        li = bot.user(LI, "李明")
        summary = bot.last_with_buttons(li)
        office = admin(bot)
        await bot.say(office, "/members")
        await bot.press(office, "撤销李明")
        await bot.press(office, "确认撤销")
        assert bot.alerts(office)[-1] == "已撤销。"

        before_zhao = len(bot.texts(ZHAO))
        await bot.press(li, "提请", message=summary)
        assert bot.last_text(li) == "⚠ 您不是府院联动工作委员会成员。"
        assert await no_cases(bot)
        assert await draft_of(bot) is None
        assert len(bot.texts(ZHAO)) == before_zhao
        assert [e.action for e in await rows(bot, t.events) if e.case_id is not None] == []
        # The conversation is over and the old button is dead.
        await bot.press(li, message=summary, data=bot.fake.buttons(summary)[0][0][1])
        assert bot.alerts(li)[-1] == STALE
        assert await no_cases(bot)


# ---------------------------------------------------------------------------- escaping

TRICKY_TITLE = "<b>x</b> & {{ 1 }} <script>"
TRICKY_TEXT = "{% if true %}是{% endif %} </i> &amp; <a href='https://evil.example'>链接</a>"


async def test_markup_in_user_text_is_shown_literally(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        group = await bind_group(bot)
        await bot.say(li, "/new")
        await bot.press(li, "行政争议协调化解")
        await bot.say(li, TRICKY_TITLE)
        await bot.say(li, TRICKY_TEXT)
        await bot.say(li, "<i>张三</i>")
        await bot.press(li, "自然资源局")
        await bot.press(li, "池北行政争议协调化解中心")
        await bot.press(li, "一般")
        await bot.press(li, "不指定日期")
        await bot.press(li, "完成")

        summary = bot.last_with_buttons(li)
        assert f"标题：{TRICKY_TITLE}" in summary["text"]
        assert TRICKY_TEXT in summary["text"]
        assert "申请人：<i>张三</i>" in summary["text"]
        # Nothing of it became formatting: the only entities are the bot's own bold labels.
        assert {e["type"] for e in summary.get("entities", [])} <= {"bold", "italic"}
        assert all(
            summary["text"][e["offset"] : e["offset"] + e["length"]] != "x"
            for e in summary.get("entities", [])
        )

        await bot.press(li, "提请", message=summary)
        receipt = bot.last_text(li)
        assert f"行政争议协调化解：{TRICKY_TITLE}" in receipt
        note = bot.last_with_buttons(zhao)
        assert f"标题：{TRICKY_TITLE}" in note["text"] and TRICKY_TEXT in note["text"]
        assert not any(e["type"] in ("text_link", "url") for e in note.get("entities", []))
        post = bot.fake.last_message_to(group)
        assert f"标题：{TRICKY_TITLE}" in post["text"]
        assert "张三" not in post["text"]

        (case,) = await rows(bot, t.cases)
        assert case.title == TRICKY_TITLE
        assert case.fields["description"] == TRICKY_TEXT
        assert case.fields["applicant"] == "<i>张三</i>"
        await bot.say(li, "/case 协调〔2026〕1号")
        assert f"标题：{TRICKY_TITLE}" in bot.last_text(li)
