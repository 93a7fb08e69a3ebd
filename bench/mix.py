"""The realistic mix: the real Application against a bare echo bot on the same fake Bot API.

The database is seeded in bulk (``bench.seed``: 100,000 matters by default, members as of two
years ago); the bot then runs as it does in production, its rate limiter and job queue
included, as if it had been running for a while (this week's alerts delivered, two joint
meetings posted to the group). People act in rounds of a few: department heads raise matters
(with documents and photos), browse /my and /case, answer meetings' invitations in the group
and reply there; court staff acknowledge or return what reaches them; the office makes invite
links, which new members open, and looks at /meetings. Each step is decided from what the bot
showed that person last. A round's updates arrive 50 ms apart and go through the
application's own update processor, so they overlap as they would in production once a round
trip to the Bot API is simulated (``--rtt``); between rounds the bot idles long enough for its
messages to stay within Telegram's limits, while its job queue and deliveries run.

The echo bot gets the same sequence of texts, files and presses from the same users, with the
real bot's rate limiter, job queue and update processor: only the handlers differ. Throughput
is compared per second of CPU (what each could handle at most; the messages a bot may send are
capped by Telegram either way), at 0 ms and at the simulated round trip.

The floor bot, at 0 ms, gets the same sequence too and makes, for each update, exactly the Bot
API calls the real bot made for it, and nothing else: what any bot sending what this one sends
costs per update on this stack (python-telegram-bot, its rate limiter, the fake Bot API). The
real bot's time above it is its own: the database, the templates, its conversations.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import logging
import random
import re
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event, func, select, update
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import RequestData

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
from bench.seed import Person, cached, cast
from bot.app import build_application
from bot.clock import ManualClock
from bot.config import Settings
from bot.domain.models import Role
from bot.heap import freeze_after_start
from bot.storage import schema as t
from handlers.admin import INVITE
from handlers.buttons import MEETING
from handlers.common import INVITE_PREFIX
from handlers.ordering import PerSenderProcessor
from handlers.runtime import Runtime
from tests.fakes.request import FakeRequest
from tests.fakes.telegram import FakeTelegram, FakeUser

logger = logging.getLogger(__name__)

START = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)  # the mix's first moment

NUMBER_RE = re.compile(r"(?:研判|协调)〔\d{4}〕\d+号")
LINK_RE = re.compile(r"\?start=" + re.escape(INVITE_PREFIX) + r"([A-Za-z0-9_-]+)")
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


KEEP = 40  # messages per chat the memory run's harness keeps


class ChatView:
    """What each chat shows now (keyboards, case numbers), kept up to date incrementally from
    the fake's call log, so scripts can decide their next step cheaply. Buttons are looked up
    by a prefix of their data (form steps' data without the token, see ``shown``)."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self._cursor = 0
        self.keyboards: dict[int, dict[int, list[str]]] = defaultdict(dict)
        self.numbers: dict[int, list[str]] = defaultdict(list)
        self.links: dict[int, str] = {}  # chat → the token of the latest invite link shown
        self.rejected: Counter[str] = Counter()

    def refresh(self, *, clear: bool = False) -> int:
        """Read the calls made since the last refresh; ``clear`` then empties the fake's call
        log, so the benchmark process does not grow a heap the bot would not have. Returns
        how many of them went to a chat (what Telegram's limits count)."""
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
        return sum(1 for call in calls if "chat_id" in call.params)

    def _store(self, message: JSON) -> None:
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        datas = [b["callback_data"] for row in rows for b in row if b.get("callback_data")]
        if datas:
            self.keyboards[chat_id][message_id] = datas
        else:
            self.keyboards[chat_id].pop(message_id, None)
        text = message.get("text") or ""
        link = LINK_RE.search(text)
        if link:
            self.links[chat_id] = link.group(1)
        for number in NUMBER_RE.findall(text):
            if number not in self.numbers[chat_id][-20:]:
                self.numbers[chat_id].append(number)

    def forget(self, fake: FakeTelegram, keep: int = KEEP) -> None:
        """Drop all but each chat's ``keep`` newest messages with buttons here, and in the fake
        Bot API all but the newest and those (a long run's harness would otherwise outgrow
        the bot it measures)."""
        for keyboards in self.keyboards.values():
            for message_id in sorted(keyboards)[:-keep]:
                del keyboards[message_id]
        for numbers in self.numbers.values():
            del numbers[:-keep]
        with fake.lock:
            for chat_id, messages in fake._messages.items():
                if len(messages) > keep:
                    pressable = self.keyboards.get(chat_id, {})
                    for message_id in sorted(messages)[:-keep]:
                        if message_id not in pressable:
                            del messages[message_id]
            answered = [k for k, q in fake._queries.items() if q["answered"]]
            for query_id in answered:
                del fake._queries[query_id]

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
    file: str | None = None  # a document's name, or "photo"
    chat: int | None = None  # the group, or (None) the sender's private chat
    user: tuple[int, str] | None = None  # someone else acting (a new member joining)
    reply_to: int | None = None  # a message of the bot's this one answers


def say(label: str, text: str, *, chat: int | None = None) -> Action:
    return Action(label, text=text, chat=chat)


def press(label: str, button: tuple[int, str], *, chat: int | None = None) -> Action:
    return Action(label, message_id=button[0], data=button[1], chat=chat)


def upload(label: str, file: str) -> Action:
    return Action(label, file=file)


Script = Iterator[Action]


@dataclass
class World:
    view: ChatView
    rng: random.Random
    numbers_by_org: dict[str, list[str]]
    anomalies: Counter[str] = field(default_factory=Counter)
    next_user_id: int = 50_001  # people invited during the mix
    group_share: float = 0.15  # of a department head's turns, those in the group


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
    if view.latest(uid, "f:fdone", form=True) is not None and rng.random() < 0.3:
        # The documents step: a file or a photo or two before Done.
        for _ in range(rng.randint(1, 2)):
            if rng.random() < 0.7:
                yield upload("raise:file", f"{rng.choice(TOPICS)}材料.pdf")
            else:
                yield upload("raise:photo", "photo")
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
    """/my (sometimes opening a matter from it), /case <number>, /meetings (everyone is
    invited to some), /whoami."""
    rng, view, uid = world.rng, world.view, actor.user.id
    roll = rng.random()
    if roll < 0.4:
        yield say("/my", "/my")
        if rng.random() < 0.5:
            choices = view.options(uid, "c:view:") or view.options(uid, "my:")
            if choices:
                yield press("my:press", rng.choice(choices))
    elif roll < 0.75:
        known = view.numbers[uid] or world.numbers_by_org.get(actor.org) or ["研判〔2026〕1号"]
        yield say("/case", f"/case {rng.choice(known[-30:])}")
    elif roll < 0.85:
        yield say("/meetings", "/meetings")
    else:
        yield say("/whoami", "/whoami")


CHATTER = ("收到", "好的，我局按时参会。", "请各单位注意查收。", "已转相关科室办理。", "谢谢！")


def group_traffic(world: World, actor: Actor) -> Script:
    """The committee group: members answer a meeting's invitation on its post (an RSVP), or
    reply to it in words (with privacy mode on, the bot sees replies to its own messages and
    commands, not the rest of the group's talk), or ask for help there."""
    rng = world.rng
    post = world.view.newest_with(GROUP_ID, f"{MEETING}:rsvp:")
    roll = rng.random()
    if post is not None and roll < 0.6:
        message_id, data = post
        answer = rng.choice(("a", "a", "d", "x"))
        yield press("group:rsvp", (message_id, data[:-1] + answer), chat=GROUP_ID)
    elif post is not None and roll < 0.9:
        yield Action("group:reply", text=rng.choice(CHATTER), chat=GROUP_ID, reply_to=post[0])
    else:
        yield say("group:/help", "/help", chat=GROUP_ID)


def department_head(world: World, actor: Actor) -> Script:
    if world.rng.random() < 0.1:
        yield say("/lang", "/lang")
        choices = world.view.options(actor.user.id, "lang:")
        if choices:
            yield press("lang:press", world.rng.choice(choices))
    while True:
        roll = world.rng.random()
        if roll < 0.5:
            yield from raise_flow(world, actor)
        elif roll < 0.5 + world.group_share:
            yield from group_traffic(world, actor)
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


def invite(world: World, actor: Actor) -> Script:
    """/invite → an organisation → a role; the link's new member opens it (/start)."""
    rng, view, uid = world.rng, world.view, actor.user.id
    yield say("invite:/invite", "/invite")
    choices = view.options(uid, f"{INVITE}:org:")
    if not choices:
        world.anomalies["invite: no organisation buttons"] += 1
        return
    yield press("invite:org", rng.choice(choices))
    choices = view.options(uid, f"{INVITE}:mk:")
    if not choices:
        world.anomalies["invite: no role buttons"] += 1
        return
    yield press("invite:role", rng.choice(choices))
    token = view.links.get(uid)
    if token is None:
        world.anomalies["invite: no link"] += 1
        return
    joiner = (world.next_user_id, f"新成员{world.next_user_id - 50_000}")
    world.next_user_id += 1
    yield Action("invite:join", text=f"/start {INVITE_PREFIX}{token}", user=joiner)


def office(world: World, actor: Actor) -> Script:
    while True:
        roll = world.rng.random()
        if roll < 0.25:
            yield from invite(world, actor)
        elif roll < 0.35:
            yield say("/meetings", "/meetings")
        else:
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
    if action.user is not None:
        user = fake.user(*action.user)
        user.started = True
    if action.text is not None:
        fake.send_text(user, action.text, chat=action.chat, reply_to=action.reply_to)
    elif action.file == "photo":
        fake.send_photo(user, chat=action.chat)
    elif action.file is not None:
        fake.send_document(user, action.file, file_size=240_000, chat=action.chat)
    else:
        assert action.message_id is not None and action.data is not None
        chat_id = action.chat if action.chat is not None else user.id
        fake.press(user, action.message_id, callback_data=action.data, chat_id=chat_id)


# Per update, what it cost besides time: [SQL statements, transactions, hops into the
# database thread, ns waiting in the rate limiter, 1 while it is being handled, ns inside the
# fake Bot API while it is being handled]. Set by
# ``feed`` in each update's task; the counters below add to it from wherever that update's
# work runs (waits only while it is handled: a delivery it started may wait after it ended,
# and that wait is no part of its time).
ACCOUNT: ContextVar[list[int] | None] = ContextVar("bench_account", default=None)
# The Bot API calls an update made while it was handled, in order: (method, the request as
# python-telegram-bot built it). Set by ``_one`` beside ``ACCOUNT``; noted by ``RttRequest``
# with ``record`` (every paced run), and turned into the parameters as sent (``Timings.calls``)
# only once the round is measured, for the floor bot (``run_echo`` given the real bot's calls)
# to make again.
CALLS: ContextVar[list[tuple[str, RequestData]] | None] = ContextVar("bench_calls", default=None)


def _as_sent(api: str, data: RequestData) -> tuple[str, dict[str, str]]:
    """A noted call's parameters as they went on the wire (an upload as ``{"": "file"}``:
    the floor bot does not make it again)."""
    if data.multipart_data:
        return api, {"": "file"}
    return api, {k: str(v) for k, v in data.json_parameters.items()}


@dataclass
class Timings:
    ns: list[int] = field(default_factory=list)  # each update, from raw JSON to handled
    labels: list[str] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    transactions: list[int] = field(default_factory=list)
    hops: list[int] = field(default_factory=list)
    waits_ns: list[int] = field(default_factory=list)  # of ns, waiting in the rate limiter
    fakes_ns: list[int] = field(default_factory=list)  # of ns, inside the fake Bot API
    # each update's own Bot API calls (method, parameters), where the request recorded them
    calls: list[list[tuple[str, dict[str, str]]]] = field(default_factory=list)
    wall_ns: int = 0  # rounds of updates handled side by side, in total (idle time not)
    cpu_ns: int = 0  # process CPU time (all threads) spent handling, in total
    fake_ns: int = 0  # of wall_ns, inside the fake Bot API
    fake_cpu_ns: int = 0  # of cpu_ns, the fake Bot API's own work (Telegram's, not the bot's)
    rounds: list[int] = field(default_factory=list)  # updates in each round

    @property
    def cpu_per_second(self) -> float:
        """Updates per second of CPU: what the process could handle with no waiting at all."""
        return len(self.ns) / (self.cpu_ns / 1e9) if self.cpu_ns else 0.0

    @property
    def own_cpu_ns(self) -> int:
        """CPU time spent by the bot itself: the process's, less the fake Bot API's own work
        (parsing and storing what the bot sent), which Telegram's servers do in production."""
        return self.cpu_ns - self.fake_cpu_ns

    @property
    def own_cpu_per_second(self) -> float:
        """Updates per second of the bot's own CPU (``own_cpu_ns``)."""
        return len(self.ns) / (self.own_cpu_ns / 1e9) if self.own_cpu_ns > 0 else 0.0

    @property
    def own_ns(self) -> list[int]:
        """Each update's time without its waits for Telegram's rate limits."""
        return [total - wait for total, wait in zip(self.ns, self.waits_ns, strict=True)]

    @property
    def bot_ns(self) -> list[int]:
        """Each update's time without its rate-limit waits and without the fake Bot API's own
        work done for it (Telegram's servers do that work in production)."""
        return [own - fake for own, fake in zip(self.own_ns, self.fakes_ns, strict=True)]


class FakeClock:
    """Accumulates the time spent inside ``FakeTelegram.handle`` (the fake Bot API's own
    work: parsing HTML, storing messages), which a real bot would not spend in-process: in wall
    time, and in CPU time of the thread that calls it (the fake answers synchronously, so that
    is exactly its own work)."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.ns = 0
        self.cpu_ns = 0
        handle = fake.handle

        def timed(method: str, params: Any) -> tuple[int, JSON]:
            start = time.perf_counter_ns()
            cpu = time.thread_time_ns()
            try:
                return handle(method, params)
            finally:
                self.cpu_ns += time.thread_time_ns() - cpu
                spent = time.perf_counter_ns() - start
                self.ns += spent
                account = ACCOUNT.get()
                if account is not None and account[4]:
                    account[5] += spent  # the fake answers synchronously: this update's call

        fake.handle = timed  # type: ignore[method-assign]


class RttRequest(FakeRequest):
    """The fake Bot API a round trip away: every call but getUpdates waits ``rtt`` seconds
    (as the network would) before the fake answers. With ``record``, each call an update
    makes while it is handled is noted in that update's ``CALLS`` (its method and request;
    nothing more is done with it while the update is timed)."""

    def __init__(self, fake: FakeTelegram, rtt: float, *, record: bool = False) -> None:
        super().__init__(fake)
        self.rtt = rtt
        self.record = record

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.rtt > 0 and not url.rstrip("/").lower().endswith("getupdates"):
            await asyncio.sleep(self.rtt)
        if self.record:
            calls, account = CALLS.get(), ACCOUNT.get()
            data = args[0] if args else kwargs.get("request_data")
            if calls is not None and account is not None and account[4] and data is not None:
                calls.append((url.rstrip("/").rsplit("/", 1)[-1], data))
        return await super().do_request(url, method, *args, **kwargs)


WRITE_OPTION = "fuyuan_write"  # the execution option of Database's write transactions


class SqlCounter:
    """Counts SQL statements (BEGIN not included), transactions (and of them, write
    transactions) and hops into aiosqlite's
    thread (every call the driver hands to its thread), in total and per update."""

    def __init__(self) -> None:
        self.statements = 0
        self.transactions = 0
        self.writes = 0  # of the transactions, those that may write (BEGIN IMMEDIATE)
        self.hops = 0
        self._execute: Any = None

    def on_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):
            self.statements += 1
            account = ACCOUNT.get()
            if account is not None:
                account[0] += 1

    def on_begin(self, conn: Any) -> None:
        self.transactions += 1
        if conn.get_execution_options().get(WRITE_OPTION):
            self.writes += 1
        account = ACCOUNT.get()
        if account is not None:
            account[1] += 1

    def attach(self, sync_engine: Any) -> None:
        event.listen(sync_engine, "before_cursor_execute", self.on_execute)
        event.listen(sync_engine, "begin", self.on_begin)
        execute = self._execute = aiosqlite.Connection._execute
        counter = self

        async def counted(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            counter.hops += 1
            account = ACCOUNT.get()
            if account is not None:
                account[2] += 1
            return await execute(conn, fn, *args, **kwargs)

        aiosqlite.Connection._execute = counted  # type: ignore[method-assign]

    def detach(self, sync_engine: Any) -> None:
        if self._execute is None:
            return  # never attached
        event.remove(sync_engine, "before_cursor_execute", self.on_execute)
        event.remove(sync_engine, "begin", self.on_begin)
        if self._execute is not None:
            aiosqlite.Connection._execute = self._execute  # type: ignore[method-assign]


def count_limiter_waits(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Time each request spends in the bot's rate limiter before it is sent, per update.

    The limiter's class is swapped for a subclass that times its ``process_request`` (the
    instance keeps its state; rate limiters may use ``__slots__``)."""
    limiter = app.bot.rate_limiter
    if limiter is None:
        return
    base = type(limiter)

    async def process_request(self: Any, *, callback: Any, **kwargs: Any) -> Any:
        entered = time.perf_counter_ns()
        sent: list[int] = []

        async def timed(*args: Any, **kw: Any) -> Any:
            if not sent:
                sent.append(time.perf_counter_ns())
            return await callback(*args, **kw)

        try:
            return await base.process_request(self, callback=timed, **kwargs)
        finally:
            account = ACCOUNT.get()
            if account is not None and sent and account[4]:
                account[3] += sent[0] - entered

    timed_class = type(
        f"Timed{base.__name__}", (base,), {"__slots__": (), "process_request": process_request}
    )
    limiter.__class__ = timed_class


