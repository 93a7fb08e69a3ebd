"""The warm-up soon after start compiles the prebuilt statements (see
``Coordination.warm_up_statements``): a member's first submit, a court's first answer, an
organisation's first reply to a meeting and the office's first invite then compile none of
those on their time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import Executable

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.services import acting, cases, meetings
from bot.services.members import token_digest
from bot.storage import db as db_module
from bot.storage import schema as t
from handlers import jobs
from tests.flows import bind_group, new_invite, rows
from tests.scenario import Harness, running_bot
from tests.test_flow_referral import raise_referral
from tests.test_meetings import cast as meeting_cast
from tests.test_meetings import posts, schedule


def prepared(bot: Harness) -> dict[int, Any]:
    """The statements the engine's dialect holds compiled for ``execute``."""
    return getattr(bot.svc.db.engine.sync_engine.dialect, db_module._PREPARED, {})


def built_per_shape() -> set[int]:
    """Statements built when first needed for a shape no warm-up can know in advance: a
    step's UPDATE for the set of columns it writes."""
    return {id(s) for s in acting._ASSIGNMENT_UPDATES.values()}


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Executable]]:
    """Every statement ``_prepare`` compiles from now on."""
    compiled: list[Executable] = []
    compile_once = db_module._prepare

    def counted(dialect: Any, statement: Executable) -> Any:
        known = getattr(dialect, db_module._PREPARED, {})
        found = known.get(id(statement))
        if found is None or found[0] is not statement:
            compiled.append(statement)
        return compile_once(dialect, statement)

    monkeypatch.setattr(db_module, "_prepare", counted)
    yield compiled


@pytest.mark.sqlite_only
async def test_after_the_warm_up_a_submit_an_acknowledgement_a_reply_an_invite_compile_nothing(
    committee: Committee, db_url: str, compiles: list[Executable]
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await meeting_cast(bot)
        li, zhao = people["li"], people["zhao"]
        group = await bind_group(bot)
        before = len(prepared(bot))
        # The warm-up job, as the job queue runs it soon after start.
        await jobs._warm_job(cast(Any, SimpleNamespace(application=bot.app)))
        assert len(prepared(bot)) > before + 50
        # Those of the steps below that used to be built on each call are among them.
        for statement in (meetings._RSVP, bot.svc._new_invite, cases._NEW_FILE):
            assert id(statement) in prepared(bot)
        # Run again, it finds them all compiled.
        assert await bot.svc.warm_up_statements() == 0
        del compiles[:]

        await raise_referral(bot, li)  # with a file
        await bot.press(li, "提请")
        assert "协调〔2026〕1号" in bot.last_text(li)
        note = bot.last_with_buttons(zhao)
        await bot.press(zhao, "受理", message=note)
        assert "受理" in bot.alerts(zhao)[-1]
        await schedule(bot, people["admin"])
        (post,) = posts(bot, group, "请参会单位")
        await bot.press(zhao, "✅ 出席", message=post)
        assert bot.alerts(zhao)[-1] == "已记录：延边州中级人民法院，出席。"
        token = await new_invite(bot, "长白山管委会生态环境局", "部门负责人")

        # The database holds the matter, its file, the court's step, the answer, the invite.
        (case,) = await rows(bot, t.cases)
        assert (case.number, case.status) == ("协调〔2026〕1号", "acknowledged")
        (file,) = await rows(bot, t.case_files)
        assert (file.case_id, file.file_name) == (case.id, "补偿方案.pdf")
        (assignment,) = await rows(bot, t.assignments)
        assert (assignment.state, assignment.acted_by) == ("acknowledged", zhao.id)
        answers = {r.org_code: (r.rsvp, r.rsvp_by) for r in await rows(bot, t.meeting_orgs)}
        assert answers["YB-IPC"] == ("attend", zhao.id)
        (invite,) = await rows(bot, t.invites, t.invites.c.token_hash == token_digest(token))
        assert (invite.org_code, invite.role, invite.used_by) == (
            "CBS-ENV",
            Role.DEPARTMENT_HEAD.value,
            None,
        )
    # Only what is built per shape was compiled on the members' time.
    assert compiles, "the flows ran no prebuilt statement"
    assert [str(s) for s in compiles if id(s) not in built_per_shape()] == []


@pytest.mark.sqlite_only
async def test_the_warm_up_fills_the_cache_no_further_than_its_bound(
    committee: Committee,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_bot(committee, db_url) as bot:
        people = await meeting_cast(bot)
        bound = len(prepared(bot)) + 5
        monkeypatch.setattr(db_module, "PREPARED_AT_MOST", bound)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="bot.storage.db"):
            assert await bot.svc.warm_up_statements() == 5
        assert len(prepared(bot)) == bound
        assert [r.getMessage() for r in caplog.records if r.name == "bot.storage.db"] == [
            f"{bound} statements prepared, the bound: not all warmed"
        ]
        # Past the bound, statements still run (through SQLAlchemy): a submit goes through.
        await raise_referral(bot, people["li"])
        await bot.press(people["li"], "提请")
        assert len(prepared(bot)) == bound
        (case,) = await rows(bot, t.cases)
        assert case.number == "协调〔2026〕1号"
        assert len(await rows(bot, t.case_files)) == 1


@pytest.mark.sqlite_only
async def test_the_warm_up_lets_the_loop_run_between_batches(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        ran: list[int] = []

        async def other_work() -> None:
            while True:
                ran.append(len(prepared(bot)))
                await asyncio.sleep(0)

        task = asyncio.create_task(other_work())
        await asyncio.sleep(0)
        try:
            statements = list(bot.svc.prebuilt_statements())
            compiled = await bot.svc.db.prepare(statements[:10], stretch=0.0)
            assert compiled > 0
            # Nothing compiled at a stretch: the loop ran between every two statements.
            assert len(ran) >= compiled + 1 and len(set(ran)) >= compiled
            ran.clear()
            # At the usual stretch, the loop still runs while the rest are compiled.
            assert await bot.svc.warm_up_statements() > 20
            assert len(set(ran)) > 2
        finally:
            task.cancel()


@pytest.mark.postgres(only=True)
async def test_the_warm_up_compiles_nothing_on_postgresql(
    committee: Committee, db_url: str
) -> None:
    """``execute`` prepares nothing there (SQLAlchemy's cache serves): neither does this."""
    async with running_bot(committee, db_url) as bot:
        people = await meeting_cast(bot)
        assert await bot.svc.warm_up_statements() == 0
        assert prepared(bot) == {}
        await raise_referral(bot, people["li"])
        await bot.press(people["li"], "提请")
        (case,) = await rows(bot, t.cases)
        assert case.number == "协调〔2026〕1号"
