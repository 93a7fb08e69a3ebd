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

What is freed inside the heap (between chunks still in use) stays in the process: glibc
gives back only the top of the heap by itself. ``release_free_memory`` (glibc's
``malloc_trim``), run once a minute by the running bot, hands those pages back: up to 4 MiB
after 10,000 updates, for a millisecond or two of a worker thread each time.
"""

from __future__ import annotations

import asyncio
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
RELEASE_EVERY_S = 60.0


def _glibc() -> Any:
    """The C library, if it is glibc (None elsewhere)."""
    try:
        return ctypes.CDLL(None) if os.confstr("CS_GNU_LIBC_VERSION") else None
    except (OSError, ValueError, AttributeError):
        return None


def release_free_memory() -> bool:
    """Give free pages inside the C heap back to the system (``malloc_trim``); whether any
    were. Elsewhere than on glibc it does nothing."""
    glibc = _glibc()
    trim = getattr(glibc, "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas``; whether it was done. Call it before the first
    thread starts (glibc fixes its limit once there are more arenas than cores). Elsewhere
    (another C library, another system) it does nothing."""
    mallopt = getattr(_glibc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_ARENA_MAX, arenas))
    logger.debug("malloc arenas limited to %s: %s", arenas, done)
    return done


def freeze_after_start(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Run ``gc.freeze()`` right after the application's own ``post_init``, and from then
    on ``release_free_memory`` every ``RELEASE_EVERY_S`` seconds on the job queue.

    Only for the bot's process (``bot.py``): a test process builds many applications, and
    freezing would keep each one's garbage for good.
    """
    started = app.post_init

    async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        if started is not None:
            await started(application)
        gc.freeze()
        if application.job_queue is not None:
            application.job_queue.run_repeating(
                _release_job, interval=RELEASE_EVERY_S, first=RELEASE_EVERY_S, name="release"
            )

    app.post_init = post_init


async def _release_job(_context: Any) -> None:
    # In a worker thread: walking the heap takes a millisecond or two, which the event loop
    # need not wait for (ctypes lets go of the GIL meanwhile).
    released = await asyncio.to_thread(release_free_memory)
    logger.debug("free heap memory released: %s", released)
