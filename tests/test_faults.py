"""The Bot API failing at a fixed rate: everything is delivered, nothing silently twice."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from telegram.error import NetworkError, TimedOut

from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.services.delivery import GIVE_UP_AFTER, Outbox, Outcome
from bot.storage import schema as t
from handlers.jobs import tick
from tests.conftest import ADMIN_ID
from tests.fakes.request import FakeRequest, decode_request_data
from tests.fakes.telegram import FakeTelegram, FakeUser
from tests.flows import LI, ZHAO, admin, bind_group, member, rows, seed_case
from tests.scenario import Harness, running_bot

RESENT = "因网络问题重新发送"


class StormyRequest(FakeRequest):
    """Every 3rd sendMessage answers 502, every 5th times out after delivering, every 7th
    answers 429 — once the storm is switched on."""

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__(fake)
        self.storm = False
        self.sends = 0
        self.injected: Counter[str] = Counter()

    async def do_request(
        self, url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        if self.storm and url.rstrip("/").endswith("/sendMessage"):
            self.sends += 1
            if self.sends % 3 == 0:
                self.injected["502"] += 1
                body = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
                return 502, json.dumps(body).encode()
            if self.sends % 7 == 0:
                self.injected["429"] += 1
                body = {
                    "ok": False,
                    "error_code": 429,
                    "parameters": {"retry_after": 3},
                    "description": "Too Many Requests: retry after 3",
                }
                return 429, json.dumps(body).encode()
            if self.sends % 5 == 0:
                self.injected["timeout"] += 1
                await super().do_request(url, method, request_data, *args, **kwargs)
                raise TimedOut("injected: delivered, but the answer never came")
        return await super().do_request(url, method, request_data, *args, **kwargs)


async def test_every_outbox_message_delivered_under_a_storm(
    committee: Committee, db_url: str
) -> None:
    fake = FakeTelegram()
    request = StormyRequest(fake)
    async with running_bot(committee, db_url, fake=fake, request=request) as bot:
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        request.storm = True
        cases = [await seed_case(bot, LI, "李明", f"风暴事项{i}") for i in range(30)]
        outbox = bot.app.bot_data["runtime"].outbox
        for _ in range(200):  # tick, then jump to the next retry: backoff runs its course
            await tick(bot.app)
            async with bot.svc.db.read() as conn:
                left = (
                    await conn.execute(select(t.outbox.c.key).where(t.outbox.c.status != "sent"))
                ).all()
            if not left:
                break
            due = await outbox.next_due_at()
            bot.clock.set(max(bot.clock.now() + timedelta(seconds=1), due or bot.clock.now()))
        assert left == []
        assert request.injected["502"] and request.injected["429"] and request.injected["timeout"]

        for chat in (zhao, group):
            texts = bot.texts(chat)
            for case in cases:
                copies = [x for x in texts if case.number in x]
                plain = [x for x in copies if not x.startswith(RESENT)]
                # Each matter arrived, plainly at most once; any other copy is a flagged
                # resend (after a 502 the first copy that arrives may be flagged: a 502 is
                # an answer to a request that was written, so it may have been acted on).
                assert copies and len(plain) <= 1, (case.number, copies)
        async with bot.svc.db.read() as conn:
            uncertain = (
                await conn.execute(select(t.outbox.c.key).where(t.outbox.c.uncertain == 1))
            ).all()
        # A row is marked uncertain by its first timeout or 502 (a resend may fail again).
        assert 0 < len(uncertain) <= request.injected["timeout"] + request.injected["502"]
        resent = [x for chat in (zhao, group) for x in bot.texts(chat) if x.startswith(RESENT)]
        assert len(resent) >= len(uncertain)


async def test_a_question_that_timed_out_still_takes_its_answer(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        li = await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await bot.say(li, "/new")
        # The kind's question becomes the title question...
        bot.fake.inject_timeout("editMessageText", deliver=True)
        calls = (len(bot.fake.calls_of("editMessageText")), len(bot.fake.calls_of("sendMessage")))
        await bot.press(li, "重大事项研判")  # ...but the bot never hears back
        assert bot.last_text(li).startswith("✔ 重大事项研判\n\n1/6 · 标题")
        # Never shown twice: no second edit, no new message.
        assert (calls[0] + 1, calls[1]) == (
            len(bot.fake.calls_of("editMessageText")),
            len(bot.fake.calls_of("sendMessage")),
        )
        await bot.say(li, "滑雪场扩建项目")
        assert bot.last_text(li).startswith("2/6 · 情况说明")
        draft = await bot.svc.load_draft(LI, "form")
        assert draft is not None and draft.data["values"] == {"title": "滑雪场扩建项目"}


# ---------------------------------------------------------------------------- one chat's faults

ALICE = 1002  # a second office member, who reads the bot in English


class FaultyRequest(FakeRequest):
    """sendMessage to chosen chats fails as python-telegram-bot's HTTPXRequest would report it:
    queued faults one per send ("502", "429", "dropped": the request went out and Telegram
    acted on it, then the connection dropped before the answer; "connect": no connection, so
    nothing was written), and an outage (every send answers 502) for chats in ``down``."""

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__(fake)
        self.faults: dict[int, list[str]] = {}
        self.down: set[int] = set()
        self.everything_down = False
        self.injected_to: Counter[tuple[int, str]] = Counter()

    def fail(self, chat_id: int, *faults: str) -> None:
        self.faults.setdefault(chat_id, []).extend(faults)

    async def do_request(
        self, url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        if url.rstrip("/").endswith("/sendMessage"):
            chat = int(decode_request_data(request_data)["chat_id"])
            queued = self.faults.get(chat)
            fault = queued.pop(0) if queued else None
            if fault is None and (self.everything_down or chat in self.down):
                fault = "502"
            if fault is not None:
                self.injected_to[chat, fault] += 1
            if fault == "502":
                body = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
                return 502, json.dumps(body).encode()
            if fault == "429":
                body = {
                    "ok": False,
                    "error_code": 429,
                    "parameters": {"retry_after": 3},
                    "description": "Too Many Requests: retry after 3",
                }
                return 429, json.dumps(body).encode()
            if fault == "connect":
                cause = httpx.ConnectError("[Errno 111] Connection refused")
                raise NetworkError(f"httpx.ConnectError: {cause}") from cause
            if fault == "dropped":
                await super().do_request(url, method, request_data, *args, **kwargs)
                cause = httpx.RemoteProtocolError("Server disconnected without sending a response.")
                raise NetworkError(f"httpx.RemoteProtocolError: {cause}") from cause
        return await super().do_request(url, method, request_data, *args, **kwargs)


@asynccontextmanager
async def faulty_bot(
    committee: Committee, db_url: str
) -> AsyncIterator[tuple[Harness, FaultyRequest]]:
    fake = FakeTelegram()
    request = FaultyRequest(fake)
    async with running_bot(committee, db_url, fake=fake, request=request) as bot:
        yield bot, request


async def run_until(bot: Harness, until: datetime) -> None:
    """Tick, then jump to the next retry, as the minutes pass, until ``until``."""
    outbox = bot.app.bot_data["runtime"].outbox
    while bot.clock.now() < until:
        await bot.tick()
        due = await outbox.next_due_at()
        if due is None:
            return
        bot.clock.set(max(bot.clock.now() + timedelta(seconds=1), due))


async def outbox_row(bot: Harness, key: str) -> Any:
    (row,) = await rows(bot, t.outbox, t.outbox.c.key == key)
    return row


def about(bot: Harness, user: FakeUser | int, number: str) -> list[str]:
    return [x for x in bot.texts(user) if number in x]


async def office_member_in_english(bot: Harness) -> FakeUser:
    alice = bot.user(ALICE, "Alice", lang="en")
    await bot.join(alice, "CBS-OFFICE", Role.OFFICE)
    await bot.say(alice, "/lang")
    await bot.press(alice, "English")
    return alice


async def revoke_through_members(bot: Harness, label: str) -> None:
    """The office revokes a member from /members, as in the membership flow."""
    office = admin(bot)
    await bot.say(office, "/members")
    listing = bot.last_with_buttons(office)
    await bot.press(office, label, message=listing)
    await bot.press(office, "确认撤销", message=bot.fake.message(office, listing["message_id"]))
    assert bot.alerts(office)[-1] == "已撤销。"


async def test_a_notice_waiting_for_a_retry_never_reaches_a_member_revoked_meanwhile(
    committee: Committee, db_url: str
) -> None:
    async with faulty_bot(committee, db_url) as (bot, request):
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        request.fail(ZHAO, "502")
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目")
        await bot.tick()
        key = f"case:{case.id}:new:{ZHAO}"
        assert (await outbox_row(bot, key)).status == "retry"  # waits for its retry
        assert about(bot, group, case.number)  # the group's post went out

        await revoke_through_members(bot, "撤销赵法官")
        seen = list(bot.texts(zhao))
        await bot.tick(bot.clock.now() + timedelta(minutes=5))

        assert bot.texts(zhao) == seen  # nothing more reached the revoked member
        assert not about(bot, zhao, case.number)
        assert not any("李明" in x for x in bot.texts(zhao))
        row = await outbox_row(bot, key)
        assert row.status == "failed"
        assert row.last_error == "not delivered: the recipient is not an active member (any more)"
        # Expected, so the office is not told of it as a delivery failure.
        assert await rows(bot, t.outbox, t.outbox.c.kind == "delivery_failed") == []
        assert not any("无法送达" in x for x in bot.texts(admin(bot)))


async def test_a_connection_dropped_after_the_request_went_out_is_resent_flagged(
    committee: Committee, db_url: str
) -> None:
    async with faulty_bot(committee, db_url) as (bot, request):
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        request.fail(ZHAO, "dropped")
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目")
        await bot.tick()
        key = f"case:{case.id}:new:{ZHAO}"
        row = await outbox_row(bot, key)
        assert (row.status, row.uncertain) == ("retry", 1)
        (first,) = about(bot, zhao, case.number)  # Telegram had delivered it
        assert not first.startswith(RESENT)

        await bot.tick(bot.clock.now() + timedelta(minutes=1))
        copies = about(bot, zhao, case.number)
        assert len(copies) == 2 and copies[1].startswith(RESENT)  # the repeat says so
        assert (await outbox_row(bot, key)).status == "sent"


async def test_a_connect_error_is_resent_without_the_note(
    committee: Committee, db_url: str
) -> None:
    async with faulty_bot(committee, db_url) as (bot, request):
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        request.fail(ZHAO, "connect")
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目")
        await bot.tick()
        key = f"case:{case.id}:new:{ZHAO}"
        row = await outbox_row(bot, key)
        assert (row.status, row.uncertain) == ("retry", 0)  # nothing was written
        assert about(bot, zhao, case.number) == []

        await bot.tick(bot.clock.now() + timedelta(minutes=1))
        (only,) = about(bot, zhao, case.number)
        assert not only.startswith(RESENT)
        assert (await outbox_row(bot, key)).status == "sent"


async def test_an_hour_of_outage_and_a_dozen_429s_do_not_use_a_notice_up(
    committee: Committee, db_url: str
) -> None:
    async with faulty_bot(committee, db_url) as (bot, request):
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        request.fail(ZHAO, *["429"] * 12)  # Telegram says "wait" twelve times,
        request.down.add(ZHAO)  # then answers 502 for an hour
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目")
        key = f"case:{case.id}:new:{ZHAO}"
        await run_until(bot, bot.clock.now() + timedelta(hours=1))
        assert request.faults[ZHAO] == []
        assert (await outbox_row(bot, key)).status == "retry"
        request.down.clear()
        await run_until(bot, bot.clock.now() + timedelta(minutes=20))

        (notice,) = about(bot, zhao, case.number)
        assert notice.startswith(RESENT)  # a 502 may have been acted on
        row = await outbox_row(bot, key)
        assert request.injected_to[ZHAO, "429"] == 12 and request.injected_to[ZHAO, "502"] > 8
        # Each 502 counted as an attempt, the 429s did not; then the one that went through.
        assert row.status == "sent" and row.attempts == request.injected_to[ZHAO, "502"] + 1
        assert await rows(bot, t.outbox, t.outbox.c.kind == "delivery_failed") == []


async def test_a_notice_undeliverable_for_hours_is_given_up_and_the_office_told(
    committee: Committee, db_url: str
) -> None:
    async with faulty_bot(committee, db_url) as (bot, request):
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        alice = await office_member_in_english(bot)
        request.down.add(ZHAO)
        start = bot.clock.now()
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目")
        key = f"case:{case.id}:new:{ZHAO}"

        await run_until(bot, start + GIVE_UP_AFTER - timedelta(minutes=20))
        assert (await outbox_row(bot, key)).status == "retry"  # still trying after hours
        await run_until(bot, start + GIVE_UP_AFTER + timedelta(minutes=20))

        row = await outbox_row(bot, key)
        assert row.status == "failed" and row.last_error.startswith("gave up after 6.")
        assert about(bot, zhao, case.number) == []
        office = admin(bot)
        (report,) = [x for x in bot.texts(office) if "无法送达" in x]
        assert report.splitlines()[:3] == [
            "⚠ 有一条消息无法送达",
            f"收件人：赵法官（延边州中级人民法院），Telegram ID {ZHAO}",
            f"事项编号：{case.number}",
        ]
        assert "已尝试6小时仍无法送达，机器人已停止重试。请通过其他方式通知对方。" in report
        (english,) = [x for x in bot.texts(alice) if "could not be delivered" in x]
        assert english.splitlines()[:3] == [
            "⚠ A message could not be delivered",
            f"To: 赵法官 (Yanbian Intermediate People's Court), Telegram ID {ZHAO}",
            f"About: matter {case.number}",
        ]
        assert "It still could not be sent after 6 hours, so the bot has stopped trying." in (
            english
        )
        reports = await rows(bot, t.outbox, t.outbox.c.kind == "delivery_failed")
        assert sorted((r.chat_id, r.status) for r in reports) == [
            (ADMIN_ID, "sent"),
            (ALICE, "sent"),
        ]


async def test_a_report_that_cannot_reach_the_office_does_not_report_itself(
    committee: Committee, db_url: str
) -> None:
    async with faulty_bot(committee, db_url) as (bot, request):
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await office_member_in_english(bot)
        request.everything_down = True
        start = bot.clock.now()
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目")
        await run_until(bot, start + 3 * GIVE_UP_AFTER)

        everything = await rows(bot, t.outbox)
        assert {r.status for r in everything} == {"failed"}
        reports = [r for r in everything if r.kind == "delivery_failed"]
        assert reports and all(r.last_error.startswith("gave up after") for r in reports)
        # The office hears of the court's notice; never of a report to the office.
        notice = f"case:{case.id}:new:{ZHAO}"
        assert sorted(r.chat_id for r in reports if r.payload["key"] == notice) == [
            ADMIN_ID,
            ALICE,
        ]
        assert not [r for r in reports if r.payload["key"].startswith("failed:")]
        assert await bot.app.bot_data["runtime"].outbox.next_due_at() is None


async def test_a_database_error_while_recording_a_send_strands_nothing(
    committee: Committee, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with faulty_bot(committee, db_url) as (bot, _request):
        group = await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        zhao = await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        cases = [await seed_case(bot, LI, "李明", f"事项{i}") for i in range(3)]
        stranded = f"case:{cases[0].id}:new:{ZHAO}"
        record = Outbox.record
        failures: list[int] = []

        async def record_broken(self: Outbox, outcomes: Sequence[Outcome]) -> None:
            # Writing this row's outcome fails, with the others and alone.
            if any(o.message.key == stranded for o in outcomes):
                failures.append(len(outcomes))
                raise OperationalError("UPDATE outbox", {}, sqlite3.OperationalError("disk I/O"))
            await record(self, outcomes)

        monkeypatch.setattr(Outbox, "record", record_broken)
        await bot.tick()
        monkeypatch.undo()

        assert failures and failures[-1] == 1  # tried alone at last, the others written
        state = {r.key: r.status for r in await rows(bot, t.outbox)}
        assert state.pop(stranded) == "sending"  # sent, but not recorded
        assert set(state.values()) == {"sent"}  # the rest of the batch went on
        for case in cases:  # each arrived once, and none claims to be a repeat
            for chat in (zhao, group):
                (copy,) = about(bot, chat, case.number)
                assert not copy.startswith(RESENT)

        await bot.tick(bot.clock.now() + timedelta(minutes=1))
        assert await rows(bot, t.outbox, t.outbox.c.status == "sending") == []
        row = await outbox_row(bot, stranded)
        assert (row.status, row.uncertain) == ("sent", 1)
        plain, again = about(bot, zhao, cases[0].number)  # it may have gone: flagged resend
        assert not plain.startswith(RESENT) and again.startswith(RESENT)
