"""Entry point: ``python bot.py`` reads .env and the committee file, then long-polls Telegram."""

from __future__ import annotations

import os
import sys

from dotenv import load_dotenv
from telegram import Update


def main() -> int:
    from bot.app import build_application, setup_logging
    from bot.config import ConfigError, load_committee, load_settings

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
    app.run_polling(
        allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER],
        drop_pending_updates=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
