"""The token never reaches the logs: the watch in conftest sees every test's log records;
this file proves the watch works and that the bot's own formatter redacts."""

from __future__ import annotations

import logging

from bot.logs import RedactingFormatter
from tests.conftest import TOKEN_PATTERN, _SecretWatch
from tests.fakes.server import TEST_TOKEN

TOKEN = TEST_TOKEN


def test_the_watch_catches_a_leak() -> None:
    watch = _SecretWatch()
    logger = logging.getLogger("leaky")
    logger.propagate = False  # this leak is on purpose: keep it from the suite-wide watch
    logger.addHandler(watch)
    try:
        logger.warning("POST https://api.telegram.org/bot%s/getMe", TOKEN)
    finally:
        logger.removeHandler(watch)
    assert len(watch.leaks) == 1


def test_the_bot_formatter_redacts_messages_and_tracebacks() -> None:
    formatter = RedactingFormatter("%(message)s", TOKEN)
    try:
        raise RuntimeError(f"https://api.telegram.org/bot{TOKEN}/sendMessage failed")
    except RuntimeError:
        record = logging.LogRecord(
            "httpx", logging.ERROR, __file__, 1, "request to %s", (f"bot{TOKEN}",), exc_info=True
        )
        import sys

        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    assert TOKEN not in text and not TOKEN_PATTERN.search(text)
    assert "bot<token>" in text
