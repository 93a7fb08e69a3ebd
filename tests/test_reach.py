"""Reaching the Bot API at start-up, on a manual clock: what is logged and how long the bot
waits between attempts (the real process is in tests/e2e/test_reach.py)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, cast

import pytest
from telegram import Bot
from telegram.error import InvalidToken, NetworkError, RetryAfter, TimedOut

from bot.config import Settings
from bot.startup import TokenRejected, backoff, reach_telegram
from tests.fakes.server import TEST_TOKEN


class FlakyBot:
    """``initialize`` fails with the given errors in turn, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def initialize(self) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


class Sleeps:
    """A manual clock for the waits: records them, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_backoff_doubles_from_5_seconds_to_at_most_5_minutes() -> None:
    assert [backoff(n) for n in range(1, 10)] == [5, 10, 20, 40, 80, 160, 300, 300, 300]


async def test_network_failures_are_one_line_each_and_retried_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = FlakyBot(
        *[NetworkError("httpx.ConnectError: All connection attempts failed")] * 7,
        TimedOut("Timed out"),
        RetryAfter(timedelta(seconds=42)),
    )
    sleeps = Sleeps()
    settings = Settings(
        token=TEST_TOKEN, proxy="socks5://u:pw@10.0.0.2:1080", proxy_source="ALL_PROXY"
    )
    with caplog.at_level(logging.INFO, logger="fuyuan-bot"):
        await reach_telegram(cast(Bot, bot), settings, sleep=sleeps)
    assert bot.calls == 10
    assert sleeps.waits == [5, 10, 20, 40, 80, 160, 300, 300, 42]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 9 and all(r.exc_info is None for r in warnings)
    first = warnings[0].getMessage()
    assert first == (
        "cannot reach the Telegram Bot API at api.telegram.org through the proxy "
        "socks5://10.0.0.2:1080 (ALL_PROXY) (httpx.ConnectError: All connection attempts "
        "failed); check that the proxy is running and reaches Telegram (ALL_PROXY); "
        "trying again in 5 s"
    )
    assert "pw" not in caplog.text and TEST_TOKEN not in caplog.text
    assert "after 9 failed attempt(s)" in caplog.records[-1].getMessage()


async def test_without_a_proxy_the_line_says_where_telegram_is_blocked_set_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="fuyuan-bot"):
        await reach_telegram(
            cast(Bot, FlakyBot(NetworkError("x"))), Settings(token=TEST_TOKEN), sleep=Sleeps()
        )
    assert "set HTTPS_PROXY or ALL_PROXY" in caplog.records[0].getMessage()


async def test_a_rejected_token_stops_at_once_without_the_token() -> None:
    inner = InvalidToken("Unauthorized")
    outer = InvalidToken(f"The token `{TEST_TOKEN}` was rejected by the server.")
    outer.__cause__ = inner
    sleeps = Sleeps()
    bot: Any = FlakyBot(NetworkError("down"), outer)
    with pytest.raises(TokenRejected) as info:
        await reach_telegram(bot, Settings(token=TEST_TOKEN), sleep=sleeps)
    assert sleeps.waits == [5]
    assert str(info.value) == (
        "fuyuan-bot: the Bot API at api.telegram.org rejected TELEGRAM_BOT_TOKEN "
        "(Unauthorized): check the token from @BotFather (revoked or mistyped?)."
    )
