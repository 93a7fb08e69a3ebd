"""Entry point: ``python bot.py`` reads .env and the committee file, then long-polls Telegram."""

from __future__ import annotations

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
    try:
        app.run_polling(
            allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER],
            drop_pending_updates=False,
        )
    except InvalidToken:
        # Its message quotes the token: never let Python print it.
        print(
            "fuyuan-bot: Telegram rejected TELEGRAM_BOT_TOKEN (revoked or mistyped?).",
            file=sys.stderr,
        )
        return 2
    except Exception:
        # Logged through the redacting formatter rather than Python's default hook.
        logging.getLogger("fuyuan-bot").exception("the bot stopped on an unexpected error")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
