"""The courier's decisions per failure, against a real outbox and a scripted Bot."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager, nullcontext, suppress
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from telegram.error import BadRequest, ChatMigrated, NetworkError, RetryAfter, TimedOut

from bot.clock import ManualClock
from bot.domain.committee import Committee
from bot.domain.models import Role
from bot.services.delivery import AUDIENCES, Outbox, OutboxMessage
from bot.storage import schema as t
from bot.storage.db import Database
from handlers.courier import Courier, Rendered, may_have_arrived
from handlers.pacing import Pacer, bulk
from tests.conftest import ADMIN_ID
from tests.fakes.telegram import FakeTelegram
from tests.flows import GROUP, LI, SUN, WANG, ZHAO, bind_group, member, seed_case
from tests.scenario import running_bot

# Also run on PostgreSQL (see tests/conftest.py).
pytestmark = pytest.mark.postgres


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

    async def _post(self, endpoint: str, data: dict[str, Any]) -> Any:
        """The courier sends its texts as raw requests (``handlers.sending``): the same
        script answers them, as Telegram's JSON."""
        assert endpoint == "sendMessage", endpoint
        sent = await self.send_message(int(data["chat_id"]), str(data["text"]))
        return {"message_id": sent.message_id}


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


async def test_a_partly_sent_message_resends_only_what_did_not_arrive(
    outbox: Outbox, db: Database, clock: ManualClock
) -> None:
    """The text arrived, the file did not: the row remembers it, and the resend is the file
    alone (the text is not repeated). A network error may have let the file arrive all the
    same: the row is marked uncertain."""
    await outbox.add("meeting", -100, "file", {})
    bot = ScriptedBot([Msg(1), NetworkError("502")])  # text arrived, the file did not
    await courier(outbox).flush(bot)  # type: ignore[arg-type]
    assert (await rows(db))["meeting"] == ("retry", -100, 1)
    clock.advance(timedelta(minutes=1))
    again = ScriptedBot([Msg(7)])
    await courier(outbox).flush(again)  # type: ignore[arg-type]
    assert [(method, chat) for method, chat, _ in again.calls] == [("send_document", -100)]
    async with db.read() as conn:
        row = (await conn.execute(select(t.outbox))).one()
    # Sent, under the text's message id; the payload is the row's own again.
    assert (row.status, row.message_id, row.payload) == ("sent", 1, {})


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


async def test_rows_untried_when_a_run_stops_go_back_as_they_were(
    outbox: Outbox, db: Database
) -> None:
    for i in range(3):
        await outbox.add(f"k{i}", 100 + i, "plain", {"text": f"m{i}"})

    async def audience_down(batch: list[OutboxMessage]) -> dict[int, str]:
        raise OSError("database unavailable")

    c = Courier(outbox, {"plain": render_plain}, audience=audience_down)
    bot = ScriptedBot([])
    assert await c.flush(bot) == 0  # type: ignore[arg-type]
    assert bot.calls == []
    async with db.read() as conn:
        found = (await conn.execute(select(t.outbox))).all()
    # Never tried: due again, not counted as an attempt, and not taken for a possible repeat.
    assert {(r.status, r.attempts, r.uncertain) for r in found} == {("retry", 0, 0)}


def _wrapped(error: type[NetworkError], cause: Exception) -> NetworkError:
    try:
        raise error("wrapped") from cause
    except NetworkError as exc:
        return exc


def test_only_errors_before_the_request_was_written_are_certain() -> None:
    request = httpx.Request("POST", "https://example.invalid/")
    written = [
        _wrapped(TimedOut, httpx.ReadTimeout("read", request=request)),
        _wrapped(TimedOut, httpx.WriteTimeout("write", request=request)),
        _wrapped(NetworkError, httpx.ReadError("reset", request=request)),
        _wrapped(NetworkError, httpx.RemoteProtocolError("disconnected", request=request)),
        NetworkError("Bad Gateway"),  # an answer: the request had been written
        TimedOut(),
    ]
    not_written = [
        _wrapped(NetworkError, httpx.ConnectError("refused", request=request)),
        _wrapped(TimedOut, httpx.ConnectTimeout("connect", request=request)),
        _wrapped(TimedOut, httpx.PoolTimeout("pool", request=request)),
    ]
    assert all(may_have_arrived(exc) for exc in written)
    assert not any(may_have_arrived(exc) for exc in not_written)


