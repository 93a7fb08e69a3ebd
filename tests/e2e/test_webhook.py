"""Webhook mode and the health endpoint, with ``bot.py`` as a real process: the fake Bot API
posts updates to the bot's listener (playing the reverse proxy too), the tests make real
HTTP requests on free local ports."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.health import version
from bot.storage.db import schema_head
from tests.e2e.conftest import BotProcess, World, assert_no_secrets, bot_env, write_committee
from tests.fakes.server import FakeBotApiServer, post_update
from tests.fakes.telegram import FakeTelegram, FakeUser

PUBLIC_URL = "https://bot.example.org/fuyuan/telegram"
SECRET = "e2e-Secret_token-0123456789abcdef"
WRONG = "not-the-secret-0000"
REFUSED = "webhook: refused a request"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, dict[str, Any]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@dataclass
class Site:
    """A bot in webhook mode behind a (simulated) reverse proxy, with its health endpoint."""

    world: World
    server: FakeBotApiServer
    tmp_path: Path
    listen: int
    health: int

    @property
    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.listen}/fuyuan/telegram"

    @property
    def healthz(self) -> str:
        return f"http://127.0.0.1:{self.health}/healthz"

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.tmp_path / "fuyuan.sqlite3") as conn:
            return conn.execute(sql).fetchall()

    def seen(self, update_id: int) -> int:
        return int(
            self.rows(f"select count(*) from seen_updates where update_id = {update_id}")[0][0]
        )


def eventually(predicate: Callable[[], bool], timeout: float = 15) -> None:
    """For what the fake does not see (the database): look again every 50 ms."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def start_webhook(bot: BotProcess, fake: FakeTelegram, listen: int, timeout: float = 20) -> None:
    """Launch and wait until the webhook is set and the listener takes connections."""
    before = len(fake.calls_of("setWebhook"))
    bot.launch()

    def up() -> bool:
        if bot.proc is not None and bot.proc.poll() is not None:
            return True
        if not [c for c in fake.calls_of("setWebhook")[before:] if c.ok]:
            return False
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", listen)) == 0

    deadline = time.monotonic() + timeout
    while not up():
        if time.monotonic() > deadline:
            raise AssertionError("bot did not start its webhook:\n" + bot.output)
        time.sleep(0.05)
    assert bot.proc is not None and bot.proc.poll() is None, bot.output


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    fake = FakeTelegram()
    write_committee(tmp_path)
    listen, health = free_port(), free_port()
    with FakeBotApiServer(fake) as server:
        server.route_webhook(PUBLIC_URL, f"http://127.0.0.1:{listen}/fuyuan/telegram")
        env = bot_env(tmp_path, server) | {
            "WEBHOOK_URL": PUBLIC_URL,
            "WEBHOOK_LISTEN": f"127.0.0.1:{listen}",
            "WEBHOOK_SECRET": SECRET,
            "HEALTH_LISTEN": f"127.0.0.1:{health}",
        }
        bot = BotProcess(env, fake)
        start_webhook(bot, fake, listen)
        try:
            yield Site(World(fake, bot), server, tmp_path, listen, health)
        finally:
            if bot.proc is not None and bot.proc.poll() is None:
                bot.stop()
            assert_no_secrets(bot.output)
            assert SECRET not in bot.output


def forged(user: FakeUser, update_id: int, text: str = "/whoami") -> dict[str, Any]:
    """An update as Telegram would post it, but sent by someone else."""
    sender = {"id": user.id, "is_bot": False, "first_name": user.first_name}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 90_000 + update_id,
            "from": sender,
            "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
            "date": int(time.time()),
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


def test_webhook_mode_answers_telegram_and_refuses_a_request_without_the_secret(
    site: Site,
) -> None:
    fake, world = site.world.fake, site.world
    (set_call,) = [c for c in fake.calls_of("setWebhook") if c.ok]
    assert set_call.params["url"] == PUBLIC_URL
    assert set_call.params["secret_token"] == SECRET
    assert sorted(set_call.params["allowed_updates"]) == [
        "callback_query",
        "message",
        "my_chat_member",
    ]
    assert set_call.params.get("drop_pending_updates") in (None, False, "False", "false")
    assert not fake.calls_of("getUpdates")  # no polling beside the webhook

    user = fake.user(4242, "王五")
    first = world.say(user, "/start")
    assert "4242" in first  # the id a newcomer gives the office
    answered = world.count(user)

    # Someone who knows the address but not the secret: refused before anything is read.
    assert post_update(site.local_url, forged(user, 900_001), None)[0] == 403
    assert post_update(site.local_url, forged(user, 900_002), WRONG)[0] == 403
    # Then the same user through Telegram: its answer comes after anything queued before it.
    world.say(user, "/start")
    assert world.count(user) == answered + 1
    assert site.seen(900_001) == site.seen(900_002) == 0
    assert all(status == 200 for _, status in fake.webhook_posts)

    refusals = [line for line in world.bot.logs if REFUSED in line]
    assert len(refusals) == 2, refusals
    # Nothing else said of them (a status 403, not the milliseconds of a time stamp: ",403").
    said = [line for line in world.bot.logs if re.search(r"(?<![\d,.:])403(?!\d)", line)]
    assert len(said) == 2, said
    assert "did not include the secret token" in refusals[0]
    assert "wrong secret token" in refusals[1]
    assert WRONG not in world.bot.output
    assert "Webhook received data" not in world.bot.output  # update bodies stay out


