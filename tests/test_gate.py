"""Which chats the bot talks in, and that no sender can hold up the others (issue: a stranger
could stall the bot from their own group)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from telegram import Update

from bot.clock import ManualClock
from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.storage import schema as t
from handlers.ordering import PerSenderProcessor
from tests.conftest import SHANGHAI
from tests.fakes.request import FakeRequest
from tests.fakes.telegram import FakeTelegram
from tests.flows import GROUP, LI, STRANGER, ZHAO, admin, bind_group, member, rows, seed_case
from tests.scenario import Harness, running_bot

OTHER_GROUP = -1009876543210


async def seen_count(bot: Harness) -> int:
    await bot.svc.db.write_left_over()  # records of updates that wrote nothing wait a moment
    async with bot.svc.db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(t.seen_updates))).scalar_one()
        )


async def test_a_strangers_group_costs_nothing_before_a_group_is_bound(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        stranger = bot.user(STRANGER, "路人甲")
        group = bot.fake.group(OTHER_GROUP, "闲聊群", add_bot=True)
        before = await seen_count(bot)
        for user in (stranger, li):
            for text in ("/new", "/help", "/my", "/meeting", "/bindgroup", "/start"):
                await bot.say(user, text, chat=group)
        # Not a word in the group; only the two /bindgroup commands got as far as being
        # recorded (the office's would bind the group); the bot stays (it may become the
        # committee group when the office binds it).
        assert bot.fake.messages_to(group) == []
        assert await seen_count(bot) == before + 2
        assert bot.fake.calls_of("leaveChat") == []
        assert await rows(bot, t.settings, ~t.settings.c.key.startswith("menu:")) == []


async def test_once_bound_the_bot_leaves_every_other_group(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bind_group(bot)
        stranger = bot.user(STRANGER, "路人甲")
        other = bot.fake.group(OTHER_GROUP, "闲聊群")
        bot.fake.bot_added_to_group(other, by=stranger)
        await bot.deliver()
        assert {int(c.params["chat_id"]) for c in bot.fake.calls_of("leaveChat")} == {OTHER_GROUP}
        assert other.bot_status == "left"
        # Added again, a member's /bindgroup there changes nothing either: the bot leaves.
        bot.fake.bot_added_to_group(other, by=li)
        await bot.say(li, "/bindgroup", chat=other)
        assert other.bot_status == "left"
        assert bot.fake.messages_to(other) == []
        assert await bot.svc.group_chat_id() == GROUP
        # The private chat is untouched by all this.
        await bot.say(li, "/whoami")
        assert "长白山管委会自然资源局" in bot.last_text(li)


async def test_the_office_moves_the_committee_group(committee: Committee, db_url: str) -> None:
    async with running_bot(committee, db_url) as bot:
        await bind_group(bot)
        new = bot.fake.group(OTHER_GROUP, "新工作群")
        bot.fake.bot_added_to_group(new, by=admin(bot))  # the office brings the bot along
        await bot.deliver()
        await bot.say(admin(bot), "/bindgroup", chat=new)
        assert await bot.svc.group_chat_id() == OTHER_GROUP
        assert bot.last_text(new) == "✅ 本群已设为委员会工作群，新事项将在此通知。"
        (setting,) = await rows(bot, t.settings, t.settings.c.key == "group_chat_id")
        assert setting.value == str(OTHER_GROUP)
        assert bot.fake.calls_of("leaveChat") == []


async def test_the_binding_follows_the_group_to_a_supergroup(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        group = bot.fake.group(-4001234567, "长白山府院联动群", add_bot=True)
        await bot.say(admin(bot), "/bindgroup", chat=group)
        assert await bot.svc.group_chat_id() == group.id
        supergroup = bot.fake.group_became_supergroup(group, -1004001234567)
        await bot.deliver()
        assert await bot.svc.group_chat_id() == supergroup.id
        (setting,) = await rows(bot, t.settings, t.settings.c.key == "group_chat_id")
        assert setting.value == str(supergroup.id)
        (moved,) = await rows(bot, t.events, t.events.c.action == "group_migrated")
        assert moved.detail == {"old": group.id, "new": supergroup.id}
        assert bot.fake.calls_of("leaveChat") == []
        # The committee's posts now go to the supergroup.
        case = await seed_case(bot, LI, "李明", "林地权属争议")
        await bot.flush_outbox()
        assert any(case.number in (m.get("text") or "") for m in bot.fake.messages_to(supergroup))


# ------------------------------------------------------------------ one sender, one queue


def message_update(update_id: int, user_id: int) -> Update:
    chat: dict[str, Any] = {"id": user_id, "type": "private", "first_name": "x"}
    return Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": chat,
                "from": {"id": user_id, "is_bot": False, "first_name": "x"},
                "text": "/my",
            },
        },
        None,
    )


async def test_a_flood_from_one_sender_does_not_hold_up_another() -> None:
    processor = PerSenderProcessor(workers=4, max_waiting=5)
    release = asyncio.Event()
    handled: list[tuple[int, int]] = []

    async def handle(update: Update, *, wait: bool) -> None:
        if wait:
            await release.wait()
        assert update.effective_user is not None
        handled.append((update.effective_user.id, update.update_id))

    flood = [
        asyncio.create_task(
            processor.process_update(
                message_update(i, STRANGER), handle(message_update(i, STRANGER), wait=True)
            )
        )
        for i in range(1, 9)
    ]
    await asyncio.sleep(0)
    member_update = message_update(100, LI)
    await asyncio.wait_for(
        processor.process_update(member_update, handle(member_update, wait=False)), timeout=5
    )
    # The member was answered while the stranger's first update still hangs.
    assert handled == [(LI, 100)]
    release.set()
    await asyncio.gather(*flood)
    # The stranger's updates ran one at a time, in order; beyond five waiting, they were dropped.
    stranger = [update_id for user, update_id in handled if user == STRANGER]
    assert stranger == [1, 2, 3, 4, 5, 6]
    assert processor.dropped == 2
    assert processor._queues == {} and processor._waiting == {}


async def test_one_senders_updates_never_overlap() -> None:
    processor = PerSenderProcessor(workers=8)
    running = 0
    overlapped = False

    async def handle() -> None:
        nonlocal running, overlapped
        running += 1
        overlapped = overlapped or running > 1
        for _ in range(3):
            await asyncio.sleep(0)
        running -= 1

    await asyncio.gather(
        *(processor.process_update(message_update(i, LI), handle()) for i in range(20))
    )
    assert not overlapped


async def test_moving_the_committee_takes_along_what_is_queued_for_the_old_group(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        old = await bind_group(bot)
        case = await seed_case(bot, LI, "李明", "林地权属争议")  # its post waits in the outbox
        new = bot.fake.group(OTHER_GROUP, "新工作群")
        bot.fake.bot_added_to_group(new, by=admin(bot))
        await bot.deliver()
        await bot.say(admin(bot), "/bindgroup", chat=new)
        await bot.flush_outbox()
        assert any(case.number in (m.get("text") or "") for m in bot.fake.messages_to(new))
        assert not any(case.number in (m.get("text") or "") for m in bot.fake.messages_to(old))
        (post,) = await rows(bot, t.outbox, t.outbox.c.kind == "case_group")
        assert (post.chat_id, post.status) == (OTHER_GROUP, "sent")


class GatedGroupSends(FakeRequest):
    """Sends to the group wait for ``gate`` (the group's flood limit, a slow network)."""

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__(fake)
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = 0

    async def do_request(
        self, url: str, method: str, request_data: Any = None, **timeouts: Any
    ) -> Any:
        params = request_data.parameters if request_data is not None else {}
        to_group = url.lower().endswith("/sendmessage") and int(params.get("chat_id", 0)) < 0
        if to_group and not self.gate.is_set():
            self.waiting += 1
            await self.gate.wait()
        return await super().do_request(url, method, request_data, **timeouts)


async def test_commands_in_the_group_never_wait_on_the_group_and_never_pile_up(
    committee: Committee, db_url: str
) -> None:
    clock = ManualClock(datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))
    fake = FakeTelegram(now=lambda: clock.now().timestamp())
    request = GatedGroupSends(fake)
    async with running_bot(committee, db_url, clock, fake=fake, request=request) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        group = await bind_group(bot)
        before = len(fake.messages_to(group))
        request.gate.clear()
        for _ in range(6):
            fake.send_text(li, "/help", group)
        fake.send_text(li, "/whoami")
        async with asyncio.timeout(10):  # a handler waiting on the group fails, not hangs
            while updates := fake.take_updates(bot._offset or None):
                for raw in updates:
                    bot._offset = raw["update_id"] + 1
                    await bot.app.process_update(Update.de_json(raw, bot.app.bot))
        # Every update was handled while the group's sends were held up (the private answer
        # went out meanwhile); three answers wait for the group, the others were dropped.
        await asyncio.sleep(0)
        assert request.waiting == 3
        assert "长白山管委会自然资源局" in bot.last_text(li)
        request.gate.set()
        await bot.settle()
        assert len(fake.messages_to(group)) - before == 3
