"""The realistic mix: the real Application against a bare echo bot on the same fake Bot API.

Members are seeded through the domain service (invites redeemed), a few hundred matters are
submitted and their notifications delivered; then many users act at once, round-robin: every
round gives each user their next step (decided from what the bot showed them last), and the
round's updates go through ``Application.process_update`` one by one, as polling with
``concurrent_updates(False)`` would deliver them. Each update is timed from its raw JSON
(``Update.de_json`` + ``process_update``). The echo bot gets the same sequence of texts and
button presses from the same users.
"""

from __future__ import annotations

import asyncio
import cProfile
import logging
import random
import re
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bench.common import (
    ADMIN_ID,
    GROUP_ID,
    JSON,
    SHANGHAI,
    TOKEN,
    Row,
    committee,
    ms,
    percentile,
)
from bot.app import build_application
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain import rules
from bot.domain.committee import OrgKind
from bot.domain.models import Role
from bot.heap import freeze_after_start
from bot.storage import schema as t
from handlers.runtime import Runtime
from tests.fakes.request import FakeRequest
from tests.fakes.telegram import FakeTelegram, FakeUser

logger = logging.getLogger(__name__)

NUMBER_RE = re.compile(r"(?:研判|协调)〔\d{4}〕\d+号")
PLACES = ("池北区", "池西区", "池南区", "二道白河镇", "长白山保护区", "漫江镇", "松江河镇")
TOPICS = (
    "集体土地征收补偿",
    "违法建筑拆除",
    "环境行政处罚",
    "工伤认定",
    "营业执照吊销",
    "林地占用审批",
    "房屋征收安置",
    "政府信息公开",
)
REASONS = (
    "材料不全，请补充征收决定书及送达回证后重新报送。",
    "不属于本院管辖，请改送池北行政争议协调化解中心。",
    "申请人已另行起诉，本事项不宜再行协调。",
)


# ---------------------------------------------------------------------------- bot's view


def shown(data: str) -> str:
    """Button data as scripts match it: a form step's ``f:<token>:<op>[:<arg>]`` without its
    token (``f:<op>[:<arg>]``), so a prefix names the step whichever conversation shows it; the
    data pressed is still the button's own, token included."""
    if not data.startswith("f:"):
        return data
    _, _, rest = data.partition(":")
    _, _, step = rest.partition(":")
    return f"f:{step}"