async def _one(
    app: Application[Any, Any, Any, Any, Any, Any], raw: JSON, delay: float
) -> tuple[int, list[int], list[tuple[str, RequestData]]]:
    if delay > 0:
        await asyncio.sleep(delay)  # when it arrives
    account = [0, 0, 0, 0, 1, 0]
    ACCOUNT.set(account)  # this task's (and what it starts) only
    calls: list[tuple[str, RequestData]] = []
    CALLS.set(calls)
    start = time.perf_counter_ns()
    update = Update.de_json(raw, app.bot)
    try:
        await app.update_processor.process_update(update, app.process_update(update))
    finally:
        account[4] = 0
    return time.perf_counter_ns() - start, account, calls


async def feed(
    app: Application[Any, Any, Any, Any, Any, Any],
    raws: list[JSON],
    timings: Timings,
    fake_clock: FakeClock | None = None,
    gap: float | None = None,
) -> None:
    """Handle a round of updates as polling would hand them over, one arriving every
    ``gap`` seconds (``ARRIVAL_GAP``): through the application's own update processor, side by side
    when one is still being handled as the next arrives (at a round trip of 50 ms, most)."""
    gap = ARRIVAL_GAP if gap is None else gap
    in_fake = fake_clock.ns if fake_clock else 0
    fake_cpu = fake_clock.cpu_ns if fake_clock else 0
    cpu = time.process_time_ns()
    start = time.perf_counter_ns()
    results = await asyncio.gather(*(_one(app, raw, i * gap) for i, raw in enumerate(raws)))
    timings.wall_ns += time.perf_counter_ns() - start
    timings.cpu_ns += time.process_time_ns() - cpu
    if fake_clock is not None:
        timings.fake_ns += fake_clock.ns - in_fake
        timings.fake_cpu_ns += fake_clock.cpu_ns - fake_cpu
    for ns, (statements, transactions, hops, waited, _, in_fake), calls in results:
        timings.calls.append([_as_sent(api, data) for api, data in calls])
        timings.ns.append(ns)
        timings.statements.append(statements)
        timings.transactions.append(transactions)
        timings.hops.append(hops)
        timings.waits_ns.append(waited)
        timings.fakes_ns.append(in_fake)


