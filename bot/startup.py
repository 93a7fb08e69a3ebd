"""Reaching the Bot API at start-up.

An office's server may be offline for a while, or reach Telegram only through a proxy that is
down; the bot then says in one line what it tried and what to check, and keeps trying (5 s,
doubling, at most 5 min apart) rather than exiting, so a service manager need not restart it.
A token Telegram rejects will not get better by waiting: that is one line and exit code 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlsplit

from telegram import Bot
from telegram.error import InvalidToken, RetryAfter, TelegramError

from bot.config import Settings, shown_proxy
from bot.logs import redacted

logger = logging.getLogger("fuyuan-bot")

FIRST_WAIT = 5.0
MAX_WAIT = 300.0
TELEGRAM_HOST = "api.telegram.org"


class TokenRejected(Exception):
    """The Bot API answered 401 or 404 to getMe: the token (or the API's URL) is wrong."""


def backoff(failures: int) -> float:
    """Seconds to wait after the ``failures``-th failed attempt in a row: 5, 10, 20 … 300."""
    return float(min(FIRST_WAIT * 2 ** max(failures - 1, 0), MAX_WAIT))


def target(settings: Settings) -> str:
    """What the bot tries to reach, for a log line: the API's host, and the proxy if any."""
    host = urlsplit(settings.api_base_url).netloc.rpartition("@")[2]
    where = f"the Telegram Bot API at {host}"
    if settings.proxy is not None:
        where += f" through the proxy {shown_proxy(settings.proxy)} ({settings.proxy_source})"
    return where


def advice(settings: Settings) -> str:
    """What the operator should check, given how the bot tries to reach Telegram."""
    if settings.proxy is not None:
        return f"check that the proxy is running and reaches Telegram ({settings.proxy_source})"
    if urlsplit(settings.api_base_url).hostname == TELEGRAM_HOST:
        return (
            "check the server's network; where Telegram is blocked, "
            "set HTTPS_PROXY or ALL_PROXY (see README)"
        )
    return "check that this server is running and TELEGRAM_API_BASE_URL"


def rejected_line(settings: Settings, exc: InvalidToken) -> str:
    """The one line for a rejected token (never the token: PTB's own message quotes it)."""
    cause = exc.__cause__ if isinstance(exc.__cause__, InvalidToken) else exc
    answer = cause.message if cause is not exc else "rejected"
    host = urlsplit(settings.api_base_url).netloc.rpartition("@")[2]
    return redacted(
        f"fuyuan-bot: the Bot API at {host} rejected TELEGRAM_BOT_TOKEN ({answer}): "
        "check the token from @BotFather (revoked or mistyped?)"
        + ("" if host == TELEGRAM_HOST else " and TELEGRAM_API_BASE_URL")
        + ".",
        settings.token,
    )


async def reach_telegram(
    bot: Bot,
    settings: Settings,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Initialise ``bot`` (its getMe) until it succeeds; raise TokenRejected if refused."""
    failures = 0
    while True:
        try:
            await bot.initialize()
        except InvalidToken as exc:
            raise TokenRejected(rejected_line(settings, exc)) from None
        except RetryAfter as exc:
            failures += 1
            after = exc.retry_after
            wait = max(after.total_seconds() if isinstance(after, timedelta) else after, 1.0)
            reason = "asked to wait"
        except TelegramError as exc:
            failures += 1
            wait = backoff(failures)
            reason = exc.message
        else:
            if failures:
                logger.info("reached %s after %s failed attempt(s)", target(settings), failures)
            return
        logger.warning(
            "cannot reach %s (%s); %s; trying again in %s s",
            target(settings),
            redacted(reason, settings.token),
            advice(settings),
            f"{wait:g}",
        )
        await sleep(wait)


async def reach_or_stop(bot: Bot, settings: Settings) -> bool:
    """``reach_telegram``, cut short by SIGTERM or SIGINT (a service being stopped while it
    waits for the network): False then, without a traceback."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(reach_telegram(bot, settings))
    stops = (signal.SIGTERM, signal.SIGINT)
    for sig in stops:
        with contextlib.suppress(NotImplementedError):  # not on Windows' loop
            loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        logger.info("stopped before reaching Telegram")
        return False
    finally:
        for sig in stops:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
    return True
