"""Fewer taps and a clean chat: quick dates that say the real day and the working days,
no live buttons left on answered questions, short organisation names on buttons, quick
return reasons, and addressees that fit the kind of matter."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.config import parse_calendar
from bot.domain.committee import Committee, Phrase
from bot.domain.errors import InvalidInput
from bot.domain.fields import DATE, FieldSpec
from bot.domain.models import Role
from bot.domain.workdays import WorkingCalendar
from bot.storage import schema as t
from handlers import widgets
from handlers.forms import button_key
from handlers.texts import Texts
from tests.conftest import SHANGHAI
from tests.fakes.telegram import FakeUser
from tests.flows import LI, WANG, ZHAO, member, seed_case
from tests.scenario import Harness, running_bot

STALE = "该按钮已失效。"

# 2027: New Year's Day (Friday) to Sunday off, Saturday 9 January a make-up working day.
NEW_YEAR = parse_calendar(
    {"2027": {"holidays": ["2027-01-01..2027-01-03"], "workdays": ["2027-01-09"]}}, "test"
)


def live_keyboards(bot: Harness, user: FakeUser, since: int = 0) -> list[int]:
    """The bot's messages in a chat (from message ``since`` on) that still carry buttons."""
    return [
        m["message_id"]
        for m in bot.fake.messages_to(user)
        if m["message_id"] > since and m.get("reply_markup", {}).get("inline_keyboard")
    ]


def last_id(bot: Harness, user: FakeUser) -> int:
    return int(bot.fake.last_message_to(user)["message_id"])


async def draft_values(bot: Harness, user_id: int) -> dict[str, Any]:
    draft = await bot.svc.load_draft(user_id, "form")
    assert draft is not None
    return dict(draft.data["values"])


# ---------------------------------------------------------------------------- quick dates


async def to_reply_date(bot: Harness, li: FakeUser) -> None:
    """A referral, answered up to its reply date."""
    await bot.say(li, "/new")
    await bot.press(li, "行政争议协调化解")
    await bot.say(li, "征收补偿争议")
    await bot.say(li, "申请人对征收补偿标准有异议。")
    await bot.say(li, "张三")
    await bot.press(li, "自然资源局")
    await bot.press(li, "池北行政争议协调化解中心")
    await bot.press(li, "一般")


async def test_reply_date_shortcuts_show_the_day_and_the_working_days_over_new_year(
    committee: Committee, db_url: str
) -> None:
    committee = dataclasses.replace(committee, calendar=NEW_YEAR)
    clock = ManualClock(datetime(2026, 12, 30, 10, 0, tzinfo=SHANGHAI))  # a Wednesday
    async with running_bot(committee, db_url, clock) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await to_reply_date(bot, li)
        question = bot.last_with_buttons(li)
        # Thu 31 Dec; 1–3 Jan off; Sat 9 Jan worked.
        assert bot.labels(question)[:4] == [
            "1月5日（周二）· 3个工作日",
            "1月7日（周四）· 5个工作日",
            "1月13日（周三）· 10个工作日",
            "1月27日（周三）· 20个工作日",
        ]
        await bot.press(li, "1月7日（周四）· 5个工作日")
        assert (await draft_values(bot, LI))["reply_by"] == "2027-01-07"
        assert "期望答复日期：2027年1月7日" in bot.fake.message(li, question["message_id"])["text"]

        # The same in English, with the catalog's plural.
        await bot.say(li, "/cancel")
        await bot.say(li, "/lang")
        await bot.press(li, "English")
        await bot.say(li, "/new")
        await bot.press(li, "Administrative dispute referral")
        await bot.say(li, "Compensation dispute")
        await bot.say(li, "The applicant disputes the compensation.")
        await bot.say(li, "Zhang San")
        await bot.press(li, "Natural Resources")
        await bot.press(li, "Chibei Administrative Dispute Coordination Center")
        await bot.press(li, "Normal")
        assert bot.labels(bot.last_with_buttons(li))[:2] == [
            "Tue 5 Jan · 3 working days",
            "Thu 7 Jan · 5 working days",
        ]


def test_one_working_day_is_singular_in_english(committee: Committee) -> None:
    texts = Texts(committee, SHANGHAI)
    spec = FieldSpec("reply_by", DATE, "Reply requested by", "By when?", quick_days=(1, 2))
    workdays = WorkingCalendar(NEW_YEAR)
    rows = widgets.date_rows(
        texts, "en", date(2026, 12, 31), spec, lambda op, arg: f"{op}:{arg}", workdays
    )
    assert [label for label, _ in rows[0] + rows[1]] == [
        "Mon 4 Jan · 1 working day",
        "Tue 5 Jan · 2 working days",
    ]
    rows = widgets.date_rows(
        texts, "zh_CN", date(2026, 12, 31), spec, lambda op, arg: f"{op}:{arg}", workdays
    )
    assert rows[0][0] == ("1月4日（周一）· 1个工作日", "date:2027-01-04")


# ---------------------------------------------------------------------------- a clean chat


