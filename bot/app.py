"""The composition root: builds the Application from the settings and the committee, with the
runtime (services, templates, clock) and the Telegram adapter's handlers (``handlers.registry``).

Resources are opened in ``post_init`` and closed in ``post_shutdown``; nothing happens at
import time.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from httpx import create_ssl_context
from telegram.ext import ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest, HTTPXRequest
from telegram.warnings import PTBUserWarning

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.domain.committee import Committee
from bot.domain.kinds import KindRegistry
from bot.domain.mechanisms import default_registry
from handlers.common import AppType, BotContext
from handlers.once import OnceApplication
from handlers.ordering import PerSenderProcessor
from handlers.pacing import Pacer
from handlers.persistence import DraftPersistence
from handlers.registry import post_init, post_shutdown, register_handlers
from handlers.runtime import Runtime

logger = logging.getLogger(__name__)


def build_application(
    settings: Settings,
    committee: Committee,
    *,
    clock: Clock | None = None,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
    rate_limiter: bool = True,
    jobs: bool = True,
    kinds: KindRegistry | None = None,
) -> AppType:
    """The bot with all its handlers. Tests pass a fake ``request``, a manual ``clock`` and,
    to try a mechanism of their own, the ``kinds`` to run."""
    runtime = Runtime(
        settings,
        committee,
        clock or SystemClock(),
        schedule_jobs=jobs,
        kinds=kinds if kinds is not None else default_registry(),
    )
    builder: Any = (
        ApplicationBuilder()
        .application_class(OnceApplication)
        .token(settings.token)
        .base_url(settings.api_base_url)
        .base_file_url(settings.file_base_url)
        .context_types(ContextTypes(context=BotContext))
        .persistence(DraftPersistence(runtime))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .concurrent_updates(PerSenderProcessor())
    )
    if rate_limiter:
        # One pacer for every request to a chat, the courier's and the replies: Telegram
        # counts them together. A 429 is surfaced, never blindly retried (a retried send
        # may duplicate); the courier decides what to send again and when.
        builder = builder.rate_limiter(Pacer())
    if request is not None:
        builder = builder.request(request).get_updates_request(updates_request or request)
    else:
        # python-telegram-bot's two clients (getUpdates, everything else) with its own
        # defaults, sharing one TLS context: each would load the CA bundle itself, a fiftieth
        # of a second apiece at start-up. The proxy is given explicitly (not left to httpx's
        # reading of the environment) so that the bot reaches Telegram through the proxy it
        # names when it cannot.
        tls = {"verify": create_ssl_context()}
        builder = builder.request(
            HTTPXRequest(connection_pool_size=256, proxy=settings.proxy, httpx_kwargs=tls)
        ).get_updates_request(
            HTTPXRequest(connection_pool_size=1, proxy=settings.proxy, httpx_kwargs=tls)
        )
    app: AppType = builder.build()
    app.bot_data["runtime"] = runtime
    with warnings.catch_warnings():
        # CallbackQueryHandlers inside per-user conversations are intended (per_message=False).
        warnings.filterwarnings("ignore", category=PTBUserWarning)
        register_handlers(app)
    return app
