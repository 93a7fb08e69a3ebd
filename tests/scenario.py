"""In-process scenario harness: the real Application with all handlers, the fake Bot API behind
a ``BaseRequest``, a temporary SQLite file and a manual clock.

Tests act as users (``say``, ``press``, ``send_document``); every resulting update goes through
``Application.process_update`` exactly as polling would deliver it. After every step the harness
checks two things a real user would notice: every button press was answered (no spinning
button), and Telegram rejected none of the bot's calls (bad markup, oversize data...).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from telegram import Update

from bot.app import build_application
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain.committee import Committee
from bot.domain.kinds import KindRegistry
from bot.domain.models import Role
from bot.services.coordination import Coordination
from handlers.common import AppType
from handlers.jobs import tick
from tests.conftest import ADMIN_ID, SHANGHAI
from tests.fakes.request import FakeRequest
from tests.fakes.server import TEST_TOKEN
from tests.fakes.telegram import FakeChat, FakeTelegram, FakeUser

TOKEN = TEST_TOKEN
JSON = dict[str, Any]


class Harness:
    def __init__(self, fake: FakeTelegram, app: AppType, clock: ManualClock) -> None:
        self.fake = fake
        self.app = app
        self.clock = clock
        self._offset = 0
        self._checked_calls = 0
        self.allowed_errors: set[int] = {403}

    @property
    def svc(self) -> Coordination:
        return self.app.bot_data["runtime"].svc  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ delivery

    async def deliver(self) -> None:
        """Process every queued update, in order, like the polling loop would; then let the
        outbox deliveries the handlers started in the background finish."""
        while True:
            updates = self.fake.take_updates(self._offset or None)
            if not updates:
                break
            for raw in updates:
                self._offset = raw["update_id"] + 1
                await self.app.process_update(Update.de_json(raw, self.app.bot))
        self.fake.take_updates(self._offset or None)  # confirm, as getUpdates would
        await self.settle()
        self.check()

    async def deliver_as_polling(self) -> None:
        """Process every queued update as the running bot does: each through the
        application's update processor as a task of its own (one sender's in order, different
        senders' side by side), the fetch loop yielding between updates."""
        updates = self.fake.take_updates(self._offset or None)
        tasks = []
        for raw in updates:
            self._offset = raw["update_id"] + 1
            update = Update.de_json(raw, self.app.bot)
            tasks.append(
                asyncio.create_task(
                    self.app.update_processor.process_update(
                        update, self.app.process_update(update)
                    )
                )
            )
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        self.fake.take_updates(self._offset or None)
        await self.settle()
        self.check()

    async def settle(self) -> None:
        """Wait for the deliveries handlers started in the background (``deliver_now``)."""
        runtime = self.app.bot_data["runtime"]
        while runtime._tasks:
            await asyncio.gather(*list(runtime._tasks))

    async def tick(self, when: datetime | None = None) -> None:
        """What the JobQueue does every minute (after moving the clock to ``when``): queue
        what is due, deliver it."""
        if when is not None:
            self.clock.set(when)
        await tick(self.app)
        self.check()

    def shown(self, msgid: str, **params: Any) -> str:
        """A text as the bot shows it in Chinese (the English id while it is untranslated)."""
        return self.app.bot_data["runtime"].texts.t("zh_CN", msgid, **params)  # type: ignore[no-any-return]

    def shown_n(self, singular: str, plural: str, n: int, **params: Any) -> str:
        """A count as the bot shows it in Chinese (the catalog's plural forms)."""
        texts = self.app.bot_data["runtime"].texts
        return texts.tn("zh_CN", singular, plural, n, **params)  # type: ignore[no-any-return]

    async def flush_outbox(self) -> None:
        """Deliver what the outbox holds now, as the courier job would."""
        runtime = self.app.bot_data["runtime"]
        await runtime.courier.flush(self.app.bot)
        self.check()

    def check(self) -> None:
        calls = self.fake.calls[self._checked_calls :]
        self._checked_calls = len(self.fake.calls)
        for call in calls:
            response = call.response
            # "chat not found" is Telegram's answer for someone who never opened a chat with
            # the bot: the outbox records it; it says nothing about the bot's own messages.
            unreachable = "chat not found" in str(response.get("description", ""))
            if (
                not response.get("ok")
                and not unreachable
                and response.get("error_code") not in self.allowed_errors
            ):
                raise AssertionError(
                    f"Telegram rejected {call.method}: {response.get('description')}\n"
                    f"params: {call.params}"
                )
        spinning = self.fake.unanswered_callback_queries()
        if spinning:
            raise AssertionError(f"button presses never answered: {spinning}")

    # ------------------------------------------------------------------ users

    def user(self, user_id: int, name: str, lang: str = "zh-hans") -> FakeUser:
        return self.fake.user(user_id, name, language_code=lang)

    async def say(self, user: FakeUser, text: str, chat: FakeChat | None = None) -> None:
        self.fake.send_text(user, text, chat)
        await self.deliver()

    async def press(
        self,
        user: FakeUser,
        label: str | None = None,
        *,
        message: JSON | None = None,
        data: str | None = None,
        chat: FakeChat | FakeUser | None = None,
    ) -> None:
        """Press a button on the latest bot message in the user's chat (or on ``message``)."""
        if message is None:
            message = self.last_with_buttons(chat or user)
        self.fake.press(user, message, label, callback_data=data)
        await self.deliver()

    async def send_document(self, user: FakeUser, name: str, size: int) -> None:
        self.fake.send_document(user, name, size)
        await self.deliver()

    async def send_photo(self, user: FakeUser, size: int = 200_000) -> None:
        self.fake.send_photo(user, size)
        await self.deliver()

    # ------------------------------------------------------------------ what users see

    def texts(self, chat: FakeUser | FakeChat | int) -> list[str]:
        return self.fake.texts_to(chat)

    def last_text(self, chat: FakeUser | FakeChat | int) -> str:
        return str(self.fake.last_message_to(chat).get("text", ""))

    def last_with_buttons(self, chat: FakeUser | FakeChat | int) -> JSON:
        for message in reversed(self.fake.messages_to(chat)):
            if message.get("reply_markup", {}).get("inline_keyboard"):
                return message
        raise AssertionError(f"no message with buttons in chat; recent:\n{self.fake.summary()}")

    def labels(self, message: JSON) -> list[str]:
        return [label for row in self.fake.buttons(message) for label, _ in row]

    def alerts(self, user: FakeUser) -> list[str]:
        return [str(a.get("text") or "") for a in self.fake.callback_answers(user)]

    def new_texts(self, chat: FakeUser | FakeChat | int, before: int) -> list[str]:
        return self.texts(chat)[before:]

    # ------------------------------------------------------------------ shortcuts

    async def join(self, user: FakeUser, org: str, role: Role) -> None:
        """The office invites; the user opens the link, exactly as people do."""
        admin = self.fake.user(ADMIN_ID, "办公室管理员")
        await self.say(admin, "/invite")
        await self.press(admin, self.svc.committee.organisations[org].name_zh)
        role_labels = {
            Role.DEPARTMENT_HEAD: "部门负责人",
            Role.COURT_STAFF: "法院工作人员",
            Role.OFFICE: "府院联动办公室",
            Role.OBSERVER: "观察员",
        }
        await self.press(admin, role_labels[role])
        link = re.search(r"https://t\.me/\S+\?start=(\S+)", self.last_text(admin))
        assert link is not None, self.last_text(admin)
        await self.say(user, f"/start {link.group(1)}")


@asynccontextmanager
async def running_bot(
    committee: Committee,
    db_url: str,
    clock: ManualClock | None = None,
    *,
    fake: FakeTelegram | None = None,
    request: FakeRequest | None = None,
    kinds: KindRegistry | None = None,
) -> AsyncIterator[Harness]:
    clock = clock or ManualClock(datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))
    fake = fake or FakeTelegram(now=lambda: clock.now().timestamp())
    settings = Settings(token=TOKEN, database_url=db_url, tz=SHANGHAI)
    app = build_application(
        settings,
        committee,
        clock=clock,
        request=request or FakeRequest(fake),
        rate_limiter=False,
        kinds=kinds,
    )
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    harness = Harness(fake, app, clock)
    try:
        yield harness
    finally:
        await app.shutdown()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
