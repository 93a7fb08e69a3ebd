"""The same update delivered twice is handled once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select
from telegram import Update

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.storage import schema as t
from tests.flows import LI, ZHAO, member, seed_case
from tests.scenario import Harness, running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


async def test_a_redelivered_update_changes_nothing_twice(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "重复投递")
        await bot.flush_outbox()
        update, _ = bot.fake.press(zhao, bot.last_with_buttons(zhao), "受理")
        raw = bot.fake.take_updates()[-1]
        assert raw["update_id"] == update["update_id"]
        for _ in range(2):  # the same update object twice, as a redelivery would
            await bot.app.process_update(Update.de_json(raw, bot.app.bot))
        bot.fake.take_updates(raw["update_id"] + 1)
        async with bot.svc.db.read() as conn:
            acks = (
                await conn.execute(
                    select(func.count())
                    .select_from(t.events)
                    .where(t.events.c.action == "acknowledge", t.events.c.case_id == case.id)
                )
            ).scalar_one()
            seen = (
                await conn.execute(
                    select(func.count())
                    .select_from(t.seen_updates)
                    .where(t.seen_updates.c.update_id == raw["update_id"])
                )
            ).scalar_one()
        assert acks == 1 and seen == 1
        answers = bot.fake.callback_answers(zhao)
        assert (
            len([a for a in answers if a["callback_query_id"] == raw["callback_query"]["id"]]) == 1
        )
        assert (await bot.svc.get_case(case.id)).status == "acknowledged"


async def test_seen_updates_are_pruned_after_a_week(committee: Committee, db_url: str) -> None:
    from datetime import timedelta

    async with running_bot(committee, db_url) as bot:
        assert await bot.svc.first_sighting(1)
        assert not await bot.svc.first_sighting(1)
        bot.clock.advance(timedelta(days=9))
        assert await bot.svc.prune_seen_updates() == 1
        assert await bot.svc.first_sighting(1)


class WriteCounter:
    """Counts the write transactions begun on the bot's engine."""

    def __init__(self, bot: Harness) -> None:
        self.engine = bot.svc.db.engine.sync_engine
        self.writes = 0
        event.listen(self.engine, "begin", self._on_begin)

    def _on_begin(self, conn: Any) -> None:
        if conn.get_execution_options().get("fuyuan_write"):
            self.writes += 1

    def close(self) -> None:
        event.remove(self.engine, "begin", self._on_begin)


async def seen(bot: Harness, update_id: int) -> int:
    async with bot.svc.db.read() as conn:
        return int(
            (
                await conn.execute(
                    select(func.count())
                    .select_from(t.seen_updates)
                    .where(t.seen_updates.c.update_id == update_id)
                )
            ).scalar_one()
        )