async def test_every_kind_the_courier_renders_declares_its_audience(
    committee: Committee, db_url: str
) -> None:
    async with running_bot(committee, db_url) as bot:
        courier = bot.app.bot_data["runtime"].courier
        assert set(courier.renderers) == set(AUDIENCES)


async def test_recipients_are_judged_as_they_are_when_sent(
    committee: Committee, db_url: str, clock: ManualClock
) -> None:
    async with running_bot(committee, db_url, clock) as bot:
        await bind_group(bot)
        await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD)
        await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD)
        await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF)
        await member(bot, SUN, "孙书记员", "FUSONG-COURT", Role.COURT_STAFF)
        case = await seed_case(bot, LI, "李明", "滑雪场扩建项目")
        on_case = {"case_id": case.id}
        cases = [("case_action", uid, on_case) for uid in (LI, WANG, ZHAO, SUN, ADMIN_ID)]
        rows = [
            *cases,
            ("deadline", GROUP, on_case),
            ("deadline", -100123, on_case),  # a group that is not the committee's
            ("case_group", ZHAO, on_case),  # a group post, to a private chat
            ("delivery_failed", ZHAO, {}),  # office only
            ("delivery_failed", ADMIN_ID, {}),
            ("meeting_reminder", ZHAO, {"meeting_id": 1, "org": "YB-IPC"}),
            ("meeting_reminder", SUN, {"meeting_id": 1, "org": "YB-IPC"}),
            ("digest", 9001, {}),  # a stranger
            ("case_action", 9001, on_case),
            ("made_up", ZHAO, {}),
        ]
        batch = [
            OutboxMessage(i, f"k{i}", chat, kind, payload, 1, False, clock.now())
            for i, (kind, chat, payload) in enumerate(rows)
        ]
        reasons = await bot.svc.undeliverable(batch)
        assert {rows[i][:2]: reason for i, reason in reasons.items()} == {
            ("case_action", WANG): "the recipient may not see the matter (any more)",
            ("case_action", SUN): "the recipient may not see the matter (any more)",
            ("deadline", -100123): "the chat is not the committee group (any more)",
            ("case_group", ZHAO): "case_group never goes to a private chat",
            ("delivery_failed", ZHAO): "the recipient is not of the office",
            ("meeting_reminder", SUN): "the recipient is not of YB-IPC (any more)",
            ("digest", 9001): "digest never goes to a private chat",
            ("case_action", 9001): "the recipient is not an active member (any more)",
            ("made_up", ZHAO): "no audience is declared for made_up",
        }


# ---------------------------------------------------------------------------- concurrency


class OverlapBot(ScriptedBot):
    """Each send yields to the event loop a few times (a round trip, without time) and
    records what was in flight meanwhile."""

    def __init__(self) -> None:
        super().__init__([])
        self.in_flight: Counter[int] = Counter()
        self.most_at_once = 0
        self.overlapping_in_a_chat = 0

    async def send_message(self, chat_id: int, text: str, **_: Any) -> Any:
        self.in_flight[chat_id] += 1
        self.most_at_once = max(self.most_at_once, sum(self.in_flight.values()))
        if self.in_flight[chat_id] > 1:
            self.overlapping_in_a_chat += 1
        for _ in range(3):
            await asyncio.sleep(0)
        self.in_flight[chat_id] -= 1
        return await self._next("send_message", chat_id, text)


