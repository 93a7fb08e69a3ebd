"""How many Bot API calls a press in a conversation costs, and what the user sees after it.

Every press is answered once (answerCallbackQuery). A press on a conversation's question turns
that very message into the next question, with the answer given kept on it as a "✔" line: one
edit, no new message. What the user typed arrives as a message of its own, so the question
after a typed answer is a new message. A notice the conversation started from keeps its
details and its buttons.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import Any

from bot.clock import ManualClock
from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.storage import schema as t
from tests.conftest import ADMIN_ID, SHANGHAI
from tests.fakes.request import FakeRequest
from tests.fakes.telegram import FakeTelegram, FakeUser
from tests.flows import LI, ZHAO, admin, member, rows, seed_case
from tests.scenario import Harness, running_bot

ANSWER = "answerCallbackQuery"
SEND = "sendMessage"
EDIT = "editMessageText"
MARKUP = "editMessageReplyMarkup"


def _count(bot: Harness, user: FakeUser, since: int) -> Counter[str]:
    """The calls about the user's own chat since ``since`` (messages the courier sends to
    others on a submit are not part of the press)."""
    counted: Counter[str] = Counter()
    for call in bot.fake.calls[since:]:
        if call.method == ANSWER or (
            call.method in (SEND, EDIT, MARKUP) and int(call.params["chat_id"]) == user.id
        ):
            counted[call.method] += 1
    return counted


async def press(bot: Harness, user: FakeUser, label: str) -> Counter[str]:
    """Press ``label`` on the user's latest message with buttons; the calls it cost, and the
    press happened on the message that is still the latest one."""
    since = len(bot.fake.calls)
    pressed = bot.last_with_buttons(user)
    await bot.press(user, label, message=pressed)
    return _count(bot, user, since)


ONE_EDIT = Counter({ANSWER: 1, EDIT: 1})


async def test_a_raise_costs_one_answer_and_one_edit_per_press(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await bot.say(li, "/new")
        choice = bot.last_with_buttons(li)

        assert await press(bot, li, "重大事项研判") == ONE_EDIT
        # The kind's message became the first question, the kind kept above it.
        first = bot.fake.message(li, choice["message_id"])
        assert first["text"].startswith("✔ 重大事项研判\n\n1/6 · 标题")
        assert first == bot.fake.last_message_to(li)

        await bot.say(li, "滑雪场扩建项目土地租赁模式法律风险")
        await bot.say(li, "拟以长期租赁方式供地，请研判法律风险。")
        question = bot.last_with_buttons(li)
        assert question["text"].startswith("3/6 · 接收单位")  # after typed text: a new message
        assert await press(bot, li, "延边中院") == ONE_EDIT
        assert await press(bot, li, "一般") == ONE_EDIT
        shown = bot.fake.message(li, question["message_id"])["text"]
        # Both answers given on this message stay on it, above the question they led to.
        assert shown.startswith("✔ 接收单位：延边州中级人民法院\n✔ 紧急程度：一般\n\n5/6 · ")
        assert await press(bot, li, "不指定日期") == ONE_EDIT
        assert await press(bot, li, "完成") == ONE_EDIT
        summary = bot.fake.message(li, question["message_id"])
        assert "请核对" in summary["text"] and "✔" not in summary["text"]
        assert bot.labels(summary) == ["📨 提请", "✏ 修改某项", "✖ 取消"]
        draft = await bot.svc.load_draft(LI, "form")
        assert draft is not None and draft.state == "AWAITING_CONFIRMATION"

        assert await press(bot, li, "提请") == ONE_EDIT
        receipt = bot.fake.message(li, question["message_id"])
        assert "已提请。事项编号为" in receipt["text"] and "reply_markup" not in receipt
        # What was submitted stays readable under the receipt.
        assert "延边州中级人民法院" in receipt["text"] and "拟以长期租赁方式供地" in receipt["text"]
        (case,) = await rows(bot, t.cases)
        assert case.title == "滑雪场扩建项目土地租赁模式法律风险"
        assert await rows(bot, t.drafts) == []


async def test_an_action_form_leaves_the_notice_and_edits_its_own_question(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目法律风险研判")
        await bot.flush_outbox()
        notice = bot.last_with_buttons(zhao)
        assert case.number in notice["text"]
        await bot.press(zhao, "受理", message=notice)
        since = len(bot.fake.calls)
        await bot.say(zhao, f"/case {case.number}")
        shown = bot.last_with_buttons(zhao)
        since = len(bot.fake.calls)
        await bot.press(zhao, "登记结果", message=shown)
        # The /case card keeps its details; the form's question is a message of its own.
        assert _count(bot, zhao, since) == Counter({ANSWER: 1, SEND: 1})
        assert bot.fake.message(zhao, shown["message_id"])["text"] == shown["text"]
        question = bot.last_with_buttons(zhao)
        assert question["message_id"] != shown["message_id"]

        options = bot.labels(question)
        since = len(bot.fake.calls)
        assert await press(bot, zhao, options[0]) == Counter(
            {ANSWER: 1, EDIT: 2, "editMessageReplyMarkup": 1}
        )
        # One edit turns the question into the receipt; the other, queued in the outbox,
        # brings the notice up to date (no buttons are left on a concluded matter); and the
        # /case card the form was pressed on loses its used-up buttons, its text unchanged.
        edited = [c.params["message_id"] for c in bot.fake.calls[since:] if c.method == EDIT]
        assert sorted(map(int, edited)) == sorted([question["message_id"], notice["message_id"]])
        card = bot.fake.message(zhao, shown["message_id"])
        assert card["text"] == shown["text"] and "reply_markup" not in card
        updated = bot.fake.message(zhao, notice["message_id"])
        assert (
            updated["text"].startswith("📌 已登记办理结果：赵法官")
            and "reply_markup" not in updated
        )
        receipt = bot.fake.message(zhao, question["message_id"])
        assert "已登记办理结果" in receipt["text"] and "reply_markup" not in receipt
        assert receipt["text"].startswith(f"✔ 办理结果：{options[0]}")
        (stored,) = await rows(bot, t.cases)
        assert stored.status == "resolved"


async def test_a_meeting_costs_one_answer_and_one_edit_per_press(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/meeting")
        await bot.say(office, "2026年第四季度府院联席会议")
        question = bot.last_with_buttons(office)
        assert await press(bot, office, "后天") == ONE_EDIT
        assert await press(bot, office, "15:00") == ONE_EDIT
        shown = bot.fake.message(office, question["message_id"])["text"]
        # The day and the time picked by buttons: one echo line, weekday included.
        assert shown.startswith("✔ 日期和时间：2026年11月27日（周五）15:00\n\n4/6 · ")
        await bot.say(office, "府院联动办公室第一会议室")
        orgs = bot.last_with_buttons(office)
        assert await press(bot, office, "延边中院") == ONE_EDIT
        assert await press(bot, office, "完成") == ONE_EDIT
        assert await press(bot, office, "完成") == ONE_EDIT
        assert await press(bot, office, "确认安排") == ONE_EDIT
        scheduled = bot.fake.message(office, orgs["message_id"])
        assert "联席会议已安排" in scheduled["text"] and "reply_markup" not in scheduled
        (meeting,) = await rows(bot, t.meetings)
        assert meeting.place == "府院联动办公室第一会议室"


async def test_a_second_tap_on_a_question_that_moved_on_never_acts(
    committee: Committee, db_url: str
) -> None:
    """Done on the invited organisations, tapped twice: the second tap arrives after the
    message already shows the agenda (whose Done is the same kind of button). It is answered
    as stale; it neither skips the agenda nor strips the agenda of its buttons."""
    async with running_bot(committee, db_url) as bot:
        office = admin(bot)
        await bot.say(office, "/meeting")
        await bot.say(office, "2026年第四季度府院联席会议")
        await bot.press(office, "后天")
        await bot.press(office, "15:00")
        await bot.say(office, "府院联动办公室第一会议室")
        await bot.press(office, "延边中院")
        orgs = bot.last_with_buttons(office)
        done = dict(bot.fake.buttons(orgs)[-2])["✔ 完成"]
        await bot.press(office, message=orgs, data=done)
        agenda = bot.fake.message(office, orgs["message_id"])
        assert "6/6 · 议程" in agenda["text"]
        before = await bot.svc.load_draft(ADMIN_ID, "form")
        since = len(bot.fake.calls)

        await bot.press(office, message=orgs, data=done)  # the second tap, as it was shown

        assert bot.alerts(office)[-1] == "该按钮已失效。"
        assert bot.fake.message(office, orgs["message_id"]) == agenda
        assert await bot.svc.load_draft(ADMIN_ID, "form") == before
        assert before is not None and before.data["field"] == "agenda"
        assert _count(bot, office, since) == Counter({ANSWER: 1})
        # The agenda's own Done still works.
        await bot.press(office, "完成", message=agenda)
        assert "请核对" in bot.fake.message(office, orgs["message_id"])["text"]


async def test_a_question_that_cannot_be_edited_comes_as_a_new_message(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.say(li, "/new")
        await bot.press(li, "重大事项研判")
        await bot.say(li, "滑雪场扩建项目土地租赁模式法律风险")
        await bot.say(li, "拟以长期租赁方式供地，请研判法律风险。")
        question = bot.last_with_buttons(li)
        bot.allowed_errors.add(400)
        bot.fake.inject(
            "editMessageText", status=400, description="Bad Request: message to edit not found"
        )
        since = len(bot.fake.calls)

        await bot.press(li, "延边中院", message=question)

        assert _count(bot, li, since) == Counter({ANSWER: 1, EDIT: 1, SEND: 1})
        shown = bot.fake.last_message_to(li)
        assert shown["message_id"] != question["message_id"]
        assert shown["text"].startswith("✔ 接收单位：延边州中级人民法院\n\n4/6 · 紧急程度")
        draft = await bot.svc.load_draft(LI, "form")
        assert draft is not None and draft.data["field"] == "urgency"
        assert draft.data["values"]["addressee"] == "YB-IPC"
        # The old message kept its buttons; they no longer act.
        await bot.press(li, "延边中院", message=question)
        assert bot.alerts(li)[-1] == "该按钮已失效。"
        assert await bot.svc.load_draft(LI, "form") == draft
        await bot.press(li, "一般", message=shown)
        assert "5/6 · 期望答复日期" in bot.fake.message(li, shown["message_id"])["text"]


async def test_a_press_refused_at_the_end_keeps_its_answer_above_the_refusal(
    committee: Committee, db_url: str
) -> None:
    """The outcome chosen, but the clerk now serves another court: the question shows what
    was pressed, without buttons, and the refusal follows as a message of its own."""
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目法律风险研判")
        await bot.flush_outbox()
        await bot.press(zhao, "受理", message=bot.last_with_buttons(zhao))
        await bot.say(zhao, f"/case {case.number}")
        await bot.press(zhao, "登记结果", message=bot.last_with_buttons(zhao))
        question = bot.last_with_buttons(zhao)
        office = await bot.svc.viewer(ADMIN_ID, "办公室管理员", None)
        (row,) = await rows(bot, t.members, t.members.c.user_id == ZHAO)
        await bot.svc.revoke_member(office, row.id)
        await bot.join(zhao, "BS-IPC", Role.COURT_STAFF)
        option = bot.labels(question)[0]

        await bot.press(zhao, option, message=question)

        shown = bot.fake.message(zhao, question["message_id"])
        assert shown["text"] == f"✔ 办理结果：{option}" and "reply_markup" not in shown
        assert bot.fake.last_message_to(zhao)["message_id"] > question["message_id"]
        assert bot.last_text(zhao) == "⚠ 仅接收法院的工作人员可办理此事项。"
        assert (await bot.svc.get_case(case.id)).status == "acknowledged"
        assert await bot.svc.load_draft(ZHAO, "form") is None


class RoundTrip(FakeRequest):
    """Each Bot API call yields to the event loop before it is answered, as a network round
    trip does (without taking time): background tasks run meanwhile."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        for _ in range(3):
            await asyncio.sleep(0)
        return await super().do_request(*args, **kwargs)


