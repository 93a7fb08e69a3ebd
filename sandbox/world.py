"""The sandbox's world: the local Bot API, the real bot pointed at it, its own database, a
clock the time controls move, and the cast of the example committee, joined as people join.

This is the sandbox's composition root for the bot: it calls ``build_application`` with the
settings a deployment would have, only the Bot API's address and the clock differ. The bot
does not know it is in a sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update

from bot.app import build_application
from bot.config import Settings, load_committee
from bot.domain.committee import Committee
from bot.domain.models import ROLE_LABELS
from bot.i18n import gettext_for
from handlers.common import INVITE_PREFIX, AppType
from handlers.jobs import tick
from handlers.runtime import Runtime
from sandbox.botapi.server import FakeBotApiServer
from sandbox.botapi.telegram import BOT_ID, FakeTelegram, FakeUser
from sandbox.cast import CAST, GROUP_ID, GROUP_KEY, OFFICE, Person
from sandbox.clock import SandboxClock
from sandbox.render import to_html

logger = logging.getLogger(__name__)

JSON = dict[str, Any]

# A fixed token of the right shape; it only ever reaches the local Bot API.
SANDBOX_TOKEN = "777000222:fake-token-of-the-sandbox-for-its-local-bot-api"
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]
DATABASE_NAME = "sandbox.sqlite3"
# Time-control jumps: the morning summary goes out at the schedule's summary time, the
# weekly digest on Monday at 09:00.
MONDAY_MORNING = time(9, 0)
MAX_WORKDAYS_JUMP = 60
BEFORE_MEETING = timedelta(hours=1)
REPLY_TIMEOUT = 30.0
DEEP_LINK_START = re.compile(r"/start [A-Za-z0-9_-]{1,64}")


class SandboxError(Exception):
    """A request the sandbox refuses (an unknown person, a jump out of range): the page says
    why in its person's language, by ``code``; the message is for logs and other clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Sandbox:
    """Start, act in, move the time of, and reset the committee of one sandbox."""

    def __init__(
        self,
        data_dir: Path,
        committee_file: Path,
        *,
        tz: ZoneInfo,
        log_level: str = "WARNING",
        flood_limits: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.committee_file = committee_file
        self.tz = tz
        self.log_level = log_level
        self.flood_limits = flood_limits
        self.clock = SandboxClock()
        self.generation = 0
        self.fake = FakeTelegram(now=self._timestamp)
        self._server: FakeBotApiServer | None = None
        self._app: AppType | None = None
        self._committee: Committee | None = None
        self._lock = asyncio.Lock()
        self._resetting = False
        self.closed = False
        self._changed = asyncio.Event()
        self._remove_listener: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def database(self) -> Path:
        return self.data_dir / DATABASE_NAME

    @property
    def app(self) -> AppType:
        if self._app is None:
            raise RuntimeError("the sandbox is not running")
        return self._app

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.bot_data["runtime"]
        return runtime

    @property
    def committee(self) -> Committee:
        if self._committee is None:
            raise RuntimeError("the sandbox is not running")
        return self._committee

    @property
    def bot_api_port(self) -> int:
        """Where the local Bot API listens (on 127.0.0.1)."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return self._server.port

    def _timestamp(self) -> float:
        return self.clock.now().timestamp()

    async def start(self) -> None:
        """The local Bot API, the bot polling it, and the cast joined, on a fresh database:
        the chats live in memory and the clock starts at the wall time again, so a database
        left by an earlier run would not match them."""
        async with self._lock:
            await asyncio.to_thread(self._delete_database)
            await self._start()

    async def stop(self) -> None:
        """Stop the bot and the local Bot API; pages waiting for a change get their answer."""
        self.closed = True
        self._wake()
        async with self._lock:
            await self._stop()

    async def reset(self) -> None:
        """The committee afresh: the bot stopped, the sandbox database and the chats gone, the
        clock back to the wall time, then everything started and the cast joined again."""
        async with self._lock:
            self._resetting = True
            try:
                await self._stop()
                await asyncio.to_thread(self._delete_database)
                self.clock.reset()
                self.fake = FakeTelegram(now=self._timestamp)
                await self._start()
            finally:
                self._resetting = False

    def _delete_database(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.database}{suffix}").unlink(missing_ok=True)

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.closed = False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        committee = load_committee(self.committee_file)
        # The office admin of the cast bootstraps the committee, as the README's step 4 says.
        self._committee = dataclasses.replace(
            committee, admins=frozenset({OFFICE.user_id}), admin_org=OFFICE.org_code
        )
        if self.flood_limits:
            self.fake.flood_limits()
        self._remove_listener = self.fake.add_listener(self._on_change)
        self._server = FakeBotApiServer(self.fake, SANDBOX_TOKEN).start()
        settings = Settings(
            token=SANDBOX_TOKEN,
            api_base_url=self._server.base_url,
            file_base_url=self._server.base_file_url,
            database_url=f"sqlite+aiosqlite:///{self.database}",
            committee_file=self.committee_file,
            tz=self.tz,
            log_level=self.log_level,
        )
        app = build_application(settings, self._committee, clock=self.clock)
        self._app = app  # stopped by _stop() however far the start got
        # What Application.run_polling does, on the loop the web chat shares.
        await app.initialize()
        if app.post_init is not None:
            await app.post_init(app)
        assert app.updater is not None
        await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        await app.start()
        self.generation += 1
        await self._join_cast()
        self._on_change()

    async def _stop(self) -> None:
        app, self._app = self._app, None
        if app is not None:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
            if app.post_shutdown is not None:
                await app.post_shutdown(app)
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.stop)

    # ------------------------------------------------------------------ the cast

    def user(self, person: Person) -> FakeUser:
        return self.fake.user(person.user_id, person.name)

    async def _join_cast(self) -> None:
        """The office admin starts the bot and binds the group; the others join with the
        one-time links the office makes for them, by sending ``/start <token>``."""
        office = self.user(OFFICE)
        await self._say_and_wait(office, "/start")
        group = self.fake.group(GROUP_ID, self.committee.name_zh)
        self.fake.bot_added_to_group(group, by=office)
        _, bind = self.fake.send_text(office, "/bindgroup", group)
        assert bind is not None
        await self.fake.until(
            lambda: any(m["message_id"] > bind["message_id"] for m in self.fake.messages_to(group)),
            REPLY_TIMEOUT,
        )
        svc = self.runtime.svc
        viewer = await svc.viewer_by_id(OFFICE.user_id)
        assert viewer is not None
        for person in CAST:
            if person is OFFICE:
                continue
            invite = await svc.create_invite(viewer, person.org_code, person.role)
            await self._say_and_wait(self.user(person), f"/start {INVITE_PREFIX}{invite.token}")

    async def _say_and_wait(self, user: FakeUser, text: str) -> None:
        before = len(self.fake.messages_to(user))
        self.fake.send_text(user, text)
        await self.fake.until(lambda: len(self.fake.messages_to(user)) > before, REPLY_TIMEOUT)

    def person(self, key: str) -> Person:
        for person in CAST:
            if person.key == key:
                return person
        raise SandboxError("unknown_person", f"unknown person {key!r}")

    def chat_of(self, key: str) -> int:
        return GROUP_ID if key == GROUP_KEY else self.person(key).user_id

    # ------------------------------------------------------------------ acting

    def send_text(self, key: str, text: str, *, as_key: str | None = None) -> None:
        """``key``'s chat gets ``text`` from its person (in the group: from ``as_key``)."""
        if not text.strip():
            raise SandboxError("empty", "empty message")
        speaker, chat = self._speaker(key, as_key)
        self.fake.send_text(self.user(speaker), text, chat)

    def send_file(
        self,
        key: str,
        name: str,
        content: bytes,
        mime_type: str,
        caption: str | None,
        *,
        as_key: str | None = None,
    ) -> None:
        """A document, or a photo when it is an image, as a Telegram client sends them."""
        if not content:
            raise SandboxError("empty", "empty file")
        speaker, chat = self._speaker(key, as_key)
        user = self.user(speaker)
        if mime_type.startswith("image/") and mime_type not in ("image/svg+xml", "image/gif"):
            self.fake.send_photo(user, len(content), chat, caption or None, content=content)
        else:
            self.fake.send_document(
                user, name, chat=chat, caption=caption or None, content=content, mime_type=mime_type
            )

    def press(
        self, key: str, message_id: int, row: int, column: int, *, as_key: str | None = None
    ) -> None:
        """``key`` taps a callback button of one of the bot's messages in their chat."""
        speaker, chat = self._speaker(key, as_key)
        try:
            message = self.fake.message(chat, message_id)
            button = message["reply_markup"]["inline_keyboard"][row][column]
            data = button["callback_data"]
            self.fake.press(self.user(speaker), message, callback_data=data, chat_id=chat)
        except (AssertionError, KeyError, IndexError, TypeError):
            # Gone, changed since the page showed it, not the bot's, or not a callback button.
            raise SandboxError("no_button", "no such button (the message has changed)") from None

    def _speaker(self, key: str, as_key: str | None) -> tuple[Person, int]:
        if self._resetting or self._app is None:
            raise SandboxError("resetting", "the committee is being reset: a moment, please")
        if key == GROUP_KEY:
            return self.person(as_key or OFFICE.key), GROUP_ID
        return self.person(key), self.person(key).user_id

    # ------------------------------------------------------------------ time

    async def jump(self, action: str, workdays: int = 1) -> datetime:
        """Move the clock (next working morning, Monday 09:00, ``workdays`` working days on,
        or an hour before the next meeting), running the bot's tick at once so what became
        due is sent now.

        The clock stops on the way at every moment a meeting's or a hearing's reminder falls
        due, and the tick runs there: a bot running all along would have sent each on time,
        where one leap would send one late reminder for the nearest offset and drop the rest.
        """
        async with self._lock:
            now = self.clock.now().astimezone(self.tz)
            svc = self.runtime.svc
            calendar = svc.calendar
            if action == "next-morning":
                target = self._at(now.date(), self.committee.schedule.summary_time)
                while target <= now or not calendar.is_working_day(target.date()):
                    target = self._at(target.date() + timedelta(days=1), target.timetz())
            elif action == "monday-9":
                ahead = (7 - now.weekday()) % 7
                target = self._at(now.date() + timedelta(days=ahead), MONDAY_MORNING)
                if target <= now:
                    target = self._at(target.date() + timedelta(days=7), MONDAY_MORNING)
            elif action == "workdays":
                if not 1 <= workdays <= MAX_WORKDAYS_JUMP:
                    raise SandboxError("workdays", f"working days: 1 to {MAX_WORKDAYS_JUMP}")
                day = calendar.add_working_days(now.date(), workdays)
                target = self._at(day, now.timetz().replace(tzinfo=None))
            elif action == "meeting-1h":
                target = await self._before_next_meeting(now)
            else:
                raise SandboxError("unknown_jump", f"unknown time jump {action!r}")
            for moment in await svc.reminder_moments(target):
                if moment < target:
                    self.clock.jump_to(moment)
                    logger.info("sandbox time stops at %s for a reminder", moment.isoformat())
                    await tick(self.app)
                    self._on_change()
            self.clock.jump_to(target)
            logger.info("sandbox time jumped to %s", target.isoformat())
            await tick(self.app)
            self._on_change()
            return target

    async def _before_next_meeting(self, now: datetime) -> datetime:
        """An hour before the next scheduled meeting that is more than an hour away."""
        for view in await self.runtime.svc.meetings.upcoming():
            moment = view.starts_at.astimezone(self.tz) - BEFORE_MEETING
            if moment > now:
                return moment
        raise SandboxError("no_meeting", "no meeting is scheduled more than an hour ahead")

    def _at(self, day: date, moment: time) -> datetime:
        return datetime.combine(day, moment.replace(tzinfo=None), self.tz)

    # ------------------------------------------------------------------ what the page shows

    def _on_change(self) -> None:
        """Called by the local Bot API on every call and update, from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def changed(self) -> asyncio.Event:
        """Set at the next change: take it before reading the state, then wait on it."""
        return self._changed

    async def state(self) -> JSON:
        """Everything the page shows, and a digest of it to wait for its next change."""
        people = []
        chats: JSON = {}
        langs: dict[int, str] = {}
        # While a reset rebuilds the bot its runtime is not open: people show in Chinese.
        running = self._app is not None and not self._resetting
        svc = self.runtime.svc if running else None
        for person in CAST:
            viewer = await svc.viewer_by_id(person.user_id) if svc is not None else None
            lang = viewer.lang if viewer is not None else "zh_CN"
            langs[person.user_id] = lang
            org = self.committee.organisations[person.org_code]
            role = gettext_for(lang, ROLE_LABELS[person.role.value])
            people.append(
                {
                    "key": person.key,
                    "name": person.name,
                    "user_id": person.user_id,
                    "org": org.short(lang),
                    "role": role,
                    "lang": "en" if lang == "en" else "zh",
                }
            )
            chats[person.key] = {
                "messages": self._messages(person.user_id),
                "commands": self._commands(person.user_id, lang),
            }
        people.append(
            {
                "key": GROUP_KEY,
                "name": self.committee.name_zh,
                "user_id": GROUP_ID,
                "org": "",
                "role": "",
                "lang": "zh",
            }
        )
        chats[GROUP_KEY] = {
            "messages": self._messages(GROUP_ID),
            "commands": self._commands(GROUP_ID, "zh_CN"),
        }
        answers = [
            {"user_id": a["user_id"], "text": a["text"], "show_alert": a["show_alert"]}
            for a in self.fake.callback_answers()
            if a["text"]
        ]
        state: JSON = {
            "generation": self.generation,
            "bot_username": self.fake.bot_user["username"],
            "people": people,
            "chats": chats,
            "answers": answers,
            "clock": {
                "offset_ms": int(self.clock.offset.total_seconds() * 1000),
                "tz": self.tz.key,
                "now": self.clock.now().astimezone(self.tz).isoformat(timespec="minutes"),
            },
        }
        stable = {key: value for key, value in state.items() if key != "clock"}
        stable["offset"] = state["clock"]["offset_ms"] // 1000
        digest = hashlib.sha256(
            json.dumps(stable, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()[:16]
        return {"digest": digest, **state}

    def _messages(self, chat_id: int) -> list[JSON]:
        shown = []
        for message in self.fake.history(chat_id):
            view = _message_view(message)
            if view is not None:
                shown.append(view)
        return shown

    def _commands(self, chat_id: int, lang: str) -> list[JSON]:
        """The command menu Telegram shows in this chat: the most specific scope set, in the
        user's language before the default one."""
        codes = ["en", ""] if lang == "en" else ["zh", ""]
        broad = "all_private_chats" if chat_id > 0 else "all_group_chats"
        for kind, scope_chat in (("chat", chat_id), (broad, None), ("default", None)):
            for code in codes:
                commands = self.fake.my_commands(kind, scope_chat, code)
                if commands:
                    return commands
        return []

    def file(self, file_id: str) -> tuple[bytes, str, str]:
        """A file sent in a chat: its bytes, a name to save it under, its MIME type."""
        found = self.fake.stored_file(file_id)
        if found is None:
            raise SandboxError("no_file", "no such file")
        content, name, mime = found
        if mime is None:
            mime = "image/png" if content.startswith(b"\x89PNG") else "image/jpeg"
        if name is None:
            name = "photo.png" if mime == "image/png" else "photo.jpg"
        return content, name, mime


def _message_view(message: JSON) -> JSON | None:
    """One message as the page renders it; None for service messages it does not show."""
    sender = message.get("from", {})
    text = message.get("text")
    entities = message.get("entities")
    if text is None:
        text = message.get("caption", "")
        entities = message.get("caption_entities")
    if not sender.get("is_bot") and DEEP_LINK_START.fullmatch(str(text)):
        # Opening a t.me link to the bot shows "/start" in the chat; the parameter (an
        # invite's token) goes to the bot unseen.
        text, entities = "/start", None
    view: JSON = {
        "id": message["message_id"],
        "bot": sender.get("id") == BOT_ID,
        "sender": sender.get("first_name", ""),
        "date": message.get("date", 0),
        "edited": "edit_date" in message,
        "html": to_html(str(text), entities),
    }
    reply = message.get("reply_to_message")
    if isinstance(reply, dict):
        view["reply_to"] = str(reply.get("text") or reply.get("caption") or "")[:80]
    if "document" in message:
        document = message["document"]
        view["file"] = {
            "id": document["file_id"],
            "name": document.get("file_name") or "file",
            "size": document.get("file_size", 0),
            "kind": "document",
        }
    elif "photo" in message:
        largest = message["photo"][-1]
        view["file"] = {
            "id": largest["file_id"],
            "name": "photo",
            "size": largest.get("file_size", 0),
            "kind": "photo",
        }
    elif text == "":
        if "new_chat_members" in message:
            view["service"] = True
            view["html"] = to_html(
                ", ".join(str(m.get("first_name", "")) for m in message["new_chat_members"]) + " +"
            )
        else:
            return None
    keyboard = message.get("reply_markup", {}).get("inline_keyboard")
    if keyboard:
        view["keyboard"] = [
            [
                {"text": button["text"], "url": button.get("url"), "kind": _button_kind(button)}
                for button in row
            ]
            for row in keyboard
        ]
    return view


def _button_kind(button: JSON) -> str:
    if button.get("callback_data") is not None:
        return "callback"
    if button.get("url") is not None:
        return "url"
    return "other"