def test_webhook_update_delivered_twice_is_handled_once_and_in_order(site: Site) -> None:
    fake, world = site.world.fake, site.world
    user = fake.user(4243, "赵六")
    sent = fake.send_text(user, "/whoami")
    world.wait_messages(user, 1)
    update_id = sent.update["update_id"]
    eventually(lambda: site.seen(update_id) == 1)  # recorded as its handling ends

    # Telegram did not see the answer and posts the update again: answered, not handled.
    fake.deliver_again(sent.update)
    world.wait(
        lambda: [p for p in fake.webhook_posts if p[0] == update_id] == [(update_id, 200)] * 2
    )
    marker = world.say(user, "/lang")  # one sender's updates are handled in turn
    assert marker and world.count(user) == 2
    assert site.seen(update_id) == 1

    # A burst from one sender is answered in the order sent.
    before = world.count(user)
    for text in ("/whoami", "/help", "/whoami"):
        fake.send_text(user, text)
    texts = world.wait_messages(user, before + 3)[before:]
    whoami = [text.startswith("Telegram 用户 ID：4243") for text in texts]
    assert whoami == [True, False, True], texts


def test_health_endpoint_reports_the_running_bot(site: Site) -> None:
    # The first tick runs a moment after start; until then the bot is not known healthy.
    deadline = time.monotonic() + 20
    while (answer := get(site.healthz))[0] != 200 and time.monotonic() < deadline:
        assert answer[0] == 503 and answer[1]["healthy"] is False
        time.sleep(0.2)
    status, body = answer
    assert status == 200, body
    assert body["healthy"] is True and body["problems"] == [] and body["database"] is True
    assert body["revision"] == schema_head() and body["version"] == version()
    assert 0 <= body["tick_age_s"] < 60
    tick = site.rows("select value from settings where key = 'last_tick'")[0][0]
    assert body["last_tick"] == tick
    due = site.rows("select count(*) from outbox where status in ('pending','retry','sending')")
    assert body["due"] + body["retrying"] == due[0][0]
    assert body["failed_24h"] == 0
    assert get(f"http://127.0.0.1:{site.health}/other")[0] == 404


def test_switching_back_to_polling_deletes_the_webhook_and_loses_nothing(site: Site) -> None:
    fake, world = site.world.fake, site.world
    user = fake.user(4244, "钱七")
    world.say(user, "/start")
    assert world.bot.stop() == 0
    # Written while the bot is down: Telegram keeps it, failing to post it.
    sent = fake.send_text(user, "/whoami")
    world.wait(lambda: fake.webhook_last_error is not None)
    assert fake.pending_update_count == 1

    polling = BotProcess(world.bot.env | {"WEBHOOK_URL": ""}, fake)
    polling.start()
    world.bot = polling
    try:
        assert fake.webhook_url == ""
        assert "4244" in world.wait_messages(user, 2)[-1]
        eventually(lambda: site.seen(sent.update["update_id"]) == 1)
        status, body = get(site.healthz)  # served in polling mode too
        assert status in (200, 503) and body["database"] is True
    finally:
        assert polling.stop() == 0


def test_health_endpoint_says_503_while_telegram_cannot_be_reached(tmp_path: Path) -> None:
    write_committee(tmp_path)
    health = free_port()
    fake = FakeTelegram()
    with FakeBotApiServer(fake) as server:
        env = bot_env(tmp_path, server)
    # The server is gone: the bot keeps trying to reach it, and says so.
    bot = BotProcess(env | {"HEALTH_LISTEN": f"127.0.0.1:{health}"}, fake)
    bot.launch()
    try:
        deadline = time.monotonic() + 20
        while "health endpoint on" not in bot.output and time.monotonic() < deadline:
            time.sleep(0.05)
        status, body = get(f"http://127.0.0.1:{health}/healthz")
        assert status == 503 and body["healthy"] is False and body["database"] is False
        assert body["version"] == version()
    finally:
        assert bot.stop() == 0


@pytest.mark.parametrize("name", ["WEBHOOK_LISTEN", "HEALTH_LISTEN"])
def test_a_busy_listen_address_is_one_line_and_exit_2(tmp_path: Path, name: str) -> None:
    write_committee(tmp_path)
    fake = FakeTelegram()
    with socket.socket() as busy, FakeBotApiServer(fake) as server:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = bot_env(tmp_path, server) | {
            "WEBHOOK_URL": PUBLIC_URL,
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_LISTEN": f"127.0.0.1:{free_port()}",
            name: f"127.0.0.1:{port}",
        }
        bot = BotProcess(env, fake)
        bot.launch()
        assert bot.proc is not None and bot.proc.wait(30) == 2
        bot.stop()  # collects the output
    assert bot.output.strip() == (
        f"fuyuan-bot: configuration error: {name} 127.0.0.1:{port}: "
        "cannot listen there (Address already in use)"
    )
    assert not fake.calls  # nothing was asked of Telegram, no webhook set
