"""Entry point: ``python bot.py`` reads .env and the committee file, then long-polls Telegram.

Exit codes: 0 stopped, 1 an unexpected error, 2 something the operator must fix (the
configuration, or a token Telegram rejects), each said in one line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from dotenv import load_dotenv
from telegram import Update
from telegram.error import InvalidToken


def main() -> int:
    from bot.app import build_application
    from bot.config import ConfigError, load_committee, load_settings
    from bot.heap import freeze_after_start
    from bot.logs import setup_logging
    from bot.startup import TokenRejected, reach_or_stop, rejected_line

    load_dotenv()
    # Opt in to python-telegram-bot's coming behaviour: time spans (retry_after) as timedelta.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    try:
        settings = load_settings()
        committee = load_committee(settings.committee_file)
    except ConfigError as exc:
        print(f"fuyuan-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings)
    app = build_application(settings, committee)
    freeze_after_start(app)
    # One loop for the wait for Telegram and for run_polling (which takes the current one):
    # the HTTP client opened while waiting is bound to it.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        if not loop.run_until_complete(reach_or_stop(app.bot, settings)):
            loop.run_until_complete(app.bot.shutdown())
            loop.close()
            return 0
    except TokenRejected as exc:
        print(exc, file=sys.stderr)
        loop.run_until_complete(app.bot.shutdown())
        loop.close()
        return 2
    try:
        app.run_polling(
            allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER],
            drop_pending_updates=False,
            # Telegram was reached a moment ago; a network failure before polling begins is
            # retried rather than fatal.
            bootstrap_retries=-1,
        )
    except InvalidToken as exc:
        # Revoked between getMe and polling. Its message quotes the token: never print it.
        print(rejected_line(settings, exc), file=sys.stderr)
        return 2
    except Exception:
        # Logged through the redacting formatter rather than Python's default hook.
        logging.getLogger("fuyuan-bot").exception("the bot stopped on an unexpected error")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