async def test_no_answered_question_keeps_live_buttons(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        start = last_id(bot, li)

        async def only_the_current_question() -> None:
            # Exactly one message of the conversation has buttons: the latest one.
            assert live_keyboards(bot, li, start) == [last_id(bot, li)]

        await bot.say(li, "/new")
        await bot.press(li, "重大事项研判")
        await only_the_current_question()
        await bot.say(li, "滑雪场扩建项目法律风险研判")  # typed while Cancel is shown
        await only_the_current_question()
        await bot.say(li, "拟以长期租赁方式供地，请研判法律风险。")
        await bot.press(li, "延边中院")
        await bot.press(li, "一般")
        date_question = last_id(bot, li)
        await bot.say(li, "2026-12-31")  # typed while the quick dates are shown
        await only_the_current_question()
        assert live_keyboards(bot, li, date_question - 1) == [last_id(bot, li)]
        await bot.send_document(li, "方案.pdf", 100_000)
        await bot.send_document(li, "附图.pdf", 100_000)
        await only_the_current_question()  # only the latest "received" carries Done
        await bot.press(li, "完成")
        await only_the_current_question()  # the summary
        await bot.press(li, "修改某项")
        await bot.press(li, "返回")  # back to the summary
        await only_the_current_question()
        await bot.press(li, "修改某项")
        await bot.press(li, "期望答复日期")
        await bot.press(li, "不指定日期")  # skipped
        await only_the_current_question()
        assert "reply_by" in await draft_values(bot, LI)
        assert (await draft_values(bot, LI))["reply_by"] is None
        await bot.press(li, "修改某项")
        await bot.press(li, "标题")
        await bot.say(
            li, "滑雪场扩建项目土地租赁法律风险研判"
        )  # the last question before the summary
        await only_the_current_question()
        assert "标题：滑雪场扩建项目土地租赁法律风险研判" in bot.last_text(li)  # the summary again
        await bot.press(li, "提请")
        assert live_keyboards(bot, li, start) == []
        async with bot.svc.db.read() as conn:
            title = (await conn.execute(select(t.cases.c.title))).scalar_one()
        assert title == "滑雪场扩建项目土地租赁法律风险研判"

        # /cancel typed at a question takes its buttons away too.
        await bot.say(li, "/new")
        await bot.press(li, "重大事项研判")
        await bot.say(li, "/cancel")
        assert live_keyboards(bot, li, start) == []
        assert await bot.svc.load_draft(LI, "form") is None


async def test_a_typed_return_reason_leaves_no_live_prompt(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "温泉开发规划调整研判")
        await bot.flush_outbox()
        await bot.press(zhao, "退回", message=bot.last_with_buttons(zhao))
        prompt = last_id(bot, zhao)
        assert prompt in live_keyboards(bot, zhao)
        await bot.say(zhao, "请补充土地权属证明材料。")
        assert prompt not in live_keyboards(bot, zhao)
        assert (await bot.svc.get_case(case.id)).return_reason == "请补充土地权属证明材料。"


# ---------------------------------------------------------------------------- short names


async def test_buttons_use_short_names_and_texts_the_full_ones(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await bot.say(li, "/new")
        await bot.press(li, "重大事项研判")
        await bot.say(li, "滑雪场扩建项目法律风险研判")
        await bot.say(li, "拟以长期租赁方式供地，请研判法律风险。")
        question = bot.last_with_buttons(li)
        rows = bot.fake.buttons(question)
        # Four courts by their short names, two to a row; no coordination center.
        assert [[label for label, _ in row] for row in rows[:2]] == [
            ["延边中院", "白山中院"],
            ["安图法院", "抚松法院"],
        ]
        await bot.press(li, "延边中院")
        pressed = bot.fake.message(li, question["message_id"])["text"]
        assert "✔ 接收单位：延边州中级人民法院" in pressed
        await bot.press(li, "一般")
        await bot.press(li, "不指定日期")
        await bot.press(li, "完成")
        assert "接收单位：延边州中级人民法院" in bot.last_text(li)
        await bot.press(li, "提请")
        await bot.flush_outbox()
        notice = bot.last_text(zhao)
        assert "长白山管委会自然资源局" in notice and "延边中院" not in notice
        async with bot.svc.db.read() as conn:
            addressee = (await conn.execute(select(t.assignments.c.addressee))).scalar_one()
        assert addressee == "YB-IPC"


async def test_the_raisers_own_agency_comes_first_as_respondent_and_never_the_office(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        wang = await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD)
        offered = {}
        for user in (li, wang):
            await bot.say(user, "/new")
            await bot.press(user, "行政争议协调化解")
            await bot.say(user, "征收补偿争议")
            await bot.say(user, "申请人对征收补偿标准有异议。")
            await bot.say(user, "张三")
            offered[user.id] = bot.labels(bot.last_with_buttons(user))
        assert offered[LI][0] == "自然资源局" and offered[WANG][0] == "生态环境局"
        assert sorted(offered[LI]) == sorted(offered[WANG])
        for labels in offered.values():
            assert "府院联动办公室" not in labels and "长白山管委会府院联动办公室" not in labels
            assert "人社局" in labels and "池北区" in labels

        # A forged press for the office is refused and changes nothing.
        draft = await bot.svc.load_draft(LI, "form")
        assert draft is not None and draft.data["field"] == "respondent"
        await bot.press(li, data=f"f:{button_key(draft)}:opt:CBS-OFFICE")
        assert bot.alerts(li)[-1] == STALE
        after = await bot.svc.load_draft(LI, "form")
        assert after is not None and "respondent" not in after.data["values"]
        assert after.data["field"] == "respondent"


async def test_without_short_names_long_names_go_one_to_a_row(
    committee: Committee, db_url: str
) -> None:
    plain = {
        code: dataclasses.replace(org, short_zh="", short_en="")
        for code, org in committee.organisations.items()
    }
    committee = dataclasses.replace(committee, organisations=plain)
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.say(li, "/new")
        await bot.press(li, "重大事项研判")
        await bot.say(li, "滑雪场扩建项目法律风险研判")
        await bot.say(li, "拟以长期租赁方式供地，请研判法律风险。")
        rows = bot.fake.buttons(bot.last_with_buttons(li))
        assert [[label for label, _ in row] for row in rows[:4]] == [
            ["延边州中级人民法院"],
            ["白山市中级人民法院"],
            ["安图县人民法院"],
            ["抚松县人民法院"],
        ]


# ---------------------------------------------------------------------------- return reasons


async def test_a_quick_return_reason_is_recorded_and_shown_to_the_raiser(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "温泉开发规划调整研判")
        await bot.flush_outbox()
        await bot.press(zhao, "退回", message=bot.last_with_buttons(zhao))
        prompt = bot.last_with_buttons(zhao)
        assert bot.labels(prompt) == [
            "材料不全",
            "不属于本院管辖",
            "事实不清",
            "请先行政复议",
            "✖ 取消",
        ]
        await bot.press(zhao, "不属于本院管辖", message=prompt)
        stored = await bot.svc.get_case(case.id)
        assert stored.status == "returned" and stored.return_reason == "不属于本院管辖"
        await bot.flush_outbox()
        told = bot.last_text(li)
        assert case.number in told and "理由：不属于本院管辖" in told
        assert live_keyboards(bot, zhao, prompt["message_id"] - 1) == []


async def test_the_committee_file_replaces_the_quick_return_reasons(
    committee: Committee, db_url: str
) -> None:
    reasons = (Phrase("请补充土地权属证明", "Please add proof of land title"),)
    committee = dataclasses.replace(committee, return_reasons=reasons)
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "温泉开发规划调整研判")
        await bot.flush_outbox()
        await bot.press(zhao, "退回", message=bot.last_with_buttons(zhao))
        assert bot.labels(bot.last_with_buttons(zhao)) == ["请补充土地权属证明", "✖ 取消"]
        await bot.press(zhao, "请补充土地权属证明")
        assert (await bot.svc.get_case(case.id)).return_reason == "请补充土地权属证明"
        await bot.flush_outbox()
        assert "理由：请补充土地权属证明" in bot.last_text(li)


# ---------------------------------------------------------------------------- addressees


async def test_a_consultation_goes_to_courts_only(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.say(li, "/new")
        await bot.press(li, "重大事项研判")
        await bot.say(li, "滑雪场扩建项目法律风险研判")
        await bot.say(li, "拟以长期租赁方式供地，请研判法律风险。")
        labels = bot.labels(bot.last_with_buttons(li))
        assert not [label for label in labels if "中心" in label]
        draft = await bot.svc.load_draft(LI, "form")
        assert draft is not None and draft.data["field"] == "addressee"
        await bot.press(li, data=f"f:{button_key(draft)}:opt:CHIBEI-CENTER")
        assert bot.alerts(li)[-1] == STALE
        after = await bot.svc.load_draft(LI, "form")
        assert after is not None and "addressee" not in after.data["values"]
        async with bot.svc.db.read() as conn:
            assert (await conn.execute(select(t.cases))).all() == []


BASE_VALUES: dict[str, Any] = {
    "title": "征收补偿争议",
    "description": "情况说明。",
    "urgency": "normal",
    "reply_by": None,
    "documents": [],
}


@pytest.mark.parametrize(
    ("kind", "values", "code"),
    [
        ("consultation", {"addressee": "CHIBEI-CENTER"}, "unknown_org"),
        (
            "referral",
            {"addressee": "CHIBEI-CENTER", "applicant": "张三", "respondent": "CBS-OFFICE"},
            "unknown_org",
        ),
    ],
    ids=["consultation-to-center", "office-as-respondent"],
)
async def test_the_service_refuses_addressees_the_kind_does_not_take(
    committee: Committee, db_url: str, kind: str, values: dict[str, Any], code: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        viewer = await bot.svc.viewer(LI, "李明", None)
        with pytest.raises(InvalidInput) as refused:
            await bot.svc.submit(viewer, kind, {**BASE_VALUES, **values}, secrets.token_hex(8))
        assert refused.value.code == code
        async with bot.svc.db.read() as conn:
            assert (await conn.execute(select(t.cases))).all() == []
