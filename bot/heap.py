"""Garbage-collector and allocator settings for the long-running bot process.

After start-up the heap holds a few hundred thousand objects that live as long as the process
(modules, SQLAlchemy's tables and compiled statements, python-telegram-bot's handlers, Jinja
environments). Every full collection walks all of them: pauses of 50–100 ms in the middle of
an update. Freezing them once the bot has started (``gc.freeze``) leaves the collector only
what handling updates creates.

glibc's allocator gives each thread that allocates while another holds an arena an arena of
its own, up to eight per core. The bot's database threads (one per SQLite connection, opened
and closed as the pool needs them) thus spread over many arenas, each keeping its freed
memory: measured over 10,000 updates, about a quarter of the growth of the resident size.
Two arenas (``limit_arenas``) keep it, at no measurable cost per update.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telegram.ext import Application

logger = logging.getLogger(__name__)

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas``; whether it was done. Call it before the first
    thread starts (glibc fixes its limit once there are more arenas than cores). Elsewhere
    (another C library, another system) it does nothing."""
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
        mallopt = ctypes.CDLL(None).mallopt if glibc else None
    except (OSError, ValueError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_ARENA_MAX, arenas))
    logger.debug("malloc arenas limited to %s: %s", arenas, done)
    return done


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