class ChatView:
    """What each chat shows now (keyboards, case numbers), kept up to date incrementally from
    the fake's call log, so scripts can decide their next step cheaply. Buttons are looked up
    by a prefix of their data (form steps' data without the token, see ``shown``)."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self._cursor = 0
        self.keyboards: dict[int, dict[int, list[str]]] = defaultdict(dict)
        self.numbers: dict[int, list[str]] = defaultdict(list)
        self.rejected: Counter[str] = Counter()

    def refresh(self, *, clear: bool = False) -> None:
        """Read the calls made since the last refresh; ``clear`` then empties the fake's call
        log, so the benchmark process does not grow a heap the bot would not have."""
        calls = self.fake.calls[self._cursor :]
        self._cursor += len(calls)
        if clear:
            self.fake.clear_log()
            self._cursor = 0
        for call in calls:
            method = call.method.lower()
            if not call.ok:
                if method != "getupdates":
                    self.rejected[f"{call.method}: {call.response.get('description')}"] += 1
                continue
            result = call.response.get("result")
            if method == "deletemessage":
                chat_id, message_id = int(call.params["chat_id"]), int(call.params["message_id"])
                self.keyboards[chat_id].pop(message_id, None)
            elif isinstance(result, dict) and "message_id" in result:
                self._store(result)

    def _store(self, message: JSON) -> None:
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        datas = [b["callback_data"] for row in rows for b in row if b.get("callback_data")]
        if datas:
            self.keyboards[chat_id][message_id] = datas
        else:
            self.keyboards[chat_id].pop(message_id, None)
        text = message.get("text") or ""
        for number in NUMBER_RE.findall(text):
            if number not in self.numbers[chat_id][-20:]:
                self.numbers[chat_id].append(number)

    def _newest(self, chat_id: int, *, form: bool) -> int | None:
        """The newest message with buttons; with ``form``, the newest with a form step's
        buttons (the question a form conversation waits on, even if a notice with buttons,
        e.g. a returned matter's, arrived in the chat since)."""
        keyboards = self.keyboards[chat_id]
        if not form:
            return max(keyboards, default=None)
        for message_id in sorted(keyboards, reverse=True):
            if any(data.startswith("f:") for data in keyboards[message_id]):
                return message_id
        return None

    def latest(self, chat_id: int, prefix: str, *, form: bool = False) -> tuple[int, str] | None:
        """A button starting with ``prefix`` on the newest message with buttons."""
        message_id = self._newest(chat_id, form=form)
        if message_id is None:
            return None
        for data in self.keyboards[chat_id][message_id]:
            if shown(data).startswith(prefix):
                return message_id, data
        return None

    def options(self, chat_id: int, prefix: str, *, form: bool = False) -> list[tuple[int, str]]:
        message_id = self._newest(chat_id, form=form)
        if message_id is None:
            return []
        datas = self.keyboards[chat_id][message_id]
        return [(message_id, d) for d in datas if shown(d).startswith(prefix)]

    def newest_with(self, chat_id: int, prefix: str) -> tuple[int, str] | None:
        """The newest message anywhere in the chat with such a button (a notification)."""
        keyboards = self.keyboards[chat_id]
        for message_id in sorted(keyboards, reverse=True):
            for data in keyboards[message_id]:
                if shown(data).startswith(prefix):
                    return message_id, data
        return None


# ---------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Action:
    label: str  # what kind of step, for the per-step breakdown
    text: str | None = None
    message_id: int | None = None
    data: str | None = None


def say(label: str, text: str) -> Action:
    return Action(label, text=text)


def press(label: str, button: tuple[int, str]) -> Action:
    return Action(label, message_id=button[0], data=button[1])


Script = Iterator[Action]


@dataclass
class World:
    view: ChatView
    rng: random.Random
    numbers_by_org: dict[str, list[str]]
    anomalies: Counter[str] = field(default_factory=Counter)


@dataclass
class Actor:
    user: FakeUser
    org: str
    role: Role
    script: Script | None = None


def _title(rng: random.Random) -> str:
    return f"关于{rng.choice(PLACES)}{rng.choice(TOPICS)}事项的请示（{rng.randint(1, 999)}）"


def _description(rng: random.Random) -> str:
    lines = [
        f"一、基本情况：{rng.choice(PLACES)}{rng.choice(TOPICS)}涉及群众{rng.randint(3, 90)}户。",
        "二、已做工作：已组织三次协调会，听取各方意见，形成初步处理方案。",
        f"三、请求事项：请法院就{rng.choice(TOPICS)}的法律风险提出意见。",
    ]
    return "\n".join(lines)


def raise_flow(world: World, actor: Actor) -> Script:
    """/new → kind → every field → summary (sometimes an edit) → Submit; rarely cancelled."""
    rng, view, uid = world.rng, world.view, actor.user.id

    def missing(step: str) -> Script:
        world.anomalies[f"raise: no button for {step}"] += 1
        yield say("raise:/cancel", "/cancel")

    yield say("raise:/new", "/new")
    kind = "referral" if rng.random() < 0.4 else "consultation"
    button = view.latest(uid, f"f:kind:{kind}", form=True)
    if button is None:
        yield from missing("kind")
        return
    yield press("raise:kind", button)
    yield say("raise:title", _title(rng))
    if rng.random() < 0.04:
        yield say("raise:/cancel", "/cancel")
        return
    yield say("raise:description", _description(rng))
    if kind == "referral":
        yield say("raise:applicant", f"{rng.choice('张王李赵刘陈')}{rng.choice('伟芳敏静磊洋')}")
        choices = view.options(uid, "f:opt:", form=True)
        if not choices:
            yield from missing("respondent")
            return
        yield press("raise:option", rng.choice(choices))
    for step in ("addressee", "urgency"):
        choices = view.options(uid, "f:opt:", form=True)
        if not choices:
            yield from missing(step)
            return
        yield press("raise:option", rng.choice(choices))
    roll = rng.random()
    if roll < 0.2:
        button = view.latest(uid, "f:cal:", form=True)
        if button is None:
            yield from missing("calendar")
            return
        yield press("raise:calendar", button)
    if roll < 0.75:
        choices = view.options(uid, "f:date:", form=True)
        if not choices:
            yield from missing("date")
            return
        yield press("raise:date", rng.choice(choices))
    else:
        button = view.latest(uid, "f:skip", form=True)
        if button is None:
            yield from missing("skip")
            return
        yield press("raise:skip", button)
    button = view.latest(uid, "f:fdone", form=True)
    if button is None:
        yield from missing("done")
        return
    yield press("raise:done", button)
    if rng.random() < 0.1:
        button = view.latest(uid, "f:edit", form=True)
        if button is None:
            yield from missing("edit")
            return
        yield press("raise:edit", button)
        button = view.latest(uid, "f:field:title", form=True)
        if button is None:
            yield from missing("field")
            return
        yield press("raise:field", button)
        yield say("raise:title", _title(rng))
    button = view.latest(uid, "f:go", form=True)
    if button is None:
        yield from missing("submit")
        return
    yield press("raise:submit", button)
    if rng.random() < 0.05:  # a double tap on Submit: recorded once
        yield press("raise:submit", button)


def browse(world: World, actor: Actor) -> Script:
    """/my (sometimes opening a matter from it), /case <number>, /whoami."""
    rng, view, uid = world.rng, world.view, actor.user.id
    roll = rng.random()
    if roll < 0.4:
        yield say("/my", "/my")
        if rng.random() < 0.5:
            choices = view.options(uid, "c:view:") or view.options(uid, "my:")
            if choices:
                yield press("my:press", rng.choice(choices))
    elif roll < 0.8:
        known = view.numbers[uid] or world.numbers_by_org.get(actor.org) or ["研判〔2026〕1号"]
        yield say("/case", f"/case {rng.choice(known[-30:])}")
    else:
        yield say("/whoami", "/whoami")


def department_head(world: World, actor: Actor) -> Script:
    if world.rng.random() < 0.1:
        yield say("/lang", "/lang")
        choices = world.view.options(actor.user.id, "lang:")
        if choices:
            yield press("lang:press", world.rng.choice(choices))
    while True:
        if world.rng.random() < 0.6:
            yield from raise_flow(world, actor)
        else:
            yield from browse(world, actor)


def court_staff(world: World, actor: Actor) -> Script:
    rng, view, uid = world.rng, world.view, actor.user.id
    while True:
        notification = view.newest_with(uid, "v:acknowledge:")
        if notification is not None and rng.random() < 0.75:
            if rng.random() < 0.75:
                yield press("court:acknowledge", notification)
            else:
                message_id, data = notification
                yield press(
                    "court:return", (message_id, data.replace("v:acknowledge:", "v:return:"))
                )
                if view.latest(uid, "f:cancel") is not None:  # the reason's question
                    yield say("court:reason", rng.choice(REASONS))
        else:
            yield from browse(world, actor)


def office(world: World, actor: Actor) -> Script:
    while True:
        yield from browse(world, actor)


# ---------------------------------------------------------------------------- feeding


class Feeder:
    """getUpdates semantics over the fake, without the long poll."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.offset: int | None = None

    def take(self) -> list[JSON]:
        out: list[JSON] = []
        while True:
            batch = self.fake.take_updates(self.offset)
            if not batch:
                return out
            out.extend(batch)
            self.offset = batch[-1]["update_id"] + 1


def emit(fake: FakeTelegram, user: FakeUser, action: Action) -> None:
    if action.text is not None:
        fake.send_text(user, action.text)
    else:
        assert action.message_id is not None and action.data is not None
        fake.press(user, action.message_id, callback_data=action.data, chat_id=user.id)


@dataclass
class Timings:
    ns: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)  # SQL statements per update
    transactions: list[int] = field(default_factory=list)
    cpu_ns: int = 0  # process CPU time (all threads) spent handling, in total
    fake_ns: list[int] = field(default_factory=list)  # of each update, inside the fake API

    @property
    def total_s(self) -> float:
        return sum(self.ns) / 1e9

    @property
    def per_second(self) -> float:
        return len(self.ns) / self.total_s if self.ns else 0.0


class FakeClock:
    """Accumulates the time spent inside ``FakeTelegram.handle`` (the fake Bot API's own
    work: parsing HTML, storing messages), which a real bot would not spend in-process."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.ns = 0
        handle = fake.handle

        def timed(method: str, params: Any) -> tuple[int, JSON]:
            start = time.perf_counter_ns()
            try:
                return handle(method, params)
            finally:
                self.ns += time.perf_counter_ns() - start

        fake.handle = timed  # type: ignore[method-assign]


class SqlCounter:
    """Counts SQL statements (BEGIN not included) and transactions on an engine."""

    def __init__(self) -> None:
        self.statements = 0
        self.transactions = 0

    def on_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):
            self.statements += 1

    def on_begin(self, *_args: Any) -> None:
        self.transactions += 1

    def attach(self, sync_engine: Any) -> None:
        event.listen(sync_engine, "before_cursor_execute", self.on_execute)
        event.listen(sync_engine, "begin", self.on_begin)

    def detach(self, sync_engine: Any) -> None:
        event.remove(sync_engine, "before_cursor_execute", self.on_execute)
        event.remove(sync_engine, "begin", self.on_begin)


