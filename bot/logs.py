"""Logging for the bot's process, with the bot token (and invite links' tokens) removed
wherever they could appear."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from bot.config import Settings

_TOKEN_PATTERN = re.compile(r"bot\d+:[A-Za-z0-9_-]+|\b\d{6,}:[A-Za-z0-9_-]{30,}\b")
# An invite link's token, as python-telegram-bot logs calls at DEBUG: in the link the office
# is sent (?start=i_...) and in the /start i_... the invited person sends.
_INVITE_PATTERN = re.compile(r"(start[= ]i_)[A-Za-z0-9_-]+")


def _redacted(text: str) -> str:
    return _INVITE_PATTERN.sub(r"\1<invite>", _TOKEN_PATTERN.sub("bot<token>", text))


def redacted(text: str, token: str = "") -> str:
    """``text`` without the bot token (``token``, and anything shaped like one) or invite
    tokens: for lines the bot prints itself, outside logging."""
    return _redacted(text.replace(token, "<token>") if token else text)


class RedactingFormatter(logging.Formatter):
    """Formats records with any bot token removed — from messages, arguments and tracebacks."""

    def __init__(self, fmt: str, token: str) -> None:
        super().__init__(fmt)
        self._token = token

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if self._token:
            text = text.replace(self._token, "<token>")
        return _redacted(text)


class JsonFormatter(RedactingFormatter):
    """One JSON object per line (``LOG_FORMAT=json``), for a log collector: time (UTC, ISO
    8601), level, logger, message and, with an exception, its traceback — redacted alike."""

    def __init__(self, token: str) -> None:
        super().__init__("%(message)s", token)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._clean(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = self._clean(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = self._clean(record.exc_text)
        return json.dumps(entry, ensure_ascii=False)

    def _clean(self, text: str) -> str:
        return redacted(text, self._token)


# Loggers known to write request URLs (which contain the token): python-telegram-bot logs
# "Set Bot API URL: .../bot<token>" at DEBUG, httpx every request URL at INFO.
URL_LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot", "httpx", "httpcore")


class RedactingFilter(logging.Filter):
    """Removes tokens from a record where it is logged, before any handler sees it."""

    def __init__(self, token: str = "") -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = _redacted(text.replace(self._token, "<token>") if self._token else text)
        if clean != text:
            record.msg, record.args = clean, None
        return True


def install_redaction(token: str = "") -> None:
    """Put the redacting filter on the loggers that write URLs (once per logger)."""
    for name in URL_LOGGERS:
        source = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in source.filters):
            source.addFilter(RedactingFilter(token))


# Libraries that write what passes through them when their logger is at DEBUG: request bodies
# and answers (python-telegram-bot: message texts, applicants' names, /start payloads with live
# invite tokens), SQL parameters (aiosqlite, SQLAlchemy), request URLs with the bot token
# (httpx, httpcore). Whatever LOG_LEVEL says, they log no lower than this; the bot's own
# modules log no message contents at any level.
PINNED_LEVELS: dict[str, int] = {
    "telegram": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "aiosqlite": logging.INFO,
    "sqlalchemy": logging.WARNING,
    "apscheduler": logging.WARNING,
}


def pin_library_levels(level: int) -> None:
    """Keep the libraries above in ``PINNED_LEVELS`` however verbose the bot's own log is."""
    for name, floor in PINNED_LEVELS.items():
        logging.getLogger(name).setLevel(max(level, floor))


def setup_logging(settings: Settings) -> None:
    """Everything to standard output, where a service manager or container runtime collects
    it, as text lines or, with ``LOG_FORMAT=json``, JSON lines. (The few lines the bot prints
    when it cannot start at all go to standard error.)"""
    handler = logging.StreamHandler(sys.stdout)
    formatter: logging.Formatter
    if settings.log_format == "json":
        formatter = JsonFormatter(settings.token)
    else:
        formatter = RedactingFormatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s", settings.token
        )
    handler.setFormatter(formatter)
    install_redaction(settings.token)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    pin_library_levels(root.level)
