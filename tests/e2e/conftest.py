"""End-to-end harness: ``bot.py`` as a real subprocess against the local fake Bot API server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_committee
from bot.i18n import gettext_for
from tests.conftest import POSTGRES
from tests.fakes.server import TEST_TOKEN, FakeBotApiServer
from tests.fakes.telegram import FakeChat, FakeTelegram, FakeUser
from tests.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
ADMIN_ID = 1001
JSON = dict[str, Any]


def on_button(name: str) -> str:
    """An organisation, given by its full Chinese name, as a form's button names it: by the
    short name the example committee file gives it."""
    for org in load_committee(ROOT / "committee.example.toml").organisations.values():
        if org.name_zh == name:
            return org.short("zh_CN")
    return name


TEST_CALENDAR = """
[calendar.2027]
holidays = ["2027-01-01..2027-01-03", "2027-02-06..2027-02-12"]
workdays = ["2027-02-13"]
"""


class BotProcess:
    """Starts, stops and kills ``python bot.py``; keeps everything it logged."""

    def __init__(self, env: dict[str, str], fake: FakeTelegram) -> None:
        self.env = env
        self.fake = fake
        self.proc: subprocess.Popen[str] | None = None
        self.logs: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 20) -> None:
        polls_before = len(self.fake.calls_of("getUpdates"))
        starts_before = len(self.fake.calls_of("deleteWebhook"))
        self.launch()
        self.wait_polling(polls_before, starts_before, timeout)

    def launch(self) -> None:
        """Start the process without waiting for it to poll."""
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bot.py")],
            cwd=self.env["WORKDIR"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()

    def wait_polling(self, polls_before: int, starts_before: int, timeout: float = 20) -> None:
        """Wait until the process began polling (after ``starts_before`` deleteWebhook and
        ``polls_before`` getUpdates calls), or fail with what it printed."""
        assert self.proc is not None
        try:
            # Ready once this process began polling (run_polling calls deleteWebhook first)
            # and a poll is parked or answered. A poll parked by a killed process may linger;
            # it cannot take updates from the new one, since nothing confirms them.
            self.fake.wait_for(
                lambda: (
                    (
                        len(self.fake.calls_of("deleteWebhook")) > starts_before
                        and (
                            self.fake.waiting_long_polls > 0
                            or len(self.fake.calls_of("getUpdates")) > polls_before
                        )
                    )
                    or (self.proc is not None and self.proc.poll() is not None)
                ),
                timeout,
            )
        except AssertionError:
            raise AssertionError("bot did not start polling:\n" + self.output) from None
        if self.proc.poll() is not None:
            raise AssertionError(f"bot exited with {self.proc.returncode}:\n{self.output}")

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.logs.append(line)

    @property
    def output(self) -> str:
        return "".join(self.logs)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(5)
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


class World:
    """The fake Telegram, the bot process, and helpers that act and wait like users."""

    def __init__(self, fake: FakeTelegram, bot: BotProcess) -> None:
        self.fake = fake
        self.bot = bot

    def wait(self, predicate: Callable[[], bool], timeout: float = 15) -> None:
        """Wait for a condition; on failure show the bot's recent log lines too."""
        try:
            self.fake.wait_for(predicate, timeout)
        except AssertionError as exc:
            tail = "".join(self.bot.logs[-40:])
            raise AssertionError(f"{exc}\n---- bot log (tail) ----\n{tail}") from None

    def count(self, chat: FakeUser | FakeChat) -> int:
        return len(self.fake.messages_to(chat))

    def wait_messages(
        self, chat: FakeUser | FakeChat, at_least: int, timeout: float = 15
    ) -> list[str]:
        self.wait(lambda: self.count(chat) >= at_least, timeout)
        return self.fake.texts_to(chat)

    def say(self, user: FakeUser, text: str, chat: FakeChat | None = None, replies: int = 1) -> str:
        """Send a text and wait for the bot's answer(s); returns the last one."""
        target = chat or user
        before = self.count(target)
        self.fake.send_text(user, text, chat)
        return self.wait_messages(target, before + replies)[-1]

    def press(
        self,
        user: FakeUser,
        label: str | None = None,
        *,
        message: JSON | None = None,
        data: str | None = None,
        wait: str = "message",
    ) -> str:
        """Press a button on the latest message with buttons and wait for the bot's reaction:
        ``"message"`` a new message in the chat, ``"edit"`` the pressed message changed,
        ``"answer"`` only the button's answer. Returns the answer's text."""
        if message is None:
            message = self.last_with_buttons(user)
        answered = len(self.fake.callback_answers(user))
        before = self.count(user)
        chat_id = message["chat"]["id"]

        def look() -> tuple[object, object]:
            current = self.fake.message(chat_id, message["message_id"])
            return current.get("text"), current.get("reply_markup")

        shown = look()
        self.fake.press(user, message, label, callback_data=data)
        self.wait(lambda: len(self.fake.callback_answers(user)) > answered)
        if wait == "message":
            self.wait(lambda: self.count(user) > before)
        elif wait == "edit":
            self.wait(lambda: look() != shown)
        return self.fake.callback_answers(user)[-1].get("text") or ""

    def last_with_buttons(self, chat: FakeUser | FakeChat) -> JSON:
        for message in reversed(self.fake.messages_to(chat)):
            if message.get("reply_markup", {}).get("inline_keyboard"):
                return message
        raise AssertionError("no message with buttons:\n" + self.fake.summary())

    def last_text(self, chat: FakeUser | FakeChat) -> str:
        return str(self.fake.last_message_to(chat).get("text", ""))

    def join(self, user: FakeUser, org_name: str, role_label: str) -> None:
        admin = self.fake.user(ADMIN_ID, "办公室管理员")
        self.say(admin, "/invite")
        self.press(admin, org_name, wait="edit")
        self.press(admin, role_label, wait="edit")
        link = re.search(r"\?start=(\S+)", self.last_text(admin))
        assert link is not None, self.last_text(admin)
        welcome = self.say(user, f"/start {link.group(1)}", replies=2)
        assert "/my" in welcome