async def test_chats_are_sent_to_side_by_side_and_each_chat_in_queue_order(
    outbox: Outbox, db: Database
) -> None:
    queued: list[tuple[int, str]] = []
    for i in range(30):
        chat = 500 if i % 3 == 0 else 600 + i  # one chat gets every third message
        queued.append((chat, f"m{i}"))
        await outbox.add(f"k{i}", chat, "plain", {"text": f"m{i}"})
    bot = OverlapBot()
    assert await courier(outbox).flush(bot) == 30  # type: ignore[arg-type]
    assert bot.most_at_once > 5  # side by side ...
    assert bot.overlapping_in_a_chat == 0  # ... but one at a time in a chat
    assert [text for _, chat, text in bot.calls if chat == 500] == [
        text for chat, text in queued if chat == 500
    ]
    assert sorted((chat, text) for _, chat, text in bot.calls) == sorted(queued)  # each once
    assert {v[0] for v in (await rows(db)).values()} == {"sent"}


async def test_outcomes_are_written_in_batches(outbox: Outbox, db: Database) -> None:
    for i in range(50):
        await outbox.add(f"k{i}", 100 + i, "plain", {"text": f"m{i}"})
    writes = 0
    write = db.write

    @asynccontextmanager
    async def counted() -> AsyncIterator[Any]:
        nonlocal writes
        writes += 1
        async with write() as conn:
            yield conn

    db.write = counted  # type: ignore[method-assign]
    assert await courier(outbox).flush(ScriptedBot([])) == 50  # type: ignore[arg-type]
    # Claims and a few batches of outcomes, not a transaction per message.
    assert writes <= 5
    assert {v[0] for v in (await rows(db)).values()} == {"sent"}


async def test_a_run_with_nothing_due_writes_nothing(
    outbox: Outbox, db: Database, clock: ManualClock
) -> None:
    """The periodic run mostly finds nothing to do: it takes no write lock for that. A row
    due later is left alone until it is due, then claimed and sent."""
    await outbox.add("k0", 100, "plain", {"text": "m0"})
    async with db.write() as conn:
        await conn.execute(
            t.outbox.update().values(next_attempt_at=clock.now() + timedelta(minutes=1))
        )
    writes = 0
    write = db.write

    @asynccontextmanager
    async def counted() -> AsyncIterator[Any]:
        nonlocal writes
        writes += 1
        async with write() as conn:
            yield conn

    db.write = counted  # type: ignore[method-assign]
    bot = ScriptedBot([])
    assert await courier(outbox).flush(bot) == 0  # type: ignore[arg-type]
    assert writes == 0
    assert bot.calls == []
    assert {v[0] for v in (await rows(db)).values()} == {"pending"}
    clock.advance(timedelta(minutes=1))
    assert await courier(outbox).flush(bot) == 1  # type: ignore[arg-type]
    assert writes == 2  # the claim, and the outcome
    assert [chat for _, chat, _ in bot.calls] == [100]
    assert {v[0] for v in (await rows(db)).values()} == {"sent"}


# ---------------------------------------------------------------------------- pacing


class VirtualTime:
    """Seconds that pass only when every task waits: each sleeper wakes in turn, at its time."""

    def __init__(self, *, late_at: float | None = None, late_by: float = 0.0) -> None:
        self.t = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0
        self._late = (late_at, late_by)  # the first sleeper due after late_at wakes late

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        when = self.t + seconds
        late_at, late_by = self._late
        if late_at is not None and when >= late_at:
            when += late_by  # as a busy event loop wakes a task
            self._late = (None, 0.0)
        heapq.heappush(self._sleepers, (when, self._seq, future))
        self._seq += 1
        await future

    async def run(self, *coros: Awaitable[Any]) -> None:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while not all(task.done() for task in tasks):
            for _ in range(10):  # let every task run up to its next sleep
                await asyncio.sleep(0)
            if self._sleepers:
                when, _, future = heapq.heappop(self._sleepers)
                self.t = max(self.t, when)
                future.set_result(None)
        for task in tasks:
            task.result()


def flood_limited(time: VirtualTime) -> FakeTelegram:
    fake = FakeTelegram(now=time.now)
    fake.flood_limits(per_second_overall=30, per_minute_per_group=20, per_second_per_chat=1)
    return fake


