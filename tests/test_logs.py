"""Log lines as an operator's collector reads them: text, or JSON lines (LOG_FORMAT=json),
the token redacted either way."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.logs import setup_logging
from tests.fakes.server import TEST_TOKEN


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def emit(log_format: str) -> str:
    setup_logging(Settings(token=TEST_TOKEN, log_format=log_format))
    root = logging.getLogger()
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    assert handler.stream is sys.stdout  # where a service manager or container collects it
    handler.setStream(stream)
    log = logging.getLogger("bot.example")
    log.info("sent %s to 中文 %s", "a", f"https://api.telegram.org/bot{TEST_TOKEN}/getMe")
    try:
        raise RuntimeError(f"failed: bot{TEST_TOKEN}")
    except RuntimeError:
        log.exception("it failed")
    handler.flush()
    return stream.getvalue()


@pytest.mark.usefixtures("restore_root")
def test_json_lines_carry_time_level_logger_message_and_traceback_redacted() -> None:
    text = emit("json")
    lines = text.splitlines()
    assert len(lines) == 2  # the traceback stays inside its record's line
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "INFO" and first["logger"] == "bot.example"
    assert first["message"] == "sent a to 中文 https://api.telegram.org/bot<token>/getMe"
    assert first["time"].endswith("+00:00")
    assert second["message"] == "it failed"
    assert "Traceback" in second["exception"] and "RuntimeError" in second["exception"]
    assert TEST_TOKEN not in text and TEST_TOKEN.split(":")[1] not in text


@pytest.mark.usefixtures("restore_root")
def test_text_lines_by_default() -> None:
    text = emit("text")
    assert " INFO bot.example: sent a to 中文 https://api.telegram.org/bot<token>/getMe" in text
    assert "Traceback" in text
    assert TEST_TOKEN not in text