@pytest.fixture
def committee_tweak() -> Callable[[str], str]:
    """Edits the committee file's text before the bot starts. Unchanged here; a test module
    overrides this fixture to tweak its configuration (the ``[schedule]`` table, say)."""
    return lambda text: text


@pytest.fixture
def e2e_db_url(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The bot's database: a file it creates, or (tests marked ``postgres``) an empty
    PostgreSQL database it migrates at its first start."""
    if database == POSTGRES:
        server: PostgresServer = request.getfixturevalue("postgres")
        with server.fresh_database(migrated=False) as url:
            yield url
        return
    yield f"sqlite+aiosqlite:///{tmp_path / 'fuyuan.sqlite3'}"


def write_committee(tmp_path: Path, tweak: Callable[[str], str] = lambda text: text) -> Path:
    """The example committee with the test admin and calendar, as ``committee.toml``."""
    committee = (ROOT / "committee.example.toml").read_text("utf-8")
    committee = committee.replace("admins = []", f"admins = [{ADMIN_ID}]")
    # Test data, not the official schedule: with every coming year configured, the office
    # gets no calendar warning in the middle of a test's conversation.
    committee += TEST_CALENDAR
    path = tmp_path / "committee.toml"
    path.write_text(tweak(committee), "utf-8")
    return path


def bot_env(tmp_path: Path, server: FakeBotApiServer) -> dict[str, str]:
    """The environment of a bot process working in ``tmp_path`` against ``server``."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "WORKDIR": str(tmp_path),
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE_URL": server.base_url,
        "TELEGRAM_BASE_FILE_URL": server.base_file_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fuyuan.sqlite3'}",
        "COMMITTEE_CONFIG": str(tmp_path / "committee.toml"),
        "TZ": "Asia/Shanghai",
        "LOG_LEVEL": "DEBUG",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def world(
    tmp_path: Path, committee_tweak: Callable[[str], str], e2e_db_url: str
) -> Iterator[World]:
    fake = FakeTelegram()
    write_committee(tmp_path, committee_tweak)
    with FakeBotApiServer(fake) as server:
        bot = BotProcess({**bot_env(tmp_path, server), "DATABASE_URL": e2e_db_url}, fake)
        bot.start()
        try:
            yield World(fake, bot)
        finally:
            if bot.proc is not None and bot.proc.poll() is None:
                bot.stop()
            assert_no_secrets(bot.output)


TOKEN_PATTERN = re.compile(r"bot\d+:[A-Za-z0-9_-]+")


def assert_no_secrets(output: str) -> None:
    """The bot token never appears in what the bot logged, not even at DEBUG."""
    assert TEST_TOKEN not in output
    assert TEST_TOKEN.split(":", 1)[1] not in output
    assert not TOKEN_PATTERN.search(output), TOKEN_PATTERN.search(output)


def zh(msgid: str, **params: object) -> str:
    """A text as the bot shows it in Chinese (the English id while it is untranslated)."""
    text = gettext_for("zh_CN", msgid)
    return text % params if params else text
