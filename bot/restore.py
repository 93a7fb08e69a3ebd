"""``python -m bot.restore <src>``: put a backup back in place of the bot's database (see
``bot.backup``); refused while the bot runs, or if ``src`` is not a fuyuan-bot database."""

from __future__ import annotations

import sys

from bot.backup import restore_main

if __name__ == "__main__":
    sys.exit(restore_main())