async def test_the_record_commits_in_the_steps_own_write_transaction(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await bot.svc.db.write_left_over()
        bot.svc.db.left_over_within = 3600  # no write of their own meanwhile
        counter = WriteCounter(bot)
        try:
            new_id = bot.fake._next_update_id
            await bot.say(li, "/new")  # saves the conversation's draft: one write
            assert counter.writes == 1
            assert await seen(bot, new_id) == 1
            # Updates that write nothing: their records wait for another write ...
            whoami_id = bot.fake._next_update_id
            await bot.say(li, "/whoami")
            my_id = bot.fake._next_update_id
            await bot.say(zhao, "/my")
            assert counter.writes == 1
            assert await seen(bot, whoami_id) == 0 and await seen(bot, my_id) == 0
            # ... and go with the next one, here Zhao's draft.
            again_id = bot.fake._next_update_id
            await bot.say(zhao, "/new")
            assert counter.writes == 2
            assert [await seen(bot, i) for i in (whoami_id, my_id, again_id)] == [1, 1, 1]
            # With no other write to go with, they are written together, on their own.
            ids = []
            for user in (li, zhao):
                ids.append(bot.fake._next_update_id)
                await bot.say(user, "/whoami")
            await bot.svc.db.write_left_over()
            assert counter.writes == 3
            assert [await seen(bot, i) for i in ids] == [1, 1]
        finally:
            counter.close()
        async with bot.svc.db.read() as conn:
            drafts = (await conn.execute(select(t.drafts.c.user_id))).scalars().all()
        assert sorted(drafts) == [LI, ZHAO]


async def test_left_over_records_are_written_a_moment_later_and_at_shutdown(
    committee: Committee, db_url: str
) -> None:
    """A record left over by an update that wrote nothing is written a moment later even if
    nothing else writes, and before the bot stops: after a clean restart a redelivery of
    that update is skipped."""
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        bot.svc.db.left_over_within = 0.01  # (the bot's own timer, shortened)
        waited = bot.fake._next_update_id
        await bot.say(li, "/whoami")
        task = bot.svc.db._left_over_task
        assert task is not None
        await task
        assert await seen(bot, waited) == 1
        bot.svc.db.left_over_within = 3600  # the next one is written at shutdown
        bot.fake.send_text(li, "/whoami")
        raw = bot.fake.take_updates()[-1]
        await bot.app.process_update(Update.de_json(raw, bot.app.bot))
        assert await seen(bot, raw["update_id"]) == 0
        fake = bot.fake
        answered = len(bot.texts(li))
    async with running_bot(committee, db_url, fake=fake) as again:
        await again.app.process_update(Update.de_json(raw, again.app.bot))
        assert len(again.texts(li)) == answered  # not answered twice
        assert await seen(again, raw["update_id"]) == 1


async def test_a_crash_before_a_left_over_record_is_written_answers_a_read_again(
    committee: Committee, db_url: str
) -> None:
    """What a crash can leave behind: the record of an update that wrote nothing waits a
    moment for a write to go with. A crash in that moment loses only that record; the
    redelivered update wrote nothing the first time, so it is answered again (a repeated
    reply, nothing done twice)."""
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        bot.svc.db.left_over_within = 3600  # the crash comes first
        bot.fake.send_text(li, "/whoami")
        raw = bot.fake.take_updates()[-1]
        await bot.app.process_update(Update.de_json(raw, bot.app.bot))
        db = bot.svc.db
        assert db._left_over and db._left_over_task is not None
        db._left_over_task.cancel()  # the process dies: nothing more is written
        db._left_over.clear()
        fake = bot.fake
        answered = len(bot.texts(li))
    async with running_bot(committee, db_url, fake=fake) as again:
        await again.app.process_update(Update.de_json(raw, again.app.bot))
        texts = again.texts(li)
        assert len(texts) == answered + 1 and texts[-1] == texts[-2]
        await again.svc.db.write_left_over()
        assert await seen(again, raw["update_id"]) == 1


async def test_a_redelivery_after_a_restart_is_skipped(committee: Committee, db_url: str) -> None:
    """The bot answers a press, commits, and stops before Telegram learns it was handled: the
    next process gets the same update again, and must not act twice."""
    async with running_bot(committee, db_url) as bot:
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "重启后重复投递")
        await bot.flush_outbox()
        bot.fake.press(zhao, bot.last_with_buttons(zhao), "受理")
        raw = bot.fake.take_updates()[-1]
        await bot.app.process_update(Update.de_json(raw, bot.app.bot))
        fake = bot.fake
    async with running_bot(committee, db_url, fake=fake) as again:
        await again.app.process_update(Update.de_json(raw, again.app.bot))
        async with again.svc.db.read() as conn:
            acks = (
                await conn.execute(
                    select(func.count())
                    .select_from(t.events)
                    .where(t.events.c.action == "acknowledge", t.events.c.case_id == case.id)
                )
            ).scalar_one()
        assert acks == 1 and await seen(again, raw["update_id"]) == 1
        answers = [
            a
            for a in again.fake.callback_answers(zhao)
            if a["callback_query_id"] == raw["callback_query"]["id"]
        ]
        assert len(answers) == 1


async def test_ids_forgotten_in_memory_are_still_known_to_the_database(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        bot.svc._seen.LIMIT = 4  # a short memory, to make it forget
        for update_id in range(1, 11):
            assert await bot.svc.first_sighting(update_id)
        assert len(bot.svc._seen.recent) <= 4
        for update_id in range(1, 11):
            assert not await bot.svc.first_sighting(update_id)
        assert await bot.svc.first_sighting(11)
