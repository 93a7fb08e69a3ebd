"""Every copy of a notice ends up showing the matter as it stands, whatever order its edits
land in: a late retry of an older edit, the pressed notice's own edit racing a colleague's
step, a notice still on its way when someone acts; and no edit shows a reader an agency's
reply they may no longer see."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain import rules
from bot.domain.committee import Committee
from bot.domain.models import Event, Role
from bot.services.delivery import OutboxMessage
from bot.storage import schema as t
from handlers.courier import Rendered
from handlers.jobs import tick
from tests import test_mech_assistance as assistance
from tests.conftest import SHANGHAI
from tests.flows import LI, WANG, ZHAO, member, rows, seed_case
from tests.scenario import running_bot
from tests.test_notices import TITLE, WU, cast
from tests.test_once import WriteCounter


async def test_an_older_edit_retried_late_does_not_overwrite_a_newer_one(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        _, _, wu = await cast(bot)
        case = await seed_case(bot, LI, "李明", TITLE)
        await bot.flush_outbox()
        theirs = bot.last_with_buttons(wu)
        clerk = await bot.svc.viewer(ZHAO, "赵法官", None)

        # 受理: both copies' edits time out (nothing was changed), so they wait for a retry.
        bot.fake.inject_timeout("editMessageText", times=2)
        await bot.svc.acknowledge(clerk, case.id)
        await bot.app.bot_data["runtime"].courier.flush(bot.app.bot)
        bot._checked_calls = len(bot.fake.calls)  # the two timeouts are expected
        # A second step at once: its edits go through.
        await bot.svc.act(clerk, case.id, None, "assign", {"handler": str(WU)})
        await bot.flush_outbox()
        newer = bot.fake.message(wu, theirs["message_id"])["text"]
        assert not newer.startswith("📌 已受理"), newer

        # The first step's edits are retried later: they must not put the older line back.
        bot.clock.set(bot.clock.now() + timedelta(minutes=5))
        await bot.flush_outbox()
        final = bot.fake.message(wu, theirs["message_id"])["text"]
        assert final == newer, f"newer:\n{newer}\n\nfinal:\n{final}"
        # Every edit row is done with: none waits to put an older state back later.
        edits = await rows(bot, t.outbox, t.outbox.c.kind == "case_refresh")
        assert len(edits) == 4 and {e.status for e in edits} <= {"sent", "failed"}


async def test_the_pressed_copy_is_not_left_behind_by_a_colleague_acting_meanwhile(
    committee: Committee, db_url: str
) -> None:
    """Zhao presses 受理; while his handler is between its commit and its edit of the pressed
    notice, Wu assigns a handler and Wu's step edits Zhao's copy. Zhao's handler's edit then
    lands, rendered from the matter as it stood after 受理: one more edit must follow."""
    async with running_bot(committee, db_url) as bot:
        _, zhao, _ = await cast(bot)
        case = await seed_case(bot, LI, "李明", TITLE)
        await bot.flush_outbox()
        mine = bot.last_with_buttons(zhao)
        wu_viewer = await bot.svc.viewer(WU, "吴法官", None)
        svc = bot.svc
        original = svc.event
        done = False

        async def event_with_a_colleague_in_between(event_id: int) -> Event:
            nonlocal done
            if not done:
                done = True
                await svc.act(wu_viewer, case.id, None, "assign", {"handler": str(WU)})
                await bot.app.bot_data["runtime"].courier.flush(bot.app.bot)
            return await original(event_id)

        svc.event = event_with_a_colleague_in_between  # type: ignore[method-assign]
        try:
            await bot.press(zhao, "受理", message=mine)
        finally:
            svc.event = original  # type: ignore[method-assign]
        await bot.flush_outbox()
        final = bot.fake.message(zhao, mine["message_id"])["text"]
        assert "承办人：吴法官" in final, final
        (assigned,) = await rows(bot, t.events, t.events.c.action == "assign")
        assert (await rows(bot, t.assignments))[0].handler_user_id == WU
        pressed = await rows(bot, t.outbox, t.outbox.c.key.contains(":edit:pressed:"))
        assert [(r.chat_id, r.status, r.payload["event_id"]) for r in pressed] == [
            (ZHAO, "sent", assigned.id)
        ]


async def test_a_notice_in_flight_when_a_colleague_acts_is_brought_up_to_date(
    committee: Committee, db_url: str
) -> None:
    """Wu's notice is rendered (受理/退回) and waits for the rate limiter; meanwhile Zhao
    acknowledges. Wu's copy (still 'sending') and Zhao's (delivered, its outcome not yet
    written: outcomes are batched) could not be found as delivered then: both are edited
    once their delivery is recorded."""
    async with running_bot(committee, db_url) as bot:
        _, zhao, wu = await cast(bot)
        courier = bot.app.bot_data["runtime"].courier
        clerk = await bot.svc.viewer(ZHAO, "赵法官", None)
        render = courier.renderers["case_new"]

        async def render_then_colleague_acts(message: OutboxMessage, uncertain: bool) -> Rendered:
            rendered = await render(message, uncertain)
            if message.chat_id == WU:
                # Zhao's notice went first (3001 < 3003); he acknowledges while Wu's is in flight.
                await bot.svc.acknowledge(clerk, int(message.payload["case_id"]))
            return rendered

        courier.renderers["case_new"] = render_then_colleague_acts
        case = await seed_case(bot, LI, "李明", TITLE)
        await bot.flush_outbox()
        courier.renderers["case_new"] = render
        await bot.flush_outbox()
        await bot.tick()
        assert (await bot.svc.get_case(case.id)).status == "acknowledged"
        for user in (zhao, wu):
            copy = bot.last_with_buttons(user)
            assert "✅ 受理" not in bot.labels(copy), (user.id, bot.labels(copy))
            assert copy["text"].startswith("📌 已受理：赵法官"), copy["text"]
        edits = await rows(bot, t.outbox, t.outbox.c.kind == "case_refresh")
        assert sorted((e.chat_id, e.status) for e in edits) == [
            (ZHAO, "sent"),
            (WU, "sent"),
        ]


async def test_a_copy_moved_to_another_agency_does_not_show_its_old_agencys_reply(
    committee: Committee, db_url: str
) -> None:
    """执行联动 to two agencies. 李明 (自然资源局) got his agency's notice; the office then
    moves him to 生态环境局 (revoke, invite again). A colleague of 自然资源局 replies: the
    edit of 李明's old copy must not show 自然资源局's reply to a member of another agency,
    which /case would never show him (one agency does not read another's reply)."""
    async with running_bot(committee, db_url) as bot:
        people = await assistance.cast(bot)
        li = people["li"]
        sun = await member(bot, assistance.SUN_KE, "孙可", "CBS-NR", Role.DEPARTMENT_HEAD)
        case_id = await assistance.seed(bot, ["CBS-NR", "CBS-ENV"])
        old_copy = assistance.notice_of(bot, li, assistance.NR)

        office = await bot.svc.viewer(1001, "办公室管理员", None)
        (row,) = await rows(
            bot, t.members, t.members.c.user_id == li.id, t.members.c.revoked_at.is_(None)
        )
        await bot.svc.revoke_member(office, row.id)
        await bot.join(li, "CBS-ENV", Role.DEPARTMENT_HEAD)

        details = "名下登记住宅一套，登记信息见附件。"
        await assistance.reply(bot, sun, assistance.NR, "Assisted as asked", details)
        await bot.flush_outbox()
        shown = bot.fake.message(li, old_copy["message_id"])["text"]
        # What 李明 may see now, as /case shows it to him:
        viewer = await bot.svc.viewer(li.id, "李明", None)
        case = await bot.svc.get_case(case_id)
        seen = rules.addressees_seen(
            viewer.member, case, bot.svc.committee, bot.svc.kinds[case.kind]
        )
        assert [a.addressee for a in seen] == ["CBS-ENV"]
        assert details not in shown, shown
        # The edit of his old copy was skipped, not retried.
        (edit,) = await rows(
            bot, t.outbox, t.outbox.c.kind == "case_refresh", t.outbox.c.chat_id == li.id
        )
        assert edit.status == "failed" and "skipped" in edit.last_error


async def test_a_summary_waiting_for_a_retry_leaves_out_an_agency_its_reader_left(
    committee: Committee, db_url: str
) -> None:
    """The morning's overdue summaries are queued, but Telegram times out; before the retry
    the office moves 李明 from 自然资源局 to 生态环境局. The retried summary may not tell him
    where 自然资源局 stands: with nothing else in it, it is not sent."""
    async with running_bot(committee, db_url) as bot:
        people = await assistance.cast(bot)
        li, wang = people["li"], people["wang"]
        await assistance.seed(bot, ["CBS-NR", "CBS-ENV"])
        await bot.tick(datetime(2026, 12, 2, 20, 0, tzinfo=SHANGHAI))  # the day before
        bot.fake.inject_timeout("sendMessage", times=2)
        bot.clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI))
        await tick(bot.app)
        bot._checked_calls = len(bot.fake.calls)  # the two timeouts are expected
        summaries = await rows(bot, t.outbox, t.outbox.c.kind == "deadline_summary")
        assert sorted((r.chat_id, r.status) for r in summaries) == [
            (LI, "retry"),
            (WANG, "retry"),
        ]

        office = await bot.svc.viewer(1001, "办公室管理员", None)
        (row,) = await rows(
            bot, t.members, t.members.c.user_id == li.id, t.members.c.revoked_at.is_(None)
        )
        await bot.svc.revoke_member(office, row.id)
        await bot.join(li, "CBS-ENV", Role.DEPARTMENT_HEAD)
        li_had = len(bot.texts(li))

        bot.clock.set(bot.clock.now() + timedelta(minutes=5))
        await bot.flush_outbox()
        assert not any(assistance.NUMBER in x for x in bot.texts(li)[li_had:])
        (theirs,) = [x for x in bot.texts(wang) if "📋" in x]  # after the may-be-a-repeat note
        assert assistance.NUMBER in theirs and assistance.ENV in theirs
        summaries = await rows(bot, t.outbox, t.outbox.c.kind == "deadline_summary")
        assert sorted((r.chat_id, r.status) for r in summaries) == [
            (LI, "failed"),
            (WANG, "sent"),
        ]