async def feed(
    app: Application[Any, Any, Any, Any, Any, Any],
    raws: list[JSON],
    timings: Timings,
    sql: SqlCounter | None = None,
    fake_clock: FakeClock | None = None,
) -> None:
    """Process updates one by one, timing each from raw JSON to handled."""
    bot = app.bot
    for raw in raws:
        statements, transactions = (sql.statements, sql.transactions) if sql else (0, 0)
        in_fake = fake_clock.ns if fake_clock else 0
        cpu = time.process_time_ns()
        start = time.perf_counter_ns()
        await app.process_update(Update.de_json(raw, bot))
        timings.ns.append(time.perf_counter_ns() - start)
        timings.cpu_ns += time.process_time_ns() - cpu
        if fake_clock is not None:
            timings.fake_ns.append(fake_clock.ns - in_fake)
        if sql is not None:
            timings.statements.append(sql.statements - statements)
            timings.transactions.append(sql.transactions - transactions)


# ---------------------------------------------------------------------------- the real bot


class ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = self.format(record)


def cast() -> list[tuple[int, str, str, Role]]:
    """~40 department heads across departments and zones, ~10 court staff across courts."""
    comm = committee()
    departments = [o.code for o in comm.orgs_of_kind(OrgKind.DEPARTMENT, OrgKind.ZONE)]
    courts = [o.code for o in comm.orgs_of_kind(OrgKind.COURT)]
    surnames = "李王张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
    people: list[tuple[int, str, str, Role]] = []
    for i in range(40):
        name = f"{surnames[i % len(surnames)]}局长{i + 1}"
        people.append((20_001 + i, name, departments[i % len(departments)], Role.DEPARTMENT_HEAD))
    for i in range(10):
        name = f"{surnames[(i * 7) % len(surnames)]}法官{i + 1}"
        people.append((30_001 + i, name, courts[i % len(courts)], Role.COURT_STAFF))
    return people