# ---------------------------------------------------------------------------- the real bot


def rss_mib() -> float:
    """This process's resident memory now (``VmRSS``), in MiB; NaN where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = self.format(record)


@dataclass
class MixResult:
    timings: Timings
    sequence: list[tuple[int, Action]]
    statements: int
    transactions: int
    writes: int
    hops: int
    submitted: int
    answered: int
    joined: int
    errors: int
    first_error: str | None
    anomalies: Counter[str]
    rejected: Counter[str]
    unanswered: int
    rss_start_mib: float = 0.0  # the process's resident memory before the first update
    rss_end_mib: float = 0.0  # and after the last one was handled


# The mix goes in rounds: a few people act at once, then the bot idles (deliveries, the job
# queue and checkpoints run meanwhile) long enough for what it sent to stay within
# Telegram's limits, as real traffic does; a round-based load above them would measure the
# rate limiter's waits, not the bot.
ROUND = 8  # people acting in a round
ARRIVAL_GAP = 0.05  # seconds between two updates of a round arriving
SEND_RATE = 25.0  # messages per second the pacing keeps under (Telegram allows 30)
MIN_IDLE_S = 0.05


async def idle(sends: int, busy_s: float) -> None:
    await asyncio.sleep(max(MIN_IDLE_S, sends / SEND_RATE - busy_s))


async def _prepare(app: Application[Any, Any, Any, Any, Any, Any], runtime: Runtime) -> None:
    """As a bot that has been running for a while: this week's alerts and digest delivered
    long ago, two joint meetings posted to the group."""
    svc = runtime.svc
    await svc.scan_deadlines()
    await svc.ensure_digest()
    async with svc.db.write() as conn:
        await conn.execute(
            update(t.outbox).values(status="sent", sent_at=svc.clock.now(), message_id=1)
        )
    admin = await svc.viewer(ADMIN_ID, "办公室管理员", None)
    departments = sorted({org for _, _, org, role in cast() if role is Role.DEPARTMENT_HEAD})
    for days, title in ((3, "府院联动第四季度联席会议"), (8, "行政争议实质性化解推进会")):
        await svc.meetings.schedule(
            admin,
            title,
            svc.clock.now() + timedelta(days=days, hours=5),
            "长白山管委会三楼会议室",
            departments[:6],
            [],
        )
    assert runtime.courier is not None
    while await runtime.courier.flush(app.bot, limit=100):
        pass


QUICK_UPDATES = 600


def quick_cast() -> list[Person]:
    """The people acting in a quick run besides the office: fewer, so that in a few hundred
    updates each of them gets far enough to submit matters, answer them and make invites that
    are used (with all fifty, nobody would finish a form). Everyone is still a member of the
    seeded database and can be sent to."""
    people = cast()
    heads = [p for p in people if p[3] is Role.DEPARTMENT_HEAD][:10]
    staff = [p for p in people if p[3] is Role.COURT_STAFF][:5]
    return heads + staff


async def run_bot(
    n_updates: int,
    seed_value: int,
    template: Path,
    rtt: float,
    profile: Path | None,
    people: list[Person] | None = None,
    *,
    paced: bool = True,
) -> MixResult:
    """The real Application (its rate limiter and job queue included) on a copy of the seeded
    database; returns timings and sanity figures. ``people`` act (default: all of ``cast()``,
    and the office admin in either case). Not ``paced`` (the memory run): rounds follow each
    other without idling and without the rate limiter, whose waits would make a long run last
    hours; the fake Bot API and the scripts' view keep only each chat's recent messages, and
    the sequence of actions (the echo bot's script) is not kept, so that what grows is the
    bot."""
    rng = random.Random(seed_value)
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    with tempfile.TemporaryDirectory(prefix="fuyuan-bench-") as tmp:
        path = Path(tmp) / "mix.sqlite3"
        shutil.copyfile(template, path)
        clock = ManualClock(START)
        fake = FakeTelegram()
        comm = committee()
        settings = Settings(token=TOKEN, database_url=f"sqlite+aiosqlite:///{path}")
        app = build_application(
            settings,
            comm,
            clock=clock,
            request=RttRequest(fake, rtt, record=paced),
            rate_limiter=paced,
        )
        freeze_after_start(app)  # as bot.py does
        count_limiter_waits(app)
        fake.group(GROUP_ID, "长白山府院联动群", add_bot=True)
        admin_user = fake.user(ADMIN_ID, "办公室管理员")
        admin_user.started = True
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        await app.start()  # the job queue: ticks and deliveries in the idle time
        runtime: Runtime = app.bot_data["runtime"]
        svc = runtime.svc
        sql = SqlCounter()
        try:
            # -------------------------------------------------- preparing (not measured)
            actors: list[Actor] = [Actor(admin_user, "CBS-OFFICE", Role.OFFICE)]
            acting = {p[0] for p in people} if people is not None else None
            for user_id, name, org, role in cast():
                user = fake.user(user_id, name)  # everyone can be sent to
                user.started = True
                if acting is None or user_id in acting:
                    actors.append(Actor(user, org, role))
            await _prepare(app, runtime)
            numbers_by_org: dict[str, list[str]] = defaultdict(list)
            async with svc.db.read() as conn:
                recent = await conn.execute(
                    select(t.cases.c.raiser_org, t.cases.c.number)
                    .order_by(t.cases.c.id.desc())
                    .limit(2000)
                )
                for org, number in recent:
                    numbers_by_org[org].append(number)
            view = ChatView(fake)
            view.refresh()
            feeder = Feeder(fake)
            feeder.take()  # the bot being added to the group: not part of the mix
            world = World(view, rng, numbers_by_org)
            if people is not None:
                world.group_share = 0.3  # a quick run's few heads answer meetings often enough
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
            sql.attach(svc.db.engine.sync_engine)
            fake_clock = FakeClock(fake)
            rss_start = rss_mib()

            # -------------------------------------------------- the measured mix
            timings = Timings()
            # The echo bot replays the sequence; the memory run (not paced) keeps none of it.
            sequence: list[tuple[int, Action]] = []
            emitted = 0
            profiler = cProfile.Profile() if profile else None
            admin, others = actors[0], actors[1:]
            while len(timings.ns) < n_updates:
                # A quick run's office acts in every round (its invitations and /meetings
                # would come up too rarely in a few hundred updates otherwise).
                order = (
                    [admin, *rng.sample(others, ROUND - 1)]
                    if people is not None
                    else rng.sample(actors, ROUND)
                )
                labels: list[str] = []
                for actor in order:
                    if emitted >= n_updates:
                        break
                    assert actor.script is not None
                    action = next(actor.script)
                    emit(fake, actor.user, action)
                    emitted += 1
                    if paced:
                        sequence.append((actor.user.id, action))
                    labels.append(action.label)
                raws = feeder.take()
                assert len(raws) == len(labels), (len(raws), labels)
                if profiler:
                    profiler.enable()
                busy = timings.wall_ns
                await feed(app, raws, timings, fake_clock, ARRIVAL_GAP if paced else 0.0)
                if profiler:
                    profiler.disable()
                timings.labels.extend(labels)
                timings.rounds.append(len(raws))
                clock.advance(timedelta(seconds=20))
                sends = view.refresh(clear=True)
                if paced:
                    await idle(sends, (timings.wall_ns - busy) / 1e9)
                else:
                    view.forget(fake)
                    await asyncio.sleep(0)  # the job queue and deliveries get their turn
            if profiler and profile:
                profiler.dump_stats(str(profile))
            # Deliveries the handlers started in the background may still be running: let
            # them finish before the counters come off the engine.
            while runtime._tasks:
                await asyncio.gather(*list(runtime._tasks))
            rss_end = rss_mib()
            async with svc.db.read() as conn:
                cases_after = (
                    await conn.execute(select(func.count()).select_from(t.cases))
                ).scalar_one()
                answered = (
                    await conn.execute(
                        select(func.count())
                        .select_from(t.events)
                        .where(
                            t.events.c.action.in_(["acknowledge", "return"]),
                            t.events.c.at >= START,
                        )
                    )
                ).scalar_one()
                joined = (
                    await conn.execute(
                        select(func.count())
                        .select_from(t.members)
                        .where(t.members.c.user_id >= 50_001)
                    )
                ).scalar_one()
            return MixResult(
                timings=timings,
                sequence=sequence,
                statements=sql.statements,
                transactions=sql.transactions,
                writes=sql.writes,
                hops=sql.hops,
                submitted=cases_after - cases_before,
                answered=answered,
                joined=joined,
                errors=errors.count,
                first_error=errors.first,
                anomalies=world.anomalies,
                rejected=view.rejected,
                unanswered=len(fake.unanswered_callback_queries()),
                rss_start_mib=rss_start,
                rss_end_mib=rss_end,
            )
        finally:
            logging.getLogger().removeHandler(errors)
            await app.stop()  # the job queue first: a delivery may be in a transaction
            sql.detach(svc.db.engine.sync_engine)
            await app.shutdown()
            assert app.post_shutdown is not None
            await app.post_shutdown(app)


# ---------------------------------------------------------------------------- the echo bot


async def _echo(update: Update, _context: Any) -> None:
    message = update.effective_message
    assert message is not None
    await message.reply_text(message.text or "收到")


async def _answer(update: Update, _context: Any) -> None:
    assert update.callback_query is not None
    await update.callback_query.answer()


def _same_rate_limiter(rtt: float) -> Any:
    """A new rate limiter exactly as the real bot builds its own (same class, same settings),
    taken from an application built the bot's way and never started."""
    settings = Settings(token=TOKEN, database_url="sqlite+aiosqlite://")
    twin = build_application(settings, committee(), request=RttRequest(FakeTelegram(), rtt))
    return twin.bot.rate_limiter


@dataclass
class Floor:
    """What the floor bot (``run_echo`` given the real bot's calls) did: its timings, and the
    calls it could not make again as the real bot made them (by method)."""

    timings: Timings
    failed: Counter[str]
    skipped: int  # uploads, which it does not make


def _replayer(
    plan: dict[int, list[tuple[str, dict[str, str]]]], last: dict[int, int], floor: Floor
) -> Callable[[Update, Any], Any]:
    """A handler making, for each update, the Bot API calls the real bot made for it, in
    order and with the same parameters, through the same ``Bot._post`` the real bot's
    texts go through: the press answered with its own id, an edit or a deletion aimed at the
    floor bot's latest message in that chat (the one its user pressed or answered), a reply
    at the user's message. Nothing else: no database, no templates, no conversation."""

    async def replay(update: Update, context: Any) -> None:
        query, message = update.callback_query, update.effective_message
        chat = update.effective_chat
        for api, sent in plan.pop(update.update_id, []):
            if "" in sent:
                floor.skipped += 1
                continue
            data: dict[str, Any] = dict(sent)
            if "callback_query_id" in data and query is not None:
                data["callback_query_id"] = query.id
            if "message_id" in data:
                target = int(data.get("chat_id") or (chat.id if chat else 0))
                if target in last:
                    data["message_id"] = str(last[target])
            if "reply_parameters" in data and message is not None:
                data["reply_parameters"] = json.dumps({"message_id": message.message_id})
            try:
                result = await context.bot._post(api, data)
            except TelegramError:
                floor.failed[api] += 1
                continue
            if isinstance(result, dict) and "message_id" in result:
                last[result["chat"]["id"]] = result["message_id"]

    return replay


async def run_echo(
    sequence: list[tuple[int, Action]],
    rounds: list[int],
    rtt: float,
    calls: list[list[tuple[str, dict[str, str]]]] | None = None,
) -> Floor:
    """A bare python-telegram-bot echo bot fed the same texts, files and presses from the same
    users, with the real bot's rate limiter, job queue and update processor: only the
    handlers differ. It answers private messages and every press; group talk it reads.

    Given the real bot's ``calls`` for each update (``Timings.calls``), it is the floor bot
    instead: for each update it makes exactly those calls and nothing else (``_replayer``),
    what any bot sending what this one sends would cost on this stack."""
    fake = FakeTelegram()
    request = RttRequest(fake, rtt, record=True)  # as the real bot's: the same cost
    builder: Any = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(request)
        .get_updates_request(request)
        .context_types(ContextTypes())
        .concurrent_updates(PerSenderProcessor())
    )
    limiter = _same_rate_limiter(rtt)
    if limiter is not None:
        builder = builder.rate_limiter(limiter)
    app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
    floor = Floor(Timings(), Counter(), 0)
    plan: dict[int, list[tuple[str, dict[str, str]]]] = {}
    last: dict[int, int] = {}  # chat → the bot's latest message there
    if calls is None:
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE & ~filters.COMMAND, _echo))
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, _echo))
        app.add_handler(CallbackQueryHandler(_answer))
    else:
        app.add_handler(TypeHandler(Update, _replayer(plan, last, floor)))
    count_limiter_waits(app)
    fake.group(GROUP_ID, "长白山府院联动群", add_bot=True)
    await app.initialize()
    await app.start()
    try:
        feeder = Feeder(fake)
        fake_clock = FakeClock(fake)

        def note_replies() -> None:
            for call in fake.calls:
                result = call.response.get("result")
                if isinstance(result, dict) and "message_id" in result:
                    last[result["chat"]["id"]] = result["message_id"]
            fake.clear_log()  # as for the real bot: the log is read, then dropped

        uids = {uid for uid, _ in sequence} | {a.user[0] for _, a in sequence if a.user}
        users = {uid: fake.user(uid, f"user {uid}") for uid in uids}
        for user in users.values():  # every chat has a bot message to press on
            fake.send_text(user, "你好")
        feeder.take()
        for uid in users:
            await app.bot.send_message(uid, "你好")
        await app.bot.send_message(GROUP_ID, "会议通知")
        note_replies()
        await asyncio.sleep((len(users) + 1) / SEND_RATE)  # the rate limiter refills
        timings = floor.timings
        start = 0
        for size in rounds:
            chunk = sequence[start : start + size]
            start += size
            for uid, action in chunk:
                user = users[action.user[0]] if action.user else users[uid]
                if action.data is not None:
                    chat = action.chat if action.chat is not None else uid
                    fake.press(user, last[chat], callback_data=action.data, chat_id=chat)
                else:
                    reply_to = last[action.chat] if action.reply_to and action.chat else None
                    emit(fake, user, replace(action, user=None, reply_to=reply_to))
            busy = timings.wall_ns
            raws = feeder.take()
            if calls is not None:
                first = start - size
                plan.update((raw["update_id"], calls[first + i]) for i, raw in enumerate(raws))
            await feed(app, raws, timings, fake_clock)
            timings.labels.extend(a.label for _, a in chunk)
            timings.rounds.append(len(chunk))
            sends = sum(1 for call in fake.calls if "chat_id" in call.params)
            note_replies()
            await idle(sends, (timings.wall_ns - busy) / 1e9)
        return floor
    finally:
        await app.stop()
        await app.shutdown()