async def test_a_notice_waiting_for_a_retry_is_not_sent_to_a_member_who_left_its_agency(
    committee: Committee, db_url: str
) -> None:
    """自然资源局's notice to 李明 times out; before the retry the office moves him to
    生态环境局. The notice (with its Reply button for 自然资源局) is not sent to him then."""
    async with running_bot(committee, db_url) as bot:
        people = await assistance.cast(bot)
        li = people["li"]
        viewer = await bot.svc.viewer(ZHAO, "赵法官", None)
        values = {
            "measure": "freeze",
            "docket": assistance.DOCKET,
            "party": assistance.PARTY,
            "request": "请协助冻结被执行人名下股权登记。",
            "agencies": ["CBS-NR", "CBS-ENV"],
            "reply_by": None,
            "documents": [],
        }
        await bot.svc.submit(viewer, "assistance", values, "seed-moved")
        queued = await rows(bot, t.outbox, t.outbox.c.status == "pending")
        bot.fake.inject_timeout("sendMessage", times=len(queued))  # all wait for a retry
        await bot.app.bot_data["runtime"].courier.flush(bot.app.bot)
        bot._checked_calls = len(bot.fake.calls)  # the timeouts are expected
        (notice,) = await rows(
            bot, t.outbox, t.outbox.c.kind == "case_new", t.outbox.c.chat_id == li.id
        )
        assert notice.status == "retry"

        office = await bot.svc.viewer(1001, "办公室管理员", None)
        (row,) = await rows(
            bot, t.members, t.members.c.user_id == li.id, t.members.c.revoked_at.is_(None)
        )
        await bot.svc.revoke_member(office, row.id)
        await bot.join(li, "CBS-ENV", Role.DEPARTMENT_HEAD)
        li_had = len(bot.texts(li))

        bot.clock.set(bot.clock.now() + timedelta(minutes=5))
        await bot.flush_outbox()
        assert not any(assistance.NUMBER in x for x in bot.texts(li)[li_had:])
        (notice,) = await rows(
            bot, t.outbox, t.outbox.c.kind == "case_new", t.outbox.c.chat_id == li.id
        )
        assert notice.status == "failed" and "skipped" in notice.last_error