@dataclass
class MixResult:
    timings: Timings
    sequence: list[tuple[int, Action]]
    statements: int
    transactions: int
    submitted: int
    answered: int
    errors: int
    first_error: str | None
    anomalies: Counter[str]
    rejected: Counter[str]
    unanswered: int


async def run_bot(
    n_updates: int, seed: int, seeded_matters: int, profile: Path | None
) -> MixResult:
    """The real Application on a temporary SQLite file; returns timings and sanity figures."""
    rng = random.Random(seed)
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    with tempfile.TemporaryDirectory(prefix="fuyuan-bench-") as tmp:
        clock = ManualClock(datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI))
        fake = FakeTelegram()
        comm = committee()
        settings = Settings(
            token=TOKEN, database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'mix.sqlite3'}"
        )
        app = build_application(
            settings,
            comm,
            clock=clock,
            request=FakeRequest(fake),
            rate_limiter=False,
            jobs=False,
        )
        freeze_after_start(app)  # as bot.py does
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        runtime: Runtime = app.bot_data["runtime"]
        svc = runtime.svc
        try:
            # -------------------------------------------------- seeding (not measured)
            fake.group(GROUP_ID, "长白山府院联动群", add_bot=True)
            fake.user(ADMIN_ID, "办公室管理员").started = True
            admin = await svc.viewer(ADMIN_ID, "办公室管理员", None)
            actors: list[Actor] = [
                Actor(fake.user(ADMIN_ID, "办公室管理员"), "CBS-OFFICE", Role.OFFICE)
            ]
            for user_id, name, org, role in cast():
                invite = await svc.create_invite(admin, org, role)
                viewer = await svc.viewer(user_id, name, None)
                await svc.redeem_invite(invite.token, viewer, name)
                user = fake.user(user_id, name)
                user.started = True
                actors.append(Actor(user, org, role))
            heads = [a for a in actors if a.role is Role.DEPARTMENT_HEAD]
            addressees = rules.addressee_codes(comm)
            numbers_by_org: dict[str, list[str]] = defaultdict(list)
            for i in range(seeded_matters):
                head = rng.choice(heads)
                viewer = await svc.viewer(head.user.id, head.user.first_name, None)
                kind = "referral" if i % 3 == 0 else "consultation"
                values: dict[str, Any] = {
                    "title": _title(rng),
                    "description": _description(rng),
                    "addressee": rng.choice(addressees),
                    "urgency": rng.choice(("normal", "normal", "urgent", "critical")),
                    "reply_by": None,
                    "documents": [],
                }
                if kind == "referral":
                    values.update(applicant="张三", respondent=rng.choice(heads).org)
                outcome = await svc.submit(viewer, kind, values, f"seed{i:06d}")
                numbers_by_org[head.org].append(outcome.case.number)
                clock.advance(timedelta(minutes=3))
            assert runtime.courier is not None
            while await runtime.courier.flush(app.bot, limit=1000):
                pass
            view = ChatView(fake)
            view.refresh()
            feeder = Feeder(fake)
            feeder.take()  # the bot being added to the group: not part of the mix
            world = World(view, rng, numbers_by_org)
            for actor in actors:
                if actor.role is Role.DEPARTMENT_HEAD:
                    actor.script = department_head(world, actor)
                elif actor.role is Role.COURT_STAFF:
                    actor.script = court_staff(world, actor)
                else:
                    actor.script = office(world, actor)
            async with svc.db.read() as conn:
                cases_before = (
                    await conn.execute(select(func.count()).select_from(t.cases))
                ).scalar_one()
            sql = SqlCounter()
            sync_engine = svc.db.engine.sync_engine
            sql.attach(sync_engine)
            fake_clock = FakeClock(fake)

            # -------------------------------------------------- the measured mix
            timings = Timings()
            sequence: list[tuple[int, Action]] = []
            profiler = cProfile.Profile() if profile else None
            while len(timings.ns) < n_updates:
                order = list(actors)
                rng.shuffle(order)
                labels: list[str] = []
                for actor in order:
                    if len(sequence) >= n_updates:
                        break
                    assert actor.script is not None
                    action = next(actor.script)
                    emit(fake, actor.user, action)
                    sequence.append((actor.user.id, action))
                    labels.append(action.label)
                raws = feeder.take()
                assert len(raws) == len(labels), (len(raws), len(labels))
                if profiler:
                    profiler.enable()
                await feed(app, raws, timings, sql, fake_clock)
                if profiler:
                    profiler.disable()
                timings.labels.extend(labels)
                view.refresh(clear=True)
                clock.advance(timedelta(seconds=20))
            if profiler and profile:
                profiler.dump_stats(str(profile))
            # Deliveries the handlers started in the background may still be running: let
            # them finish before the counters come off the engine.
            runtime = app.bot_data["runtime"]
            while runtime._tasks:
                await asyncio.gather(*list(runtime._tasks))
            sql.detach(sync_engine)
            async with svc.db.read() as conn:
                cases_after = (
                    await conn.execute(select(func.count()).select_from(t.cases))
                ).scalar_one()
                answered = (
                    await conn.execute(
                        select(func.count())
                        .select_from(t.events)
                        .where(t.events.c.action.in_(["acknowledge", "return"]))
                    )
                ).scalar_one()
            return MixResult(
                timings=timings,
                sequence=sequence,
                statements=sql.statements,
                transactions=sql.transactions,
                submitted=cases_after - cases_before,
                answered=answered,
                errors=errors.count,
                first_error=errors.first,
                anomalies=world.anomalies,
                rejected=view.rejected,
                unanswered=len(fake.unanswered_callback_queries()),
            )
        finally:
            logging.getLogger().removeHandler(errors)
            await app.shutdown()
            assert app.post_shutdown is not None
            await app.post_shutdown(app)


