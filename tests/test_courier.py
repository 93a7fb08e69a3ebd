"""The courier's decisions per failure, against a real outbox and a scripted Bot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from telegram.error import BadRequest, ChatMigrated, NetworkError, RetryAfter

from bot.clock import ManualClock
from bot.services.delivery import Outbox, OutboxMessage
from bot.storage import schema as t
from bot.storage.db import Database
from handlers.courier import Courier, Rendered


class Msg:
    def __init__(self, message_id: int) -> None:
        self.message_id = message_id


class ScriptedBot:
    """Answers send_message / send_document from a script of results or exceptions."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.calls: list[tuple[str, int, Any]] = []

    async def _next(self, method: str, chat_id: int, payload: Any) -> Any:
        self.calls.append((method, chat_id, payload))
        result = self.script.pop(0) if self.script else Msg(len(self.calls))
        if isinstance(result, Exception):
            raise result
        return result

    async def send_message(self, chat_id: int, text: str, **_: Any) -> Any:
        return await self._next("send_message", chat_id, text)

    async def send_document(self, chat_id: int, document: Any, **_: Any) -> Any:
        return await self._next("send_document", chat_id, document)


async def render_plain(message: OutboxMessage, uncertain: bool) -> Rendered:
    note = "RESENT " if uncertain else ""
    return Rendered(f"{note}{message.payload['text']}")


async def render_with_file(message: OutboxMessage, uncertain: bool) -> Rendered:
    note = "RESENT " if uncertain else ""
    return Rendered(f"{note}post", document=("m.ics", b"BEGIN:VCALENDAR"))


async def render_broken(message: OutboxMessage, uncertain: bool) -> Rendered:
    raise KeyError("template bug")


@pytest.fixture
async def outbox(db: Database, clock: ManualClock) -> Outbox:
    return Outbox(db, clock)


async def rows(db: Database) -> dict[str, tuple[str, int, int]]:
    async with db.read() as conn:
        found = (await conn.execute(select(t.outbox))).all()
    return {r.key: (r.status, r.chat_id, r.uncertain) for r in found}


def courier(outbox: Outbox) -> Courier:
    return Courier(
        outbox, {"plain": render_plain, "file": render_with_file, "broken": render_broken}
    )


async def test_a_429_puts_the_rest_of_the_batch_back(
    outbox: Outbox, db: Database, clock: ManualClock
) -> None:
    for i in range(3):
        await outbox.add(f"k{i}", 100 + i, "plain", {"text": f"m{i}"})
    bot = ScriptedBot([RetryAfter(30)])
    assert await courier(outbox).flush(bot) == 0  # type: ignore[arg-type]
    assert len(bot.calls) == 1  # did not hammer on after the 429
    assert {k: v[0] for k, v in (await rows(db)).items()} == {
        "k0": "retry",
        "k1": "retry",
        "k2": "retry",
    }
    clock.advance(timedelta(seconds=29))
    assert await courier(outbox).flush(ScriptedBot([])) == 0  # type: ignore[arg-type]
    clock.advance(timedelta(seconds=1))
    assert await courier(outbox).flush(ScriptedBot([])) == 3  # type: ignore[arg-type]


async def test_a_migrated_group_is_followed(outbox: Outbox, db: Database) -> None:
    await outbox.add("post", -100, "plain", {"text": "hello"})
    moved: list[tuple[int, int]] = []
    c = courier(outbox)

    async def on_migration(old: int, new: int) -> None:
        moved.append((old, new))

    c.on_migration = on_migration
    bot = ScriptedBot([ChatMigrated(-1009)])
    await c.flush(bot)  # type: ignore[arg-type]
    assert moved == [(-100, -1009)]
    assert (await rows(db))["post"][:2] == ("sent", -1009)
    assert [call[1] for call in bot.calls] == [-100, -1009]


async def test_a_partly_sent_message_is_resent_with_the_note(
    outbox: Outbox, db: Database, clock: ManualClock
) -> None:
    await outbox.add("meeting", -100, "file", {})
    bot = ScriptedBot([Msg(1), NetworkError("502")])  # text arrived, the file did not
    await courier(outbox).flush(bot)  # type: ignore[arg-type]
    assert (await rows(db))["meeting"] == ("retry", -100, 1)
    clock.advance(timedelta(minutes=1))
    again = ScriptedBot([])
    await courier(outbox).flush(again)  # type: ignore[arg-type]
    assert again.calls[0][2] == "RESENT post"
    assert (await rows(db))["meeting"][0] == "sent"


async def test_a_file_telegram_refuses_after_the_text_arrived(outbox: Outbox, db: Database) -> None:
    await outbox.add("meeting", -100, "file", {})
    bot = ScriptedBot([Msg(1), BadRequest("File must be non-empty")])
    await courier(outbox).flush(bot)  # type: ignore[arg-type]
    assert (await rows(db))["meeting"][0] == "sent"  # not resent: the text is there


async def test_an_unexpected_error_never_strands_a_row(outbox: Outbox, db: Database) -> None:
    await outbox.add("a", 1, "broken", {})
    await outbox.add("b", 2, "plain", {"text": "fine"})
    bot = ScriptedBot([])
    assert await courier(outbox).flush(bot) == 1  # type: ignore[arg-type]
    state = await rows(db)
    assert state["a"][0] == "retry" and state["b"][0] == "sent"
