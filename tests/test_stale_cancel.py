"""An old ✖ Cancel button, left on a question of an earlier conversation, never cancels the
conversation in progress: each button carries its own conversation's token."""

from __future__ import annotations

from typing import Any

from bot.domain.committee import Committee
from bot.domain.models import Draft, Role
from bot.storage import schema as t
from tests.flows import LI, ZHAO, admin, bind_group, member, rows, seed_case
from tests.scenario import Harness, running_bot

STALE = "该按钮已失效。"


async def draft_of(bot: Harness, user_id: int) -> Draft | None:
    return await bot.svc.load_draft(user_id, "form")


def cancel_data(bot: Harness, message: dict[str, Any]) -> str:
    """The data of a question's ✖ Cancel. Ending a conversation takes its question's buttons
    away, so a later press is one from a client that had not caught up yet (or forged)."""
    (data,) = [data for row in bot.fake.buttons(message) for label, data in row if "取消" in label]
    return data


async def test_an_old_cancel_does_not_cancel_a_new_raise(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.say(li, "/new")
        old_question = bot.last_with_buttons(li)
        old_cancel = cancel_data(bot, old_question)
        await bot.say(li, "/cancel")
        assert "reply_markup" not in bot.fake.message(li, old_question["message_id"])
        await bot.say(li, "/new")
        await bot.press(li, "重大事项研判")
        draft = await draft_of(bot, LI)
        assert draft is not None
        await bot.press(li, message=old_question, data=old_cancel)
        assert bot.alerts(li)[-1] == STALE
        # The new draft is untouched and its question still takes the answer.
        assert await draft_of(bot, LI) == draft
        await bot.say(li, "滑雪场扩建项目")
        after = await draft_of(bot, LI)
        assert after is not None and after.data["values"]["title"] == "滑雪场扩建项目"


async def test_an_old_cancel_does_not_cancel_a_meeting_being_scheduled(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await bind_group(bot)
        office = admin(bot)
        await bot.say(office, "/new")
        old_question = bot.last_with_buttons(office)
        old_cancel = cancel_data(bot, old_question)
        await bot.say(office, "/cancel")
        await bot.say(office, "/meeting")
        draft = await draft_of(bot, office.id)
        assert draft is not None and draft.data["form"] == "meeting"
        await bot.press(office, message=old_question, data=old_cancel)
        assert bot.alerts(office)[-1] == STALE
        assert await draft_of(bot, office.id) == draft


async def test_an_old_cancel_does_not_cancel_the_return_of_another_matter(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        first = await seed_case(bot, LI, "李明", "林地权属争议")
        second = await seed_case(bot, LI, "李明", "滑雪场扩建项目")
        await bot.flush_outbox()
        notices = {
            case.id: next(
                m
                for m in bot.fake.messages_to(zhao)
                if case.number in (m.get("text") or "") and m.get("reply_markup")
            )
            for case in (first, second)
        }
        await bot.press(zhao, "退回", message=notices[first.id])
        first_question = bot.last_with_buttons(zhao)
        old_cancel = cancel_data(bot, first_question)
        await bot.say(zhao, "/cancel")
        await bot.press(zhao, "退回", message=notices[second.id])
        draft = await draft_of(bot, ZHAO)
        assert draft is not None
        await bot.press(zhao, message=first_question, data=old_cancel)
        assert bot.alerts(zhao)[-1] == STALE
        assert await draft_of(bot, ZHAO) == draft
        await bot.say(zhao, "不属于行政争议受理范围。")
        statuses = {r.id: r.status for r in await rows(bot, t.cases)}
        assert statuses == {first.id: "submitted", second.id: "returned"}