# ---------------------------------------------------------------------------- the echo bot


async def _echo(update: Update, _context: Any) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    await message.reply_text(message.text)


async def _answer(update: Update, _context: Any) -> None:
    assert update.callback_query is not None
    await update.callback_query.answer()


async def run_echo(sequence: list[tuple[int, Action]]) -> Timings:
    """A bare python-telegram-bot echo bot fed the same texts and presses from the same users."""
    fake = FakeTelegram()
    request = FakeRequest(fake)
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(request)
        .get_updates_request(request)
        .context_types(ContextTypes())
        .job_queue(None)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, _echo))
    app.add_handler(CallbackQueryHandler(_answer))
    await app.initialize()
    try:
        feeder = Feeder(fake)
        fake_clock = FakeClock(fake)
        last: dict[int, int] = {}  # chat → the bot's latest message there

        def note_replies() -> None:
            for call in fake.calls:
                result = call.response.get("result")
                if isinstance(result, dict) and "message_id" in result:
                    last[result["chat"]["id"]] = result["message_id"]
            fake.clear_log()  # as for the real bot: the log is read, then dropped

        users = {uid: fake.user(uid, f"user {uid}") for uid in {uid for uid, _ in sequence}}
        for user in users.values():  # every chat has a bot message to press on
            fake.send_text(user, "你好")
        await feed(app, feeder.take(), Timings())
        note_replies()
        timings = Timings()
        batch = 50
        for start in range(0, len(sequence), batch):
            chunk = sequence[start : start + batch]
            for uid, action in chunk:
                if action.text is not None:
                    fake.send_text(users[uid], action.text)
                else:
                    fake.press(users[uid], last[uid], callback_data=action.data, chat_id=uid)
            await feed(app, feeder.take(), timings, fake_clock=fake_clock)
            timings.labels.extend(a.label for _, a in chunk)
            note_replies()
        return timings
    finally:
        await app.shutdown()


