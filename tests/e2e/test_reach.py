"""Reaching Telegram with the real process: an unreachable Bot API is one line and retried
until it answers, a rejected token is one line and exit code 2, and a SOCKS5 or HTTP proxy
from the environment carries every request. Everything stays on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_ID, ROOT, TEST_CALENDAR, BotProcess, assert_no_secrets
from tests.fakes.proxy import RelayProxy
from tests.fakes.server import TEST_TOKEN, FakeBotApiServer
from tests.fakes.telegram import FakeTelegram


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    committee = (ROOT / "committee.example.toml").read_text("utf-8")
    committee = committee.replace("admins = []", f"admins = [{ADMIN_ID}]") + TEST_CALENDAR
    (tmp_path / "committee.toml").write_text(committee, "utf-8")
    return tmp_path


def env_for(workdir: Path, api: str, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),
        "WORKDIR": str(workdir),
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE_URL": f"{api}/bot",
        "TELEGRAM_BASE_FILE_URL": f"{api}/file/bot",
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'fuyuan.sqlite3'}",
        "COMMITTEE_CONFIG": str(workdir / "committee.toml"),
        "TZ": "Asia/Shanghai",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@pytest.fixture
def refusing() -> Iterator[socket.socket]:
    """A socket bound on 127.0.0.1 and never listening: its port refuses connections."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


def wait_output(bot: BotProcess, text: str, timeout: float = 20) -> None:
    """Wait for the process to print ``text`` (its output is read on another thread)."""
    deadline = time.monotonic() + timeout
    while text not in bot.output:
        assert time.monotonic() < deadline, f"{text!r} not printed:\n{bot.output}"
        time.sleep(0.05)


def lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def test_an_unreachable_bot_api_is_one_line_retried_until_it_answers(
    workdir: Path, refusing: socket.socket
) -> None:
    closed_port = int(refusing.getsockname()[1])
    fake = FakeTelegram()
    api = f"http://127.0.0.1:{closed_port}"
    bot = BotProcess(env_for(workdir, api), fake)
    bot.launch()
    try:
        # The first attempt is refused: one line saying what was tried and what to check.
        wait_output(bot, "cannot reach")
        assert bot.proc is not None and bot.proc.poll() is None  # still running, not exited
        [line] = lines(bot.output)
        assert f"cannot reach the Telegram Bot API at 127.0.0.1:{closed_port}" in line
        assert "TELEGRAM_API_BASE_URL" in line and "trying again in 5 s" in line
        assert not (workdir / "fuyuan.sqlite3").exists()  # nothing opened before Telegram

        # The Bot API comes up on that port: the next attempt (5 s later) gets through.
        refusing.close()
        with FakeBotApiServer(fake, port=closed_port):
            bot.wait_polling(0, 0, timeout=30)
            user = fake.user(4242, "新用户")
            fake.send_text(user, "/start")
            fake.wait_for(lambda: len(fake.messages_to(user)) >= 1, 15)
            assert "4242" in fake.texts_to(user)[-1]  # an unknown user is told their id
            assert bot.stop() == 0
    finally:
        if bot.proc is not None and bot.proc.poll() is None:
            bot.kill()
    output = bot.output
    assert "Traceback" not in output
    assert f"reached the Telegram Bot API at 127.0.0.1:{closed_port}" in output
    assert_no_secrets(output)
    with sqlite3.connect(workdir / "fuyuan.sqlite3") as conn:
        assert conn.execute("select count(*) from seen_updates").fetchone() == (1,)


