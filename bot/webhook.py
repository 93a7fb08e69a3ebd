"""Webhook mode's one addition to python-telegram-bot's own listener: a line in the log for
every request it refuses.

``Application.run_webhook`` (tornado, the library's ``webhooks`` extra) already checks
Telegram's secret token on every request and answers 403 to one without it or with a wrong
one, before the body is read as an update. It says so only at DEBUG, though, in records that
also carry the wrong token offered and, for accepted requests, the whole update (message
texts). ``RefusalLog`` turns each refusal into one WARNING of our own — who asked and why it
was refused, never a token — and keeps the library's other records at the level they would
have had.
"""

from __future__ import annotations

import logging
import socket

logger = logging.getLogger("fuyuan-bot")

# Where python-telegram-bot's webhook handler logs (as the Updater).
WEBHOOK_LOGGER = "telegram.ext.Updater"
# Its record of an exception in a request, HTTPError (the refusals) included.
_EXCEPTION_RECORD = "Exception in TelegramHandler"


class RefusalLog(logging.Filter):
    """Logs each 403 the webhook answers, once; lets through only records at ``floor`` or
    above (what the logger let through before it was opened to DEBUG for this)."""

    def __init__(self, floor: int) -> None:
        super().__init__()
        self.floor = floor

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO and _is_request_exception(record):
            error = record.exc_info[1] if record.exc_info else None
            if getattr(error, "status_code", None) == 403:
                remote = record.args[0] if isinstance(record.args, tuple) else "?"
                reason = getattr(error, "reason", None) or "not a JSON request"
                logger.warning("webhook: refused a request from %s (403): %s", remote, reason)
            return False
        return record.levelno >= self.floor


def _is_request_exception(record: logging.LogRecord) -> bool:
    args = record.args
    return isinstance(args, tuple) and len(args) == 2 and args[1] == _EXCEPTION_RECORD


def install_refusal_log() -> RefusalLog:
    """Put the filter on the webhook's logger (after logging is set up: it keeps the floor the
    logger has then)."""
    source = logging.getLogger(WEBHOOK_LOGGER)
    for existing in source.filters:
        if isinstance(existing, RefusalLog):
            return existing
    refusal = RefusalLog(source.getEffectiveLevel())
    source.addFilter(refusal)
    source.setLevel(logging.DEBUG)
    return refusal


def listen_problem(host: str, port: int) -> str | None:
    """Why the bot could not listen on ``host:port`` (None: it can), found before anything
    is started: the library would only fail after setWebhook, with a traceback."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"unknown address ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As tornado and asyncio bind: a port in TIME_WAIT from a previous run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return f"cannot listen there ({exc.strerror})"
    return None
