"""Entry point: ``python bot.py`` reads .env and the committee file, then long-polls Telegram
or, with ``WEBHOOK_URL`` set, takes updates by webhook; ``HEALTH_LISTEN`` serves GET /healthz.

Exit codes: 0 stopped, 1 an unexpected error, 2 something the operator must fix (the
configuration, or a token Telegram rejects), each said in one line.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings
    from handlers.common import AppType


def main() -> int:
    # Start-up makes some 300,000 objects that live as long as the process (modules, classes,
    # tables, handlers): collecting while they are made finds nothing to free and takes a
    # tenth of the time to the first answer. Collections resume once the application is built,
    # with what exists by then frozen (never scanned again; see bot.heap).
    gc.disable()
    # httpcore looks for trio when it is imported (a tenth of a second where trio is installed,
    # as the browser tests install it); the bot runs on asyncio only.
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    from dotenv import load_dotenv

    from bot.config import ConfigError, load_committee, load_settings
    from bot.heap import limit_arenas

    limit_arenas()  # before any thread starts
    load_dotenv()
    # Opt in to python-telegram-bot's coming behaviour: time spans (retry_after) as timedelta.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    try:
        settings = load_settings()
        committee = load_committee(settings.committee_file)
    except ConfigError as exc:
        print(f"fuyuan-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    if settings.webhook_url is None:
        # Long polling never starts python-telegram-bot's webhook server: its import (tornado,
        # a fiftieth of a second) is left out, which the library allows for.
        sys.modules.setdefault("tornado", None)  # type: ignore[arg-type]

    from bot.app import build_application
    from bot.backup import OperatorError
    from bot.health import database_of, serve
    from bot.heap import freeze_after_start
    from bot.logs import setup_logging
    from bot.webhook import listen_problem

    setup_logging(settings)
    log = logging.getLogger("fuyuan-bot")
    app = build_application(settings, committee)
    gc.freeze()
    gc.enable()
    freeze_after_start(app)
    for name, address in (
        ("HEALTH_LISTEN", settings.health_listen),
        ("WEBHOOK_LISTEN", settings.webhook_listen if settings.webhook_url else None),
    ):
        problem = listen_problem(*address) if address is not None else None
        if address is not None and problem is not None:
            where = f"{name} {address[0]}:{address[1]}"
            print(f"fuyuan-bot: configuration error: {where}: {problem}", file=sys.stderr)
            return 2
    try:
        # The health endpoint reads the database as python -m bot.health does.
        db_file = database_of(settings.database_url)
    except OperatorError as exc:
        if settings.health_listen is not None:
            print(f"fuyuan-bot: configuration error: HEALTH_LISTEN: {exc}", file=sys.stderr)
            return 2
    # One loop for the health endpoint, the wait for Telegram and run_polling/run_webhook
    # (which take the current one): the HTTP client opened while waiting is bound to it.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    health: asyncio.Server | None = None
    try:
        if settings.health_listen is not None:
            # Up before Telegram is reached: a monitor sees a bot that cannot start (503).
            host, port = settings.health_listen
            health = loop.run_until_complete(serve(host, port, db_file))
            log.info("health endpoint on http://%s:%s/healthz", host, port)
        return run(app, settings, loop)
    finally:
        if health is not None:
            health.close()
            loop.run_until_complete(health.wait_closed())
        loop.close()


def run(app: AppType, settings: Settings, loop: asyncio.AbstractEventLoop) -> int:
    """Reach Telegram, then take updates by long polling or by webhook until stopped."""
    from telegram import Update
    from telegram.error import InvalidToken

    from bot.startup import TokenRejected, reach_or_stop, rejected_line
    from bot.webhook import install_refusal_log

    allowed_updates = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]
    try:
        if not loop.run_until_complete(reach_or_stop(app.bot, settings)):
            loop.run_until_complete(app.bot.shutdown())
            return 0
    except TokenRejected as exc:
        print(exc, file=sys.stderr)
        loop.run_until_complete(app.bot.shutdown())
        return 2
    try:
        if settings.webhook_url is None:
            # Starts with deleteWebhook: a bot switched back from webhook mode polls again.
            app.run_polling(
                allowed_updates=allowed_updates,
                drop_pending_updates=False,
                # Telegram was reached a moment ago; a network failure before polling begins
                # is retried rather than fatal.
                bootstrap_retries=-1,
                close_loop=False,
            )
        else:
            install_refusal_log()
            host, port = settings.webhook_listen
            logging.getLogger("fuyuan-bot").info(
                "webhook mode: listening on http://%s:%s%s for %s",
                host,
                port,
                settings.webhook_path or "/",
                settings.webhook_url,
            )
            # setWebhook first (the same updates as polling takes, none dropped); then every
            # request must carry the secret token, or it is refused with 403.
            app.run_webhook(
                listen=host,
                port=port,
                url_path=settings.webhook_path,
                webhook_url=settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=allowed_updates,
                drop_pending_updates=False,
                bootstrap_retries=-1,
                close_loop=False,
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