@pytest.mark.parametrize(
    ("token", "path", "answer"),
    [
        ("123456789:another-fake-token-not-the-servers", "", "Unauthorized"),
        (TEST_TOKEN, "/wrong", "Not Found"),  # TELEGRAM_API_BASE_URL without /bot
    ],
)
def test_a_rejected_token_is_one_line_and_exit_code_2(
    workdir: Path, token: str, path: str, answer: str
) -> None:
    with FakeBotApiServer(FakeTelegram()) as server:
        port = server.port
        env = env_for(workdir, f"http://127.0.0.1:{port}{path}")
        env["TELEGRAM_BOT_TOKEN"] = token
        result = subprocess.run(
            [sys.executable, str(ROOT / "bot.py")],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert lines(output) == [
        f"fuyuan-bot: the Bot API at 127.0.0.1:{port} rejected TELEGRAM_BOT_TOKEN "
        f"({answer}): check the token from @BotFather (revoked or mistyped?) "
        "and TELEGRAM_API_BASE_URL."
    ]
    assert token not in output and token.split(":")[1] not in output
    assert not (workdir / "fuyuan.sqlite3").exists()


@pytest.mark.parametrize("mode", ["socks5", "http"])
def test_the_bot_api_is_reached_through_the_proxy_in_the_environment(
    workdir: Path, mode: str
) -> None:
    fake = FakeTelegram()
    with FakeBotApiServer(fake) as server, RelayProxy(mode) as proxy:  # type: ignore[arg-type]
        # The API is plain http here, so HTTP_PROXY applies (HTTPS_PROXY to Telegram's https).
        variable = "ALL_PROXY" if mode == "socks5" else "HTTP_PROXY"
        env = env_for(workdir, server.base_url.removesuffix("/bot"), **{variable: proxy.url})
        bot = BotProcess(env, fake)
        bot.start(timeout=30)
        try:
            user = fake.user(4243, "新用户")
            fake.send_text(user, "/start")
            fake.wait_for(lambda: len(fake.messages_to(user)) >= 1, 15)
            assert "4243" in fake.texts_to(user)[-1]
        finally:
            assert bot.stop() == 0
        # Every connection went through the proxy, to the Bot API.
        assert proxy.targets and set(proxy.targets) == {("127.0.0.1", server.port)}
        if mode == "http":
            methods = {line.split()[1].rsplit("/", 1)[1] for line in proxy.request_lines}
            assert {"getMe", "deleteWebhook", "getUpdates", "sendMessage"} <= methods
            assert all(
                line.split()[1].startswith(f"http://127.0.0.1:{server.port}/bot")
                for line in proxy.request_lines
            )
        else:
            # getMe, deleteWebhook, polls and the answer: more than one connection.
            assert len(proxy.targets) >= 3
    assert_no_secrets(bot.output)


def test_a_dead_proxy_is_named_without_its_password_and_sigterm_stops_the_wait(
    workdir: Path, refusing: socket.socket
) -> None:
    """Also: with LOG_FORMAT=json every line the process writes is one JSON object."""
    closed_port = int(refusing.getsockname()[1])
    fake = FakeTelegram()
    with FakeBotApiServer(fake) as server:
        proxy = f"socks5://office:s3cret-pass@127.0.0.1:{closed_port}"
        api = server.base_url.removesuffix("/bot")
        env = env_for(workdir, api, ALL_PROXY=proxy, LOG_FORMAT="json")
        bot = BotProcess(env, fake)
        bot.launch()
        try:
            wait_output(bot, "cannot reach")
        finally:
            code = bot.stop(signal.SIGTERM)
    output = bot.output
    assert code == 0, output
    records = [json.loads(line) for line in lines(output)]
    assert [r["level"] for r in records] == ["WARNING", "INFO"]
    first = records[0]
    assert first["logger"] == "fuyuan-bot"
    assert first["time"].endswith("+00:00")
    assert f"through the proxy socks5://127.0.0.1:{closed_port} (ALL_PROXY)" in first["message"]
    assert "check that the proxy is running" in first["message"]
    assert records[1]["message"] == "stopped before reaching Telegram"
    assert "s3cret-pass" not in output and "Traceback" not in output
    assert fake.calls_of("getMe") == []  # nothing went around the proxy
