"""Garbage-collector settings for the long-running bot process.

After start-up the heap holds a few hundred thousand objects that live as long as the process
(modules, SQLAlchemy's tables and compiled statements, python-telegram-bot's handlers, Jinja
environments). Every full collection walks all of them: pauses of 50–100 ms in the middle of
an update. Freezing them once the bot has started (``gc.freeze``) leaves the collector only
what handling updates creates.
"""

from __future__ import annotations

import gc
from typing import Any

from telegram.ext import Application


def freeze_after_start(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Run ``gc.freeze()`` right after the application's own ``post_init``.

    Only for the bot's process (``bot.py``): a test process builds many applications, and
    freezing would keep each one's garbage for good.
    """
    started = app.post_init

    async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        if started is not None:
            await started(application)
        gc.freeze()

    app.post_init = post_init