# ---------------------------------------------------------------------------- report


def breakdown(timings: Timings) -> str:
    """Per kind of step: count, p50 / p99 / max (rate-limit waits left out), and the mean
    SQL statements / transactions / database-thread hops, and rate-limit wait."""
    by_label: dict[str, list[int]] = defaultdict(list)
    counts: dict[str, list[tuple[int, int, int, int]]] = defaultdict(list)
    own = timings.own_ns
    for i, label in enumerate(timings.labels):
        by_label[label].append(own[i])
        counts[label].append(
            (
                timings.statements[i],
                timings.transactions[i],
                timings.hops[i],
                timings.waits_ns[i],
            )
        )
    lines = [
        f"  {'step':<20} {'n':>5} {'p50':>10} {'p99':>10} {'max':>10} "
        f"{'sql/txn/hops':>14} {'limiter':>10}"
    ]
    for label, values in sorted(by_label.items(), key=lambda kv: -percentile(kv[1], 50)):
        rows = counts[label]
        mean = [sum(r[k] for r in rows) / len(rows) for k in range(4)]
        lines.append(
            f"  {label:<20} {len(values):>5} {ms(percentile(values, 50)):>10} "
            f"{ms(percentile(values, 99)):>10} {ms(max(values)):>10} "
            f"{mean[0]:>5.1f}/{mean[1]:.1f}/{mean[2]:<4.1f} {ms(mean[3]):>10}"
        )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Pair:
    """The real bot and the echo bot on the same sequence, at one round trip."""

    rtt_ms: float
    bot: MixResult
    echo: Timings
    floor: Floor | None = None  # the real bot's calls alone (at 0 ms only)

    @property
    def ratio(self) -> float:
        """Throughput of the real bot over the echo bot's: updates per second of CPU, what
        each could handle at most. (Sends are paced under Telegram's limits, which cap any
        bot's messages at 30 a second: updates per second of wall time would measure the
        pacing.)"""
        b, e = self.bot.timings.cpu_per_second, self.echo.cpu_per_second
        return b / e if e else 0.0

    @property
    def own_ratio(self) -> float:
        """The same, of each bot's own CPU: the fake Bot API's work left out of both."""
        b, e = self.bot.timings.own_cpu_per_second, self.echo.own_cpu_per_second
        return b / e if e else 0.0