# ---------------------------------------------------------------------------- report


def breakdown(timings: Timings) -> str:
    """Per kind of step: count, p50 / p99 / max, and mean SQL statements / transactions."""
    by_label: dict[str, list[int]] = defaultdict(list)
    sql: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, (label, ns) in enumerate(zip(timings.labels, timings.ns, strict=True)):
        by_label[label].append(ns)
        if timings.statements:
            sql[label].append((timings.statements[i], timings.transactions[i]))
    lines = [f"  {'step':<20} {'n':>5} {'p50':>10} {'p99':>10} {'max':>10} {'sql/txn':>10}"]
    for label, values in sorted(by_label.items(), key=lambda kv: -percentile(kv[1], 50)):
        counts = sql.get(label)
        per = ""
        if counts:
            statements = sum(s for s, _ in counts) / len(counts)
            transactions = sum(t for _, t in counts) / len(counts)
            per = f"{statements:.1f}/{transactions:.1f}"
        lines.append(
            f"  {label:<20} {len(values):>5} {ms(percentile(values, 50)):>10} "
            f"{ms(percentile(values, 99)):>10} {ms(max(values)):>10} {per:>10}"
        )
    return "\n".join(lines)


async def measure(
    *,
    quick: bool,
    verbose: bool = False,
    profile: Path | None = None,
    echo: Callable[[str], None] = print,
) -> list[Row]:
    n = 600 if quick else 3000
    seeded = 100 if quick else 300
    bot = await run_bot(n, seed=20261125, seeded_matters=seeded, profile=profile)
    plain = await run_echo(bot.sequence)
    b, e = bot.timings, plain
    ratio = b.per_second / e.per_second if e.per_second else 0.0
    p99 = percentile(b.ns, 99)
    own = [total - fake for total, fake in zip(b.ns, b.fake_ns, strict=True)]
    presses = sum(1 for _, a in bot.sequence if a.data is not None)
    if verbose:
        echo("mix: per-step times of the real bot\n" + breakdown(b))
        echo("echo bot per-step\n" + breakdown(e))
        if bot.anomalies:
            echo(f"mix anomalies: {dict(bot.anomalies)}")
        if bot.rejected:
            echo(f"Bot API calls rejected: {dict(bot.rejected)}")
        if bot.first_error:
            echo(f"first error logged: {bot.first_error}")
    sane = bot.errors == 0 and bot.unanswered == 0 and not bot.anomalies
    return [
        Row(
            f"mix: updates handled ({presses} presses, {len(b.ns) - presses} messages, "
            f"{len({u for u, _ in bot.sequence})} users, {seeded} matters seeded)",
            f"{len(b.ns)}",
        ),
        Row(
            "mix: sanity (handler errors / unanswered presses / script anomalies)",
            f"{bot.errors} / {bot.unanswered} / {sum(bot.anomalies.values())}",
            "0 / 0 / 0",
            sane,
        ),
        Row(
            "mix: matters submitted / court answers during the run",
            f"{bot.submitted} / {bot.answered}",
        ),
        Row(
            "mix: SQL statements (besides BEGIN) / transactions per update, mean",
            f"{bot.statements / len(b.ns):.1f} / {bot.transactions / len(b.ns):.1f}",
        ),
        Row(
            "mix: real bot throughput (CPU per update, all threads)",
            f"{b.per_second:.0f} updates/s ({ms(b.cpu_ns / len(b.ns))})",
        ),
        Row(
            "mix: real bot time per update p50 / p99 / max",
            f"{ms(percentile(b.ns, 50))} / {ms(p99)} / {ms(max(b.ns))}",
        ),
        Row("mix: p99 time per update", ms(p99), "<= 20 ms", p99 <= 20e6),
        Row(
            "mix: of that, inside the fake Bot API: share of all time / p99 without it",
            f"{sum(b.fake_ns) / sum(b.ns):.0%} / {ms(percentile(own, 99))}",
        ),
        Row(
            "echo bot throughput, same updates (CPU per update)",
            f"{e.per_second:.0f} updates/s ({ms(e.cpu_ns / len(e.ns))})",
        ),
        Row(
            "echo bot time per update p50 / p99 / max",
            f"{ms(percentile(e.ns, 50))} / {ms(percentile(e.ns, 99))} / {ms(max(e.ns))}",
        ),
        Row(
            "echo bot: share of its time inside the fake Bot API",
            f"{sum(e.fake_ns) / sum(e.ns):.0%}",
        ),
        Row("mix: throughput ratio real bot / echo bot", f"{ratio:.1%}", ">= 50 %", ratio >= 0.5),
    ]