async def test_an_alert_queued_by_an_older_release_follows_the_same_rule(
    committee: Committee, db_url: str
) -> None:
    """A single overdue alert (as queued before morning summaries existed) about 自然资源局
    reaches 李明 while he answers for it, and not once he moved to 生态环境局."""
    async with running_bot(committee, db_url) as bot:
        people = await assistance.cast(bot)
        li = people["li"]
        case_id = await assistance.seed(bot, ["CBS-NR", "CBS-ENV"])
        ids = {a.addressee: a.id for a in await rows(bot, t.assignments)}
        bot.clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI))
        outbox = bot.app.bot_data["runtime"].courier.outbox
        payload = {
            "case_id": case_id,
            "assignment_id": ids["CBS-NR"],
            "stage": "reply",
            "round": 0,
            "level": "overdue",
            "due": "2026-12-02",
            "late": 1,
        }

        async def alert(key: str) -> str:
            await outbox.add(key, li.id, "deadline", payload)
            await bot.flush_outbox()
            (row,) = await rows(bot, t.outbox, t.outbox.c.key == key)
            return f"{row.status}: {row.last_error or ''}"

        assert await alert("legacy:1") == "sent: "
        assert assistance.NUMBER in bot.last_text(li) and assistance.NR in bot.last_text(li)

        office = await bot.svc.viewer(1001, "办公室管理员", None)
        (row,) = await rows(
            bot, t.members, t.members.c.user_id == li.id, t.members.c.revoked_at.is_(None)
        )
        await bot.svc.revoke_member(office, row.id)
        await bot.join(li, "CBS-ENV", Role.DEPARTMENT_HEAD)
        li_had = len(bot.texts(li))
        assert (await alert("legacy:2")).startswith("failed: skipped")
        assert bot.texts(li)[li_had:] == []


async def test_a_press_nobody_overtook_costs_one_write(committee: Committee, db_url: str) -> None:
    """Zhao presses 受理 on his notice and nobody acts meanwhile: the step (with the
    once-only record of the press) is the update's one write transaction; checking that no
    colleague overtook the pressed notice only reads, and queues no extra edit."""
    async with running_bot(committee, db_url) as bot:
        _, zhao, _ = await cast(bot)
        case = await seed_case(bot, LI, "李明", TITLE)
        await bot.flush_outbox()
        mine = bot.last_with_buttons(zhao)
        runtime = bot.app.bot_data["runtime"]
        courier, runtime.courier = runtime.courier, None  # its deliveries are counted apart
        counter = WriteCounter(bot)
        try:
            await bot.press(zhao, "受理", message=mine)
            await bot.settle()
        finally:
            counter.close()
            runtime.courier = courier
        assert counter.writes == 1
        assert bot.fake.message(zhao, mine["message_id"])["text"].startswith("📌 已受理")
        (ack,) = await rows(bot, t.events, t.events.c.action == "acknowledge")
        assert ack.case_id == case.id
        assert await rows(bot, t.outbox, t.outbox.c.key.contains(":edit:pressed:")) == []