async def _pair(
    n: int, template: Path, rtt_ms: float, profile: Path | None, people: list[Person] | None
) -> Pair:
    bot = await run_bot(n, 20261125, template, rtt_ms / 1000, profile, people)
    echo = (await run_echo(bot.sequence, bot.timings.rounds, rtt_ms / 1000)).timings
    floor = None
    if rtt_ms == 0:
        floor = await run_echo(bot.sequence, bot.timings.rounds, 0.0, bot.timings.calls)
    return Pair(rtt_ms, bot, echo, floor)


def measure_all(
    *,
    quick: bool,
    verbose: bool = False,
    profile: Path | None = None,
    size: int | None = None,
    rtt_ms: float = 50.0,
    echo: Callable[[str], None] = print,
    fresh: bool = False,
) -> list[Row]:
    """The mix at 0 ms and at ``rtt_ms`` round trip, on a database of ``size`` matters."""
    n = QUICK_UPDATES if quick else 2000
    matters = size or (20_000 if quick else 100_000)
    # Seeded once per size and kept (bench.seed.cached); each run works on a copy.
    template, seeded = cached(matters, now=START, fresh=fresh)
    logger.info("%s %s", "seeded" if seeded else "reusing", template)
    people = quick_cast() if quick else None
    pairs = [asyncio.run(_pair(n, template, 0.0, profile, people))]
    if rtt_ms > 0:
        pairs.append(asyncio.run(_pair(n, template, rtt_ms, None, people)))
    return report(pairs, matters, verbose=verbose, echo=echo)


