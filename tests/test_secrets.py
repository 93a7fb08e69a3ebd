"""The token never reaches the logs: the watch in conftest sees every test's log records;
this file proves the watch works and that the bot's own formatter redacts."""

from __future__ import annotations

import logging
import re

from bot.config import Settings
from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.logs import PINNED_LEVELS, RedactingFormatter, setup_logging
from tests.conftest import TOKEN_PATTERN, _SecretWatch
from tests.fakes.server import TEST_TOKEN
from tests.flows import LI, ZHAO, admin, member, seed_case
from tests.scenario import running_bot

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


async def test_debug_logging_keeps_names_texts_and_invite_tokens_out(
    committee: Committee, db_url: str
) -> None:
    """LOG_LEVEL=DEBUG used to write what the libraries see: the Bot API's request bodies (an
    applicant's name in a court notice, a live invite link) and SQL parameters."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved = {name: logging.getLogger(name).level for name in PINNED_LEVELS}
    records: list[str] = []

    class Everything(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    try:
        setup_logging(Settings(token=TOKEN, database_url=db_url, log_level="DEBUG"))
        capture = Everything(logging.DEBUG)
        capture.setFormatter(logging.Formatter("%(name)s %(message)s"))
        root.addHandler(capture)
        async with running_bot(committee, db_url) as bot:
            await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
            await bot.say(admin(bot), "/invite")
            await bot.press(admin(bot), "延边州中级人民法院")
            await bot.press(admin(bot), "法院工作人员")
            link = re.search(r"\?start=(\S+)", bot.last_text(admin(bot)))
            assert link is not None
            token = link.group(1)
            await bot.say(bot.user(ZHAO, "赵法官"), f"/start {token}")
            case = await seed_case(bot, LI, "李明", "林地权属争议", kind="referral")
            await bot.flush_outbox()
            notice = bot.last_text(bot.user(ZHAO, "赵法官"))
            assert "张三" in notice and case.number in notice  # the court does see them
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    assert any(r.startswith("bot.") or r.startswith("handlers.") for r in records)
    assert [r for r in records if token[2:] in r] == []
    assert [r for r in records if "张三" in r] == []
    assert [r for r in records if "林地权属争议" in r] == []
