"""The Bot API failing at a fixed rate: everything is delivered, nothing silently twice."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from telegram.error import TimedOut

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.storage import schema as t
from handlers.jobs import tick
from tests.fakes.request import FakeRequest
from tests.fakes.telegram import FakeTelegram
from tests.flows import LI, ZHAO, bind_group, member, seed_case
from tests.scenario import running_bot

RESENT = "因网络问题重新发送"


class StormyRequest(FakeRequest):
    """Every 3rd sendMessage answers 502, every 5th times out after delivering, every 7th
    answers 429 — once the storm is switched on."""

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__(fake)
        self.storm = False
        self.sends = 0
        self.injected: Counter[str] = Counter()

    async def do_request(
        self, url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        if self.storm and url.rstrip("/").endswith("/sendMessage"):
            self.sends += 1
            if self.sends % 3 == 0:
                self.injected["502"] += 1
                body = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
                return 502, json.dumps(body).encode()
            if self.sends % 7 == 0:
                self.injected["429"] += 1
                body = {
                    "ok": False,
                    "error_code": 429,
                    "parameters": {"retry_after": 3},
                    "description": "Too Many Requests: retry after 3",
                }
                return 429, json.dumps(body).encode()
            if self.sends % 5 == 0:
                self.injected["timeout"] += 1
                await super().do_request(url, method, request_data, *args, **kwargs)
                raise TimedOut("injected: delivered, but the answer never came")
        return await super().do_request(url, method, request_data, *args, **kwargs)


async def test_every_outbox_message_delivered_under_a_storm(
    committee: Committee, db_url: str
) -> None:
    fake = FakeTelegram()
    request = StormyRequest(fake)
    async with running_bot(committee, db_url, fake=fake, request=request) as bot:
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        request.storm = True
        cases = [await seed_case(bot, LI, "李明", f"风暴事项{i}") for i in range(30)]
        outbox = bot.app.bot_data["runtime"].outbox
        for _ in range(200):  # tick, then jump to the next retry: backoff runs its course
            await tick(bot.app)
            async with bot.svc.db.read() as conn:
                left = (
                    await conn.execute(select(t.outbox.c.key).where(t.outbox.c.status != "sent"))
                ).all()
            if not left:
                break
            due = await outbox.next_due_at()
            bot.clock.set(max(bot.clock.now() + timedelta(seconds=1), due or bot.clock.now()))
        assert left == []
        assert request.injected["502"] and request.injected["429"] and request.injected["timeout"]

        for chat in (zhao, group):
            texts = bot.texts(chat)
            for case in cases:
                copies = [x for x in texts if case.number in x]
                plain = [x for x in copies if not x.startswith(RESENT)]
                # Each matter arrived, plainly at most once; any other copy is a flagged
                # resend (after a 502 the first copy that arrives may be flagged: a 502 is
                # an answer to a request that was written, so it may have been acted on).
                assert copies and len(plain) <= 1, (case.number, copies)
        async with bot.svc.db.read() as conn:
            uncertain = (
                await conn.execute(select(t.outbox.c.key).where(t.outbox.c.uncertain == 1))
            ).all()
        # A row is marked uncertain by its first timeout or 502 (a resend may fail again).
        assert 0 < len(uncertain) <= request.injected["timeout"] + request.injected["502"]
        resent = [x for chat in (zhao, group) for x in bot.texts(chat) if x.startswith(RESENT)]
        assert len(resent) >= len(uncertain)


async def test_a_question_that_timed_out_still_takes_its_answer(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.say(li, "/new")
        bot.fake.inject_timeout("sendMessage", deliver=True)  # the title question arrives...
        await bot.press(li, "重大事项研判")  # ...but the bot never hears back
        assert bot.last_text(li).startswith("1/6 · 标题")
        await bot.say(li, "滑雪场扩建项目")
        assert bot.last_text(li).startswith("2/6 · 情况说明")
        draft = await bot.svc.load_draft(LI, "form")
        assert draft is not None and draft.data["values"] == {"title": "滑雪场扩建项目"}