# Kinds of update the mix must exercise, by the labels of its steps, and how often at least.
EXERCISED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("submit", ("raise:submit",)),
    ("file", ("raise:file", "raise:photo")),
    ("court answer", ("court:acknowledge", "court:return")),
    ("invite", ("invite:role",)),
    ("join", ("invite:join",)),
    ("rsvp", ("group:rsvp",)),
    ("group reply", ("group:reply",)),
    ("/my", ("/my",)),
    ("/case", ("/case",)),
    ("/meetings", ("/meetings",)),
)
AT_LEAST = 3


def exercised(bot: MixResult) -> Row:
    """How often each kind of update came up, and whether matters were submitted and answered
    and invites used that many times (a run too short for its cast completes none)."""
    labels = Counter(action.label for _, action in bot.sequence)
    counts = {name: sum(labels[label] for label in group) for name, group in EXERCISED}
    done = {"submitted": bot.submitted, "answered": bot.answered, "joined": bot.joined}
    ok = all(v >= AT_LEAST for v in counts.values()) and all(v >= AT_LEAST for v in done.values())
    return Row(
        f"mix: kinds of update exercised (each at least {AT_LEAST} times)",
        ", ".join(f"{name} {count}" for name, count in counts.items()),
        f">= {AT_LEAST} each",
        ok,
        data={**counts, **done},
    )


