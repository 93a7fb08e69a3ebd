"""Joint meetings and the committee group: what the group sees of an agenda under the
committee file's ``group_detail``, and what an answer press may change.

An answer is recorded and answered at once; the group's post (the message the outbox recorded
for the meeting) is brought up to date in the background — never the message pressed, and
never with the update waiting on the group. Nothing sleeps: a blocked edit is an
``asyncio.Event`` the test opens.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.clock import ManualClock
from bot.domain.committee import Committee, GroupDetail
from bot.domain.meetings import MAX_AGENDA_ITEM, MAX_AGENDA_ITEMS
from bot.storage import schema as t
from tests.conftest import ADMIN_ID, SHANGHAI
from tests.fakes.request import FakeRequest
from tests.fakes.telegram import FakeTelegram, FakeUser
from tests.flows import GROUP, LI, WANG, ZHAO, bind_group, rows, seed_case
from tests.scenario import Harness, running_bot
from tests.test_meetings import (
    PLACE,
    REMINDER,
    RSVP_LABELS,
    TITLE,
    at,
    calendars,
    cast,
    event_of,
    posts,
    schedule,
)

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


JSON = dict[str, Any]
MATTER = "滑雪场扩建项目法律风险研判"
FREE_ITEM = "通报第四季度行政争议化解情况"


def edits_of(bot: Harness, chat_id: int, since: int = 0) -> list[JSON]:
    """The bot's successful text edits in a chat, from the fake Bot API's call log."""
    return [
        call.params
        for call in bot.fake.calls[since:]
        if call.method == "editMessageText" and call.ok and int(call.params["chat_id"]) == chat_id
    ]


async def answers(bot: Harness) -> dict[str, tuple[str | None, int | None]]:
    return {r.org_code: (r.rsvp, r.rsvp_by) for r in await rows(bot, t.meeting_orgs)}


# ---------------------------------------------------------------------------- privacy


async def test_minimal_detail_hides_matter_titles_from_the_group(
    committee: Committee, db_url: str
) -> None:
    minimal = dataclasses.replace(committee, group_detail=GroupDetail.MINIMAL)
    async with running_bot(minimal, db_url) as bot:
        people = await cast(bot)
        wang = people["wang"]
        group = await bind_group(bot)
        case = await seed_case(bot, LI, "李明", MATTER)
        await schedule(bot, people["admin"], matters=(case.number,), items=FREE_ITEM)

        # The post: the matter by its number and kind, the office's own item as written.
        (post,) = posts(bot, group, TITLE)
        assert MATTER not in post["text"]
        assert f"1. {case.number} · 重大事项研判" in post["text"]
        assert f"2. {FREE_ITEM}" in post["text"]
        # Its calendar file says no more.
        (ics,) = calendars(bot, GROUP)
        description = str(event_of(ics)["DESCRIPTION"])
        assert MATTER not in description
        assert f"1. {case.number} · 重大事项研判" in description and FREE_ITEM in description
        # The group's reminder neither; a member's private one shows the agenda in full.
        await bot.tick(at("2026-11-26", 15, 0))
        (reminder,) = posts(bot, group, REMINDER)
        assert (
            MATTER not in reminder["text"] and f"{case.number} · 重大事项研判" in reminder["text"]
        )
        (private,) = posts(bot, wang, REMINDER)
        assert f"{case.number} {MATTER}" in private["text"]
        # An answer refreshes the post: still no title.
        await bot.press(people["zhao"], "✅ 出席", message=post)
        shown = bot.fake.message(group, post["message_id"])["text"]
        assert "✅ 延边州中级人民法院 · 出席" in shown and MATTER not in shown
        # The database keeps the agenda item as the office chose it.
        (item, _) = sorted(await rows(bot, t.meeting_agenda), key=lambda a: a.position)
        assert (item.case_id, item.text) == (case.id, f"{case.number} {MATTER}")


async def test_summary_detail_shows_matter_titles_to_the_group(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:  # the example's "summary"
        people = await cast(bot)
        group = await bind_group(bot)
        case = await seed_case(bot, LI, "李明", MATTER)
        await schedule(bot, people["admin"], matters=(case.number,))
        (post,) = posts(bot, group, TITLE)
        assert f"1. {case.number} {MATTER}" in post["text"]
        (ics,) = calendars(bot, GROUP)
        assert f"{case.number} {MATTER}" in str(event_of(ics)["DESCRIPTION"])


# ---------------------------------------------------------------------------- which message


async def test_an_answer_on_a_group_reminder_updates_the_post_not_the_reminder(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        group = await bind_group(bot)
        await schedule(bot, people["admin"])
        await bot.tick(at("2026-11-26", 15, 0))
        (post,) = posts(bot, group, "请参会单位")
        (reminder,) = posts(bot, group, REMINDER)
        since = len(bot.fake.calls)

        await bot.press(people["zhao"], "✅ 出席", message=reminder)

        assert bot.alerts(people["zhao"])[-1] == "已记录：延边州中级人民法院，出席。"
        assert bot.fake.message(group, reminder["message_id"]) == reminder  # untouched
        (edit,) = edits_of(bot, GROUP, since)
        assert int(edit["message_id"]) == post["message_id"]
        shown = bot.fake.message(group, post["message_id"])
        assert "✅ 延边州中级人民法院 · 出席" in shown["text"]
        assert bot.labels(shown) == RSVP_LABELS  # the post keeps its buttons
        assert (await answers(bot))["YB-IPC"] == ("attend", ZHAO)


async def test_an_answer_on_a_private_reminder_shows_on_the_group_post(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        wang = people["wang"]
        group = await bind_group(bot)
        await schedule(bot, people["admin"])
        await bot.tick(at("2026-11-26", 15, 0))
        (post,) = posts(bot, group, "请参会单位")
        (private,) = posts(bot, wang, REMINDER)

        await bot.press(wang, "✖ 不能出席", message=private)

        assert bot.alerts(wang)[-1] == "已记录：长白山管委会生态环境局，不能出席。"
        shown = bot.fake.message(group, post["message_id"])["text"]
        assert "✖ 长白山管委会生态环境局 · 不能出席" in shown
        assert bot.fake.message(wang, private["message_id"]) == private  # stays a reminder
        assert (await answers(bot))["CBS-ENV"] == ("absent", WANG)
        (event,) = await rows(bot, t.events, t.events.c.action == "meeting_rsvp")
        assert (event.actor_user_id, event.detail["answer"]) == (WANG, "absent")


async def test_after_a_reschedule_answers_update_the_change_notice(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        office = people["admin"]
        group = await bind_group(bot)
        await schedule(bot, office)
        (post,) = posts(bot, group, "请参会单位")
        viewer = await bot.svc.viewer(ADMIN_ID, "办公室管理员", None)
        await bot.svc.meetings.reschedule(viewer, 1, at("2026-11-28", 9))
        await bot.flush_outbox()
        (notice,) = posts(bot, group, "联席会议改期")

        await bot.press(people["li"], "✅ 出席", message=post)  # the first post's button

        assert (
            "✅ 长白山管委会自然资源局 · 出席"
            in bot.fake.message(group, notice["message_id"])["text"]
        )
        assert bot.fake.message(group, post["message_id"]) == post  # superseded: left as is


async def test_a_long_agenda_still_fits_one_message_and_its_edits(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await cast(bot)
        group = await bind_group(bot)
        viewer = await bot.svc.viewer(ADMIN_ID, "办公室管理员", None)
        items = [f"{n:02d}" + "议" * (MAX_AGENDA_ITEM - 2) for n in range(MAX_AGENDA_ITEMS)]
        await bot.svc.meetings.schedule(
            viewer, TITLE, at("2026-11-27", 15), PLACE, ["YB-IPC", "CBS-NR"], items
        )
        await bot.flush_outbox()
        (post,) = posts(bot, group, TITLE)  # one message, the buttons under it
        assert bot.labels(post) == RSVP_LABELS
        assert "1. 00议" in post["text"] and "……另有" in post["text"]

        await bot.press(people["li"], "✅ 出席", message=post)  # the fake rejects > 4096

        shown = bot.fake.message(group, post["message_id"])
        assert "✅ 长白山管委会自然资源局 · 出席" in shown["text"]
        assert bot.labels(shown) == RSVP_LABELS


# ---------------------------------------------------------------------------- not waiting


class GatedEdits(FakeRequest):
    """Edits wait for ``gate`` (a group flood pause, a slow network): ``entered`` says one
    is waiting."""

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__(fake)
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if urlsplit(url).path.lower().endswith("/editmessagetext") and not self.gate.is_set():
            self.entered.set()
            await self.gate.wait()
        return await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )


async def handle_updates(bot: Harness) -> None:
    """What polling does with the pending updates — without waiting for the background work
    they start (``Harness.deliver`` would)."""
    async with asyncio.timeout(10):  # a handler waiting on the gate fails, not hangs, the test
        while updates := bot.fake.take_updates(bot._offset or None):
            for raw in updates:
                bot._offset = raw["update_id"] + 1
                await bot.app.process_update(Update.de_json(raw, bot.app.bot))


async def test_answers_never_wait_on_the_group_post(committee: Committee, db_url: str) -> None:
    clock = ManualClock(datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))
    fake = FakeTelegram(now=lambda: clock.now().timestamp())
    request = GatedEdits(fake)
    async with running_bot(committee, db_url, clock, fake=fake, request=request) as bot:
        people = await cast(bot)
        zhao, li, wang = people["zhao"], people["li"], people["wang"]
        group = await bind_group(bot)
        await schedule(bot, people["admin"])
        (post,) = posts(bot, group, "请参会单位")
        since = len(bot.fake.calls)
        request.gate.clear()
        try:
            fake.press(zhao, post, "✅ 出席")
            await handle_updates(bot)
            async with asyncio.timeout(10):
                await request.entered.wait()  # the group edit is under way, held up
            # Answered, and recorded, while the group's post has not changed yet.
            assert bot.alerts(zhao)[-1] == "已记录：延边州中级人民法院，出席。"
            assert (await answers(bot))["YB-IPC"] == ("attend", ZHAO)
            assert (
                "… 延边州中级人民法院 · 尚未答复" in fake.message(group, post["message_id"])["text"]
            )
            # Nine more quick answers, each answered at once while the edit still waits.
            presses: list[tuple[FakeUser, str]] = [
                (li, "✅ 出席"),
                (wang, "👤 委派代表参加"),
                (zhao, "✖ 不能出席"),
                (li, "👤 委派代表参加"),
                (wang, "✅ 出席"),
                (zhao, "👤 委派代表参加"),
                (li, "✖ 不能出席"),
                (wang, "✖ 不能出席"),
                (zhao, "✅ 出席"),
            ]
            for user, label in presses:
                fake.press(user, post, label)
                await handle_updates(bot)
                assert bot.alerts(user)[-1].startswith("已记录：")
            assert edits_of(bot, GROUP, since) == []
        finally:
            request.gate.set()
        await bot.settle()
        bot.check()

        # Ten answers, two edits: the one held up, then one with the state as it is now.
        assert len(edits_of(bot, GROUP, since)) == 2
        shown = fake.message(group, post["message_id"])
        assert "✅ 延边州中级人民法院 · 出席" in shown["text"]
        assert "✖ 长白山管委会自然资源局 · 不能出席" in shown["text"]
        assert "✖ 长白山管委会生态环境局 · 不能出席" in shown["text"]
        assert bot.labels(shown) == RSVP_LABELS
        assert await answers(bot) == {
            "YB-IPC": ("attend", ZHAO),
            "CBS-NR": ("absent", LI),
            "CBS-ENV": ("absent", WANG),
        }
        assert len(await rows(bot, t.events, t.events.c.action == "meeting_rsvp")) == 10