async def test_deliveries_start_only_once_the_submitter_has_the_receipt(
    committee: Committee, db_url: str
) -> None:
    """The courier's claiming, rendering and sending of a submit's notices run after the
    submitting update was handled, not between its steps (where they delayed the receipt)."""
    clock = ManualClock(datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))
    fake = FakeTelegram(now=lambda: clock.now().timestamp())
    async with running_bot(committee, db_url, clock, fake=fake, request=RoundTrip(fake)) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await bot.say(li, "/new")
        await press(bot, li, "重大事项研判")
        await bot.say(li, "滑雪场扩建项目土地租赁模式法律风险")
        await bot.say(li, "拟以长期租赁方式供地，请研判法律风险。")
        for label in ("延边中院", "一般", "不指定日期", "完成"):
            await press(bot, li, label)
        summary = bot.last_with_buttons(li)
        courier = bot.app.bot_data["runtime"].courier
        flush = courier.flush
        shown_at_start: list[str] = []

        async def watched(*args: Any, **kwargs: Any) -> int:
            shown_at_start.append(bot.fake.message(li, summary["message_id"])["text"])
            return int(await flush(*args, **kwargs))

        courier.flush = watched
        db = bot.svc.db
        trips = db.trips
        try:
            await press(bot, li, "提请")
        finally:
            courier.flush = flush
        # The update's database work, and the delivery's after it, stayed on the event
        # loop's thread (the update's unit of work): no trip to the driver's thread.
        assert db.trips == trips
        (case,) = await rows(bot, t.cases)
        # When the delivery started, the summary had already become the receipt.
        assert len(shown_at_start) == 1
        assert "已提请。事项编号为" in shown_at_start[0]
        # And the court's notice was still delivered, and recorded as sent.
        assert case.number in bot.fake.last_message_to(zhao)["text"]
        sent = await rows(bot, t.outbox, t.outbox.c.chat_id == ZHAO)
        assert sent and all(r.status == "sent" for r in sent)