def _p50_p99(values: list[int], prefix: str = "") -> dict[str, float]:
    """Their median and 99th percentile in ms, as the JSON names them (``p50_ms``, ...)."""
    return {f"{prefix}p{q}_ms": percentile(values, q) / 1e6 for q in (50, 99)}


def report(
    pairs: list[Pair], matters: int, *, verbose: bool, echo: Callable[[str], None]
) -> list[Row]:
    first = pairs[0]
    bot, b, e = first.bot, first.bot.timings, first.echo
    n = len(b.ns)
    presses = sum(1 for _, a in bot.sequence if a.data is not None)
    files = sum(1 for _, a in bot.sequence if a.file is not None)
    in_group = sum(1 for _, a in bot.sequence if a.chat == GROUP_ID)
    if verbose:
        for pair in pairs:
            echo(f"mix at {pair.rtt_ms:g} ms round trip: per-step times of the real bot")
            echo(breakdown(pair.bot.timings))
            echo(f"echo bot at {pair.rtt_ms:g} ms, per step\n" + breakdown(pair.echo))
            if pair.floor is not None:
                echo(
                    f"floor bot (the real bot's calls alone) at {pair.rtt_ms:g} ms, per step\n"
                    + breakdown(pair.floor.timings)
                )
                if pair.floor.failed:
                    echo(f"floor bot: calls refused {dict(pair.floor.failed)}")
        if bot.anomalies:
            echo(f"mix anomalies: {dict(bot.anomalies)}")
        if bot.rejected:
            echo(f"Bot API calls rejected: {dict(bot.rejected)}")
        if bot.first_error:
            echo(f"first error logged: {bot.first_error}")
    sane = all(p.bot.errors == 0 and p.bot.unanswered == 0 and not p.bot.anomalies for p in pairs)
    own = b.own_ns
    p50, p99 = percentile(own, 50), percentile(own, 99)
    per_txn, per_hop, per_write = bot.transactions / n, bot.hops / n, bot.writes / n
    waited_b = sum(b.waits_ns) / max(sum(b.ns), 1)
    waited_e = sum(e.waits_ns) / max(sum(e.ns), 1)
    rows = [
        Row(
            f"mix: updates handled ({presses} presses, {files} files, {in_group} in the group, "
            f"{n - presses - files} messages; {len({u for u, _ in bot.sequence})} users; "
            f"{matters} matters seeded)",
            f"{n}",
            data={
                "updates": n,
                "presses": presses,
                "files": files,
                "group": in_group,
                "matters": matters,
            },
        ),
        Row(
            "mix: sanity (handler errors / unanswered presses / script anomalies)",
            " ; ".join(
                f"{p.bot.errors} / {p.bot.unanswered} / {sum(p.bot.anomalies.values())}"
                for p in pairs
            ),
            "0 / 0 / 0",
            sane,
            data={
                "errors": [p.bot.errors for p in pairs],
                "unanswered": [p.bot.unanswered for p in pairs],
                "anomalies": [sum(p.bot.anomalies.values()) for p in pairs],
            },
        ),
        Row(
            "mix: matters submitted / court answers / members joined by invite",
            f"{bot.submitted} / {bot.answered} / {bot.joined}",
            data={"submitted": bot.submitted, "answered": bot.answered, "joined": bot.joined},
        ),
        exercised(bot),
        Row(
            "mix: SQL statements (besides BEGIN) / transactions (reads included) / write "
            "transactions / database-thread hops per update, mean (deliveries and ticks "
            "included)",
            f"{bot.statements / n:.1f} / {per_txn:.2f} / {per_write:.2f} / {per_hop:.1f}",
            "- / - / <= 1.1 / <= 4",
            per_write <= 1.1 and per_hop <= 4,
            data={
                "statements": bot.statements / n,
                "transactions": per_txn,
                "writes": per_write,
                "hops": per_hop,
            },
        ),
        Row(
            "mix: real bot time per update p50 / p99 / max (rate-limit waits left out)",
            f"{ms(p50)} / {ms(p99)} / {ms(max(own))}",
            "<= 1.5 / <= 6 ms",
            p50 <= 1.5e6 and p99 <= 6e6,
            data={"p50_ms": p50 / 1e6, "p99_ms": p99 / 1e6, "max_ms": max(own) / 1e6},
        ),
        Row(
            "mix: the same without the fake Bot API's own work for each update (parsing and "
            "storing what the bot sent: Telegram's servers do it)",
            f"{ms(percentile(b.bot_ns, 50))} / {ms(percentile(b.bot_ns, 99))} "
            f"(the fake: {ms(percentile(b.fakes_ns, 50))} / {ms(percentile(b.fakes_ns, 99))})",
            data={**_p50_p99(b.bot_ns), **_p50_p99(b.fakes_ns, "fake_")},
        ),
    ]
    if first.floor is not None:
        f = first.floor.timings
        calls = sum(len(c) for c in b.calls)
        made = calls - sum(first.floor.failed.values()) - first.floor.skipped
        rows.append(
            Row(
                "mix: the floor, a bot making only the real bot's Bot API calls for each update "
                "(same stack, nothing else): p50 / p99 per update, with the fake's work / "
                "without; its calls made as the real bot made them",
                f"{ms(percentile(f.own_ns, 50))} / {ms(percentile(f.own_ns, 99))}; "
                f"{ms(percentile(f.bot_ns, 50))} / {ms(percentile(f.bot_ns, 99))}; "
                f"{made} of {calls}",
                data={
                    **_p50_p99(f.own_ns),
                    **_p50_p99(f.bot_ns, "bot_"),
                    **_p50_p99(e.own_ns, "echo_"),
                    "calls": calls,
                    "made": made,
                    "failed": dict(first.floor.failed),
                    "skipped": first.floor.skipped,
                },
            )
        )
    rows += [
        Row(
            "mix: waits for Telegram's rate limits (share of the real bot's / echo bot's time)",
            f"{waited_b:.0%} / {waited_e:.0%}",
            data={"bot_share": waited_b, "echo_share": waited_e},
        ),
        Row(
            "mix: inside the fake Bot API (share of the real bot's / echo bot's wall time)",
            f"{b.fake_ns / max(b.wall_ns, 1):.0%} / {e.fake_ns / max(e.wall_ns, 1):.0%}",
            data={
                "bot_share": b.fake_ns / max(b.wall_ns, 1),
                "echo_share": e.fake_ns / max(e.wall_ns, 1),
            },
        ),
    ]
    for pair in pairs:
        pb, pe = pair.bot.timings, pair.echo
        at = f"{pair.rtt_ms:g} ms round trip"
        rows += [
            Row(
                f"mix at {at}: real bot / echo bot throughput, updates per CPU second "
                "(CPU per update)",
                f"{pb.cpu_per_second:.0f} / {pe.cpu_per_second:.0f} "
                f"({ms(pb.cpu_ns / len(pb.ns))} / {ms(pe.cpu_ns / len(pe.ns))})",
                data={
                    "rtt_ms": pair.rtt_ms,
                    "bot_per_cpu_s": pb.cpu_per_second,
                    "echo_per_cpu_s": pe.cpu_per_second,
                    "bot_cpu_ms": pb.cpu_ns / len(pb.ns) / 1e6,
                    "echo_cpu_ms": pe.cpu_ns / len(pe.ns) / 1e6,
                },
            ),
            Row(
                f"mix at {at}: real bot p50 / p99 per update (with rate-limit waits)",
                f"{ms(percentile(pb.ns, 50))} / {ms(percentile(pb.ns, 99))}",
                data={
                    "rtt_ms": pair.rtt_ms,
                    **_p50_p99(pb.ns),
                },
            ),
            Row(
                f"mix at {at}: throughput ratio real bot / echo bot",
                f"{pair.ratio:.1%}",
                ">= 25 %" if pair.rtt_ms == 0 else "",
                pair.ratio >= 0.25 if pair.rtt_ms == 0 else None,
                data={"rtt_ms": pair.rtt_ms, "ratio": pair.ratio},
            ),
            Row(
                f"mix at {at}: the bots' own CPU per update, real / echo (the fake Bot API's "
                "work left out: Telegram's servers do it)",
                f"{ms(pb.own_cpu_ns / len(pb.ns))} / {ms(pe.own_cpu_ns / len(pe.ns))} "
                f"(fake: {ms(pb.fake_cpu_ns / len(pb.ns))} / {ms(pe.fake_cpu_ns / len(pe.ns))})",
                data={
                    "rtt_ms": pair.rtt_ms,
                    "bot_own_cpu_ms": pb.own_cpu_ns / len(pb.ns) / 1e6,
                    "echo_own_cpu_ms": pe.own_cpu_ns / len(pe.ns) / 1e6,
                    "bot_fake_cpu_ms": pb.fake_cpu_ns / len(pb.ns) / 1e6,
                    "echo_fake_cpu_ms": pe.fake_cpu_ns / len(pe.ns) / 1e6,
                },
            ),
            Row(
                f"mix at {at}: throughput ratio real bot / echo bot, of their own CPU",
                f"{pair.own_ratio:.1%}",
                data={"rtt_ms": pair.rtt_ms, "own_ratio": pair.own_ratio},
            ),
        ]
    return rows