async def send_through(
    pacer: Pacer, fake: FakeTelegram, chat: int, *, bulk_send: bool, log: list[Any]
) -> None:
    """One sendMessage through the pacer, as ExtBot makes it; the fake's answer is logged."""

    async def request() -> bool:
        status, _ = fake.handle("sendMessage", {"chat_id": chat, "text": "x"})
        log.append((chat, status, fake._now()))
        return True

    with bulk() if bulk_send else nullcontext():
        await pacer.process_request(request, (), {}, "sendMessage", {"chat_id": chat}, None)


async def test_a_fan_out_through_the_pacer_meets_no_flood_limit() -> None:
    time = VirtualTime()
    fake = flood_limited(time)
    group = fake.group(-1001, "委员会", add_bot=True).id
    users = [fake.user(7000 + i, f"成员{i}").id for i in range(150)]
    for user in users:
        fake.users[user].started = True
    pacer = Pacer(now=time.now, sleep=time.sleep)
    log: list[tuple[int, int, float]] = []

    async def chat_stream(chat: int, count: int) -> None:  # as the courier: one at a time
        for _ in range(count):
            await send_through(pacer, fake, chat, bulk_send=True, log=log)

    await time.run(
        *(chat_stream(user, 1) for user in users[1:]),
        chat_stream(users[0], 30),  # one member gets 30 notices
        chat_stream(group, 25),  # the group gets 25 posts
    )
    assert len(log) == 149 + 30 + 25
    assert [(c, s, at) for c, s, at in log if s != 200] == []  # no 429 at all
    times = sorted(at for _, _, at in log)
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1 / 30  # no burst
    one = [at for chat, _, at in log if chat == users[0]]
    assert min(b - a for a, b in itertools.pairwise(one)) >= 1.0
    posts = [at for chat, _, at in log if chat == group]
    assert posts[20] - posts[0] >= 60  # 20 a minute
    # And no slower than that: the distinct chats are done at about 29 a second.
    assert max(at for chat, _, at in log if chat not in (group, users[0])) <= 6.5


async def test_a_request_that_left_late_does_not_bunch_with_the_next_ones() -> None:
    time = VirtualTime(late_at=0.5, late_by=0.06)
    fake = flood_limited(time)
    users = [fake.user(7000 + i, f"成员{i}").id for i in range(90)]
    for user in users:
        fake.users[user].started = True
    pacer = Pacer(now=time.now, sleep=time.sleep)
    log: list[tuple[int, int, float]] = []
    await time.run(*(send_through(pacer, fake, u, bulk_send=True, log=log) for u in users))
    assert [(c, s, at) for c, s, at in log if s != 200] == []
    times = sorted(at for _, _, at in log)
    assert max(sum(1 for t in times if a <= t < a + 1) for a in times) <= 29


async def test_replies_to_a_user_are_paced_overall_but_not_spaced_in_their_chat() -> None:
    time = VirtualTime()
    fake = flood_limited(time)
    fake.disable_flood_limits()
    user = fake.user(7001, "成员").id
    fake.users[user].started = True
    pacer = Pacer(now=time.now, sleep=time.sleep)
    log: list[tuple[int, int, float]] = []

    async def replies() -> None:
        for _ in range(3):
            await send_through(pacer, fake, user, bulk_send=False, log=log)

    await time.run(replies())
    assert [at for _, _, at in log] == [0.0, pacer.interval, 2 * pacer.interval]
    assert pacer.interval < 0.05


async def test_a_429_holds_that_chat_for_as_long_as_telegram_says() -> None:
    time = VirtualTime()
    pacer = Pacer(now=time.now, sleep=time.sleep)
    at: dict[int, list[float]] = {1: [], 2: []}

    async def send(chat: int, fail: bool = False) -> None:
        async def request() -> bool:
            at[chat].append(time.now())
            if fail:
                raise RetryAfter(5)
            return True

        with suppress(RetryAfter):
            await pacer.process_request(request, (), {}, "sendMessage", {"chat_id": chat}, None)

    async def first_refused() -> None:
        await send(1, fail=True)
        await send(1)

    async def other_chat() -> None:
        await time.sleep(0.5)
        await send(2)

    await time.run(first_refused(), other_chat())
    assert at[1][1] - at[1][0] >= 5  # held as told
    assert at[2] == [0.5]  # the other chat was not
