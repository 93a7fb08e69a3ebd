"""The bad-input corpus: everything a user can send or press that the bot must refuse or clean.

Rows are data (``pytest.mark.parametrize`` tables), grouped by where the input goes. Every row
checks what the user sees (the Chinese text from the catalog, or a stable part of it) and that
the database holds nothing unauthorised or half-written. The harness fails a row on its own
if Telegram would have rejected any bot call or a button press was left unanswered, and the
``world`` fixture fails it if a handler crashed.

Speed: each group (test class) shares one running bot — a "world" with the same cast — and
each row starts from a state it sets up itself (a fresh matter, a new member, a raise
conversation at the step it needs), so rows do not depend on each other's order. A row that
checked it changed nothing hands its member on to the next row needing the same step, which
checks the draft is still as it was. A world in which a row failed is thrown away and the
next row gets a new one, so one failure does not cascade.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Table, func, select

from bot.config import load_committee
from bot.domain.committee import Committee
from bot.domain.mechanisms import default_registry
from bot.domain.models import Case, Draft, Role
from bot.storage import schema as t
from handlers.forms import button_key
from tests.conftest import ADMIN_ID, ROOT, SHANGHAI
from tests.fakes.telegram import FakeChat, FakeUser, utf16_len
from tests.flows import (
    LI,
    QIAN,
    STRANGER,
    SUN,
    WANG,
    ZHAO,
    admin,
    bind_group,
    member,
    not_member_text,
    rows,
    seed_case,
)
from tests.scenario import Harness, running_bot

KINDS = default_registry()

pytestmark = pytest.mark.asyncio(loop_scope="module")

JSON = dict[str, Any]
ZHOU = 3003  # a second judge of the Yanbian court
WU = 3004  # a third one, whose membership is revoked in the worlds that need it

# ---------------------------------------------------------------------------- what users see

EMPTY = "⚠ 内容为空，请发送文字。"
SEND_TEXT = "⚠ 请发送文字，或发送 /cancel 取消。"
USE_BUTTONS = "⚠ 请使用上方按钮选择，或发送 /cancel 取消。"
SEND_FILES = "⚠ 请发送文件或照片，或点击「完成」。"
SEND_DATE = "⚠ 请用按钮选择日期，或按 2026-12-31 的格式输入。"
TOO_BIG = "⚠ 该文件超过20 MB，未能添加。"
TOO_MANY = "⚠ 最多可添加10个文件。请点击「完成」继续。"
BAD_DATE = "⚠ 无法识别该日期。请使用按钮选择，或按 2026-12-31 的格式输入。"
NO_SUCH_DATE = "⚠ 该日期不存在，请核对月份和日期。"
PAST = "⚠ 该日期已过，请选择今天或之后的日期。"
TOO_FAR = "⚠ 该日期距今超过一年，请选择更早的日期。"
NOT_MEMBER = "⚠ 您不是府院联动工作委员会成员。"
CANNOT_RAISE = "⚠ 您的角色不能提请事项，仅部门负责人和府院联动办公室可以提请。"
CANNOT_ANSWER = "⚠ 仅接收法院的工作人员可办理此事项。"
CANNOT_VIEW = "⚠ 您无权查看该事项。"
NOT_FOUND = "⚠ 未找到该编号对应的事项。"
BAD_NUMBER = "⚠ 这不是有效的编号。编号格式如：协调〔2026〕12号。"
ADMIN_ONLY = "⚠ 仅府院联动办公室可进行此操作。"
ROLE_MISMATCH = "⚠ 该角色与所选单位不匹配。"
MEMBER_UNKNOWN = "⚠ 该成员已不存在。"
NO_SELF_REVOKE = "⚠ 不能撤销您本人的成员资格。"
INVITE_UNKNOWN = "⚠ 该邀请链接无效。请联系府院联动办公室重新获取。"
CANCELLED = "已取消，未提请任何事项。"
RETURN_CANCELLED = "已取消，该事项未退回。"
HINT = "未能理解您的消息。请使用菜单或发送 /help。"
HELP_START = "长白山府院联动工作委员会"
PRIVATE_ONLY = "请在与我的私聊中使用此功能：https://t.me/fuyuan_test_bot"
BINDGROUP_USAGE = "请以府院联动办公室成员身份在委员会工作群中发送 /bindgroup。"

# Button-press answers (alerts and toasts).
STALE = "该按钮已失效。"
ONLY_COURT = "仅接收法院的工作人员可进行此操作。"
OBSERVER_CANNOT_ACT = "观察员可查看事项，但不能办理。"
GONE = "该事项已不存在。"
CANNOT_SEE = "您无权查看该事项。"
OFFICE_ONLY = "仅府院联动办公室可进行此操作。"
DATE_GONE = "该日期已不可选。"
NOT_REVOKED = "未撤销。"
REVOKED = "已撤销。"
OUTCOME_RECORDED = "已登记办理结果。"
ALREADY_RESOLVED = "该事项已登记办理结果。"
AT = "2026年11月25日（周三）10:00"  # the manual clock never moves in this module


def too_long(length: int, limit: int) -> str:
    return f"⚠ 内容过长：共{length}字，最多{limit}字。请精简后重新发送。"


def acked_by(name: str) -> str:
    return f"已由{name}于{AT}受理。"


def returned_by(name: str) -> str:
    return f"已由{name}于{AT}退回。"


# ---------------------------------------------------------------------------- worlds


def _committee() -> Committee:
    base = load_committee(ROOT / "committee.example.toml")
    return dataclasses.replace(base, admins=frozenset({ADMIN_ID}))


@dataclass
class World:
    """One running bot with the cast every group uses."""

    bot: Harness
    li: FakeUser  # department head, Natural Resources Bureau
    wang: FakeUser  # department head, Ecology Bureau
    zhao: FakeUser  # judge, Yanbian court (answers for YB-IPC and the Chibei center)
    zhou: FakeUser  # second judge, Yanbian court
    sun: FakeUser  # clerk, Fusong court (answers for the Chixi–Chinan center only)
    qian: FakeUser  # observer
    office: FakeUser  # office admin
    stranger: FakeUser
    group: FakeChat
    extra: dict[str, Any] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(6001))

    def new_user_id(self) -> int:
        return next(self._ids)


async def build_world(bot: Harness) -> World:
    world = World(
        bot=bot,
        li=await member(bot, LI, "李明", "CBS-NR", Role.DEPARTMENT_HEAD),
        wang=await member(bot, WANG, "王强", "CBS-ENV", Role.DEPARTMENT_HEAD),
        zhao=await member(bot, ZHAO, "赵法官", "YB-IPC", Role.COURT_STAFF),
        zhou=await member(bot, ZHOU, "周法官", "YB-IPC", Role.COURT_STAFF),
        sun=await member(bot, SUN, "孙书记员", "FUSONG-COURT", Role.COURT_STAFF),
        qian=await member(bot, QIAN, "钱观察", "CBS-ADMIN", Role.OBSERVER),
        office=admin(bot),
        stranger=bot.user(STRANGER, "路人甲"),
        group=await bind_group(bot),
    )
    await bot.say(world.stranger, "/start")  # so the stranger has a bot message to press on
    return world


class Worlds:
    """Running bots by group name, started on first use and stopped at the end of the module."""

    def __init__(self, template: Path, directory: Path) -> None:
        self._template = template
        self._directory = directory
        self._open: dict[str, tuple[World, AsyncExitStack]] = {}
        self._started = itertools.count(1)

    async def get(self, name: str) -> World:
        if name not in self._open:
            path = self._directory / f"{name}-{next(self._started)}.sqlite3"
            shutil.copy(self._template, path)
            stack = AsyncExitStack()
            bot = await stack.enter_async_context(
                running_bot(_committee(), f"sqlite+aiosqlite:///{path}")
            )
            try:
                world = await build_world(bot)
            except BaseException:
                await stack.aclose()
                raise
            self._open[name] = (world, stack)
        return self._open[name][0]

    async def drop(self, name: str) -> None:
        entry = self._open.pop(name, None)
        if entry is not None:
            await entry[1].aclose()

    async def close(self) -> None:
        for name in list(self._open):
            await self.drop(name)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """In memory where the machine has a tmpfs: the corpus commits thousands of small
    transactions, and on a disk that alone doubles its time."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path_factory.mktemp("corpus")
        return
    directory = Path(tempfile.mkdtemp(prefix="fuyuan-corpus-", dir=shm))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def worlds(migrated_template: Path, corpus_dir: Path) -> AsyncIterator[Worlds]:
    registry = Worlds(migrated_template, corpus_dir)
    yield registry
    await registry.close()


@pytest_asyncio.fixture(loop_scope="module")
async def world(
    request: pytest.FixtureRequest, worlds: Worlds, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[World]:
    """The running bot of the row's group (its test class)."""
    name = request.cls.__name__ if request.cls is not None else request.node.name
    failed_before = request.session.testsfailed
    yield await worlds.get(name)
    crashes = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR and r.exc_info]
    if request.session.testsfailed != failed_before or crashes:
        await worlds.drop(name)  # whatever the failed row left behind goes with it
    assert not crashes, f"a handler crashed: {crashes[0].exc_info}"


# ---------------------------------------------------------------------------- reading back

WATCHED: tuple[Table, ...] = (
    t.cases,
    t.assignments,  # one row per addressee: its state, who acted, the outcome, the deadlines
    t.events,
    t.members,
    t.invites,
    t.drafts,
    t.counters,
    t.settings,
    t.case_files,
    t.outbox,
)


async def snapshot(bot: Harness) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that matters (users only by their language: a press refreshes the rest)."""
    async with bot.svc.db.read() as conn:
        tables = {
            table.name: [
                tuple(row) for row in (await conn.execute(select(table).order_by(*table.c))).all()
            ]
            for table in WATCHED
        }
        tables["users.lang"] = [
            tuple(row)
            for row in (
                await conn.execute(select(t.users.c.user_id, t.users.c.lang).order_by("user_id"))
            ).all()
        ]
    return tables


async def count(bot: Harness, table: Table, *where: Any) -> int:
    async with bot.svc.db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one()
        )


async def draft_of(bot: Harness, user_id: int, flow: str = "form") -> Draft | None:
    return await bot.svc.load_draft(user_id, flow)


async def actions_of(bot: Harness, case: Case) -> list[str]:
    return [e.action for e in await rows(bot, t.events, t.events.c.case_id == case.id)]


async def newest_case(bot: Harness) -> Any:
    return max(await rows(bot, t.cases), key=lambda row: row.id)


def answers(bot: Harness, user: FakeUser) -> list[JSON]:
    return bot.fake.callback_answers(user)


def entity_types(messages: list[JSON]) -> set[str]:
    return {e["type"] for m in messages for e in m.get("entities", [])}


async def flush(bot: Harness) -> None:
    """Send what the service queued (``seed_case`` queues notifications without sending)."""
    await bot.app.bot_data["runtime"].courier.flush(bot.app.bot)
    bot.check()


def mark(bot: Harness) -> int:
    """A point in the fake's call log, for ``sent``."""
    return len(bot.fake.calls)


def sent(bot: Harness, chat: FakeUser | FakeChat, since: int) -> list[JSON]:
    """Messages the bot sent to a chat since ``mark`` (read from the call log: copying a long
    chat history on every look would make the corpus slow)."""
    return [
        call.response["result"]
        for call in bot.fake.calls[since:]
        if call.method == "sendMessage"
        and call.ok
        and call.response["result"]["chat"]["id"] == chat.id
    ]


def texts_of(messages: list[JSON]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def note_for(bot: Harness, user: FakeUser, case: Case, since: int = 0) -> JSON:
    """The private notification of a matter with its 受理 / 退回 buttons."""
    for message in reversed(sent(bot, user, since)):
        if case.number in message.get("text", "") and message.get("reply_markup"):
            return message
    raise AssertionError(f"no notification of {case.number} to {user.first_name}")


def group_post(bot: Harness, world: World, case: Case, since: int = 0) -> JSON:
    for message in reversed(sent(bot, world.group, since)):
        if case.number in message.get("text", ""):
            return message
    raise AssertionError(f"no group post of {case.number}")


async def seed(
    world: World, title: str = "林地征收补偿争议研判", **kwargs: Any
) -> tuple[Case, int]:
    """A submitted matter from Li to the Yanbian court, its notifications sent; returns it
    with the call-log mark from before they went out."""
    since = mark(world.bot)
    case = await seed_case(world.bot, LI, "李明", title, **kwargs)
    await flush(world.bot)
    return case, since


async def member_id(bot: Harness, user_id: int) -> int:
    (row,) = await rows(
        bot, t.members, t.members.c.user_id == user_id, t.members.c.revoked_at.is_(None)
    )
    return int(row.id)


async def revoke(bot: Harness, user_id: int) -> None:
    office = await bot.svc.viewer(ADMIN_ID, "办公室管理员", None)
    await bot.svc.revoke_member(office, await member_id(bot, user_id))


async def enrol(
    world: World, org: str = "CBS-NR", role: Role = Role.DEPARTMENT_HEAD, name: str = "李明"
) -> FakeUser:
    """A new member with an empty chat, let in through the service (the invite flow itself is
    tested elsewhere). Rows use their own people: a chat's history only grows."""
    bot = world.bot
    user = bot.user(world.new_user_id(), name)
    office = await bot.svc.viewer(ADMIN_ID, "办公室管理员", None)
    invite = await bot.svc.create_invite(office, org, role)
    await bot.svc.redeem_invite(invite.token, await bot.svc.viewer(user.id, name, None), name)
    return user


# ---------------------------------------------------------------------------- raise flow steps

KIND_LABELS = {"consultation": "重大事项研判", "referral": "行政争议协调化解"}
DEFAULT_ANSWERS: dict[str, tuple[str, str]] = {
    "title": ("say", "滑雪场扩建项目"),
    "description": ("say", "拟以长期租赁方式供地，请研判法律风险。"),
    "applicant": ("say", "张三"),
    "respondent": ("press", "自然资源局"),
    "addressee": ("press", "延边中院"),
    "urgency": ("press", "一般"),
    "reply_by": ("press", "不指定日期"),
    "documents": ("press", "完成"),
}


async def answer_field(bot: Harness, user: FakeUser, name: str) -> None:
    how, value = DEFAULT_ANSWERS[name]
    if how == "say":
        await bot.say(user, value)
    else:
        await bot.press(user, value)


async def to_step(world: World, user: FakeUser, kind: str, step: str) -> dict[str, JSON]:
    """The raise conversation of a new member (see ``enrol``), answered up to ``step``: a field
    name, "kind" (just after /new), "summary" or "menu" (the field menu of the summary).
    Returns the question message of each step passed, by step, as the user saw it then."""
    bot = world.bot
    await bot.say(user, "/new")
    asked = {"kind": bot.last_with_buttons(user)}
    if step == "kind":
        return asked
    await bot.press(user, KIND_LABELS[kind])
    for spec in KINDS[kind].fields:
        asked[spec.name] = bot.last_with_buttons(user)
        if spec.name == step:
            return asked
        await answer_field(bot, user, spec.name)
    asked["summary"] = bot.last_with_buttons(user)
    if step == "menu":
        await bot.press(user, "修改某项")
        asked["menu"] = bot.last_with_buttons(user)
    return asked


Parked = tuple[FakeUser, dict[str, JSON], Draft | None]


async def at_step(world: World, kind: str, step: str) -> tuple[FakeUser, dict[str, JSON]]:
    """A member whose raise conversation waits at ``step`` (see ``to_step``; "summary-title"
    and the like are the summary, with a member of its own per field): one a previous row
    parked there, if their draft is still exactly as it was left, or a new one."""
    parked: dict[tuple[str, str], Parked] = world.extra.setdefault("parked", {})
    entry = parked.pop((kind, step), None)
    if entry is not None:
        user, asked, draft = entry
        if await draft_of(world.bot, user.id) == draft:
            return user, asked
    user = await enrol(world)
    asked = await to_step(world, user, kind, step.split("-")[0])
    return user, {**asked, step: asked[step.split("-")[0]]}


async def park(world: World, kind: str, step: str, user: FakeUser, asked: dict[str, JSON]) -> None:
    """Hand a member on to the next row needing this step (walking a new member there costs
    about ten updates). Only rows that checked where the member's conversation stands, and
    what the draft holds, do this."""
    parked: dict[tuple[str, str], Parked] = world.extra.setdefault("parked", {})
    parked[(kind, step)] = (user, asked, await draft_of(world.bot, user.id))


# ---------------------------------------------------------------------------- 1. text fields


@dataclass(frozen=True)
class Stored:
    """Accepted; the database holds exactly ``value`` (the input after cleaning)."""

    value: str


@dataclass(frozen=True)
class Refused:
    """Refused with exactly ``text``; nothing changes."""

    text: str


@dataclass(frozen=True)
class TextField:
    name: str
    kind: str  # "consultation", "referral", or "return" for a court's return reason
    limit: int
    multiline: bool

    def __str__(self) -> str:
        return self.name


TEXT_FIELDS = (
    TextField("title", "consultation", 100, multiline=False),
    TextField("description", "consultation", 2000, multiline=True),
    TextField("applicant", "referral", 100, multiline=False),
    TextField("reason", "return", 500, multiline=True),
)


def text_rows(f: TextField) -> list[Any]:
    n = f.limit

    def lines(multi: str, single: str) -> str:
        return multi if f.multiline else single

    table: list[tuple[str, str, Stored | Refused]] = [
        # lengths, counted in characters after cleaning
        ("at-limit", "征" * n, Stored("征" * n)),
        ("one-over", "征" * (n + 1), Refused(too_long(n + 1, n))),
        ("over-4096", "征" * 4096, Refused(too_long(4096, n))),
        ("limit-plus-padding", "  " + "征" * n + " \u200b\u202e \t", Stored("征" * n)),
        ("limit-plus-invisibles", "\u200b" * 50 + "征" * n + "\ufeff" * 50, Stored("征" * n)),
        ("emoji-at-limit", "🏔" * n, Stored("🏔" * n)),
        ("emoji-one-over", "🏔" * (n + 1), Refused(too_long(n + 1, n))),
        ("long-single-word", "a" * n, Stored("a" * n)),
        ("long-single-word-over", "a" * (n + 1), Refused(too_long(n + 1, n))),
        # nothing left
        ("empty", "", Refused(SEND_TEXT)),
        ("starts-like-a-command", "/etc/passwd 文件", Refused(HINT)),  # Telegram: a command
        ("spaces", "     ", Refused(EMPTY)),
        ("whitespace-mix", " \t \n \r\n \u3000 ", Refused(EMPTY)),
        ("zero-width-only", "\u200b\u200c\u200d\u2060\ufeff", Refused(EMPTY)),
        (
            "bidi-only",
            "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c",
            Refused(EMPTY),
        ),
        ("format-chars-only", "\u00ad\u2061\u2062\u2063\u2064\u180e", Refused(EMPTY)),
        ("control-only", "\x00\x01\x07\x08\x1b\x7f", Refused(EMPTY)),
        ("private-use-only", "\ue000\uf8ff", Refused(EMPTY)),
        # cleaned
        ("control-chars", "林地\x00征收\x07补偿\x1b争议\x7f", Stored("林地征收补偿争议")),
        ("rtl-override", "合同\u202egpj.exe\u202c审查", Stored("合同gpj.exe审查")),
        ("rtl-isolates", "\u2067مرحبا\u2069 与 \u2066abc\u2069", Stored("مرحبا 与 abc")),
        ("zero-width-inside", "林\u200b地\u200c征\u2060收\u200d补偿", Stored("林地征收补偿")),
        ("soft-hyphen-inside", "长白\u00ad山", Stored("长白山")),
        ("stray-tag-characters", "标\U000e0041\U000e007f题", Stored("标题")),
        (
            "line-breaks",
            "第一行\n第二行\r\n第三行",
            Stored(lines("第一行\n第二行\n第三行", "第一行 第二行 第三行")),
        ),
        ("unicode-line-separators", "甲\u2028乙\u2029丙", Stored(lines("甲\n乙\n丙", "甲 乙 丙"))),
        ("blank-lines", "段一\n\n\n\n\n段二  \n", Stored(lines("段一\n\n段二", "段一 段二"))),
        ("tabs-and-spaces", "甲\t\t乙    丙", Stored(lines("甲  乙    丙", "甲 乙 丙"))),
        # kept as typed
        ("emoji", "🏔️ 长白山滑雪场 🎿⛷", Stored("🏔️ 长白山滑雪场 🎿⛷")),
        (
            "emoji-sequences",
            "👨‍👩‍👧 家庭 👩🏽‍💻 🏳️‍🌈 🇨🇳 ❤️‍🔥",
            Stored("👨‍👩‍👧 家庭 👩🏽‍💻 🏳️‍🌈 🇨🇳 ❤️‍🔥"),
        ),
        (
            "combining-marks",
            "Cafe\u0301 Zalgo: Z\u0335\u0321a\u0336l\u0338g\u0335o",
            Stored("Cafe\u0301 Zalgo: Z\u0335\u0321a\u0336l\u0338g\u0335o"),
        ),
        (
            "flag-with-tags",
            "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f 苏格兰",
            Stored("🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f 苏格兰"),
        ),
        ("full-width", "ＡＢＣ　１２３　长白山（试行）", Stored("ＡＢＣ　１２３　长白山（试行）")),
        ("arabic-script", "مرحبا 你好", Stored("مرحبا 你好")),
        ("html-bold", "<b>粗体</b>", Stored("<b>粗体</b>")),
        ("html-stray-close", "</i> 未闭合 <i>", Stored("</i> 未闭合 <i>")),
        (
            "html-link",
            '<a href="https://evil.example">点我</a>',
            Stored('<a href="https://evil.example">点我</a>'),
        ),
        (
            "html-entities",
            "A &amp; B &lt;c&gt; &#x1F600; &nbsp;",
            Stored("A &amp; B &lt;c&gt; &#x1F600; &nbsp;"),
        ),
        ("html-script", "<script>alert(1)</script>", Stored("<script>alert(1)</script>")),
        (
            "jinja",
            "{{ 7*7 }} {% if true %}是{% endif %} {# x #}",
            Stored("{{ 7*7 }} {% if true %}是{% endif %} {# x #}"),
        ),
        (
            "markdown",
            "*粗体* _斜体_ `代码` [链接](tg://user?id=1) ~删除~ ||剧透||",
            Stored("*粗体* _斜体_ `代码` [链接](tg://user?id=1) ~删除~ ||剧透||"),
        ),
        ("sql", "'; DROP TABLE cases; --", Stored("'; DROP TABLE cases; --")),
        (
            "percent-format",
            "%(number)s %s %d {0} {number}",
            Stored("%(number)s %s %d {0} {number}"),
        ),
    ]
    return [
        pytest.param(f, raw, expected, id=f"{f.name}-{row_id}") for row_id, raw, expected in table
    ]


TEXT_ROWS = [row for f in TEXT_FIELDS for row in text_rows(f)]


# Accepted rows that also submit the matter: the case row, the court's notification and the
# group post are checked too (the others stop at the draft, the summary and what the submit
# would store: a submit costs a whole new raise conversation for the next row).
END_TO_END = frozenset(
    {
        "at-limit",
        "emoji-at-limit",
        "rtl-override",
        "emoji-sequences",
        "html-link",
        "html-script",
        "jinja",
        "markdown",
        "percent-format",
    }
)
FIELD_LABELS = {"title": "标题", "description": "情况说明", "applicant": "申请人"}


def shows_field(text: str, label: str, value: str) -> bool:
    """The summary shows the field as "label: value" (the value literally, on the label's
    line, or on the next ones for a long text)."""
    return re.search(rf"^{label}[:：]\s*{re.escape(value)}$", text, re.MULTILINE) is not None


class TestTextFields:
    @pytest.mark.parametrize(("spec", "raw", "expected"), TEXT_ROWS)
    async def test_text_input(
        self,
        request: pytest.FixtureRequest,
        world: World,
        spec: TextField,
        raw: str,
        expected: Stored | Refused,
    ) -> None:
        row_id = request.node.callspec.id.removeprefix(f"{spec.name}-")
        if spec.kind == "return":
            await self.return_reason(world, raw, expected)
        elif isinstance(expected, Refused):
            await self.refused(world, spec, raw, expected)
        else:
            await self.accepted(world, spec, raw, expected, submit=row_id in END_TO_END)

    async def refused(self, w: World, spec: TextField, raw: str, expected: Refused) -> None:
        bot = w.bot
        li, asked = await at_step(w, spec.kind, spec.name)
        before = await draft_of(bot, li.id)
        cases_before = await count(bot, t.cases)
        since = mark(bot)
        await bot.say(li, raw)
        assert texts_of(sent(bot, li, since)) == expected.text
        assert await draft_of(bot, li.id) == before  # the same question is still open
        assert await count(bot, t.cases) == cases_before
        await park(w, spec.kind, spec.name, li, asked)

    async def accepted(
        self, w: World, spec: TextField, raw: str, expected: Stored, *, submit: bool
    ) -> None:
        """The field is edited from the summary of a complete draft, so the summary follows."""
        bot, kind = w.bot, KINDS[spec.kind]
        step = f"summary-{spec.name}"  # one parked member per field: the others keep defaults
        li, asked = await at_step(w, spec.kind, step)
        await bot.press(li, "修改某项", message=asked[step])
        await bot.press(li, FIELD_LABELS[spec.name], message=asked[step])
        since = mark(bot)
        await bot.say(li, raw)
        summary = sent(bot, li, since)
        draft = await draft_of(bot, li.id)
        assert draft is not None and draft.state == "AWAITING_CONFIRMATION"
        assert draft.data["values"][spec.name] == expected.value
        # What a submit stores: the whole draft checked again.
        assert bot.svc.validate_values(kind, draft.data["values"])[spec.name] == expected.value
        # Shown literally: markup in the value is text, not formatting.
        assert shows_field(texts_of(summary), FIELD_LABELS[spec.name], expected.value)
        assert "text_link" not in entity_types(summary)
        assert entity_types(summary) <= {"bold", "italic", "url"}
        if not submit:
            await park(w, spec.kind, step, li, {step: summary[-1]})
            return

        cases_before = await count(bot, t.cases)
        since = mark(bot)
        await bot.press(li, "提请", message=summary[-1])
        assert await count(bot, t.cases) == cases_before + 1
        case = await newest_case(bot)
        assert case.fields[spec.name] == expected.value
        if spec.name == "title":
            assert case.title == expected.value
        note = sent(bot, w.zhao, since)
        assert shows_field(texts_of(note), FIELD_LABELS[spec.name], expected.value)
        assert "text_link" not in entity_types(note)
        post = texts_of(sent(bot, w.group, since))
        assert case.number in post
        if spec.name == "applicant":
            assert expected.value not in post  # personal data never goes to the group
        if spec.name == "description":
            assert expected.value not in post  # group_detail "summary": no description

    async def return_reason(self, w: World, raw: str, expected: Stored | Refused) -> None:
        """Zhao is asked for a reason; a refused one leaves the prompt open for the next row."""
        bot, zhao, li = w.bot, w.zhao, w.li
        case_id, prompt = w.extra.pop("return prompt", (None, None))
        if case_id is None or await draft_of(bot, ZHAO) != prompt:
            case, since = await seed(w, "退回理由测试")
            await bot.press(zhao, "退回", message=note_for(bot, zhao, case, since))
            assert texts_of(sent(bot, zhao, since)).endswith(
                f"↩️ 正在退回{case.number}。请选择下方的常见理由，或用一条消息发送其他理由（最多500字）。"
            )
        else:
            case = await bot.svc.get_case(case_id)
        since = mark(bot)
        await bot.say(zhao, raw)
        after = await bot.svc.get_case(case.id)
        if isinstance(expected, Refused):
            assert texts_of(sent(bot, zhao, since)) == expected.text
            assert after.status == "submitted" and after.return_reason is None
            assert await actions_of(bot, case) == ["submitted"]
            prompt = await draft_of(bot, ZHAO)
            assert prompt is not None and prompt.state == "AWAITING_TEXT"  # still asked
            assert {k: prompt.data.get(k) for k in ("form", "action", "case_id", "field")} == {
                "form": "act",
                "action": "return",
                "case_id": case.id,
                "field": "reason",
            }
            assert prompt.data["values"] == {}
            w.extra["return prompt"] = (case.id, prompt)
            return
        assert after.status == "returned" and after.return_reason == expected.value
        (event,) = await rows(
            bot, t.events, t.events.c.case_id == case.id, t.events.c.action == "return"
        )
        assert event.detail == {"reason": expected.value}
        shown = texts_of(sent(bot, zhao, since))
        assert shown.startswith(f"↩️ {case.number}已由赵法官于{AT}退回。\n")
        assert shows_field(shown, "理由", expected.value)
        assert shows_field(texts_of(sent(bot, li, since)), "理由", expected.value)
        assert await draft_of(bot, ZHAO) is None


# ---------------------------------------------------------------------------- 2. typed dates

# Today is Wednesday 2026-11-25; a date may be at most 366 days ahead (2027-11-26).
DATE_ROWS: list[tuple[str, str, str | Refused]] = [
    ("iso", "2026-12-31", "2026-12-31"),
    ("iso-unpadded", "2026-12-1", "2026-12-01"),
    ("slashes", "2026/12/31", "2026-12-31"),
    ("dots", "2026.12.31", "2026-12-31"),
    ("chinese", "2026年12月31日", "2026-12-31"),
    ("chinese-spaced", "2026 年 12 月 31 日", "2026-12-31"),
    ("chinese-hao", "2026年12月31号", "2026-12-31"),
    ("month-day-chinese", "12月3日", "2026-12-03"),
    ("month-day-hao", "12月3号", "2026-12-03"),
    ("month-day-dash", "12-3", "2026-12-03"),
    ("month-day-slash", "12/3", "2026-12-03"),
    ("today", "2026-11-25", "2026-11-25"),
    ("today-no-year", "11月25日", "2026-11-25"),
    ("no-year-next-occurrence", "3月1日", "2027-03-01"),
    ("no-year-yesterday-means-next-year", "11月24日", "2027-11-24"),
    ("last-allowed-day", "2027-11-26", "2027-11-26"),
    ("full-width-digits", "２０２６年１２月１日", "2026-12-01"),
    ("full-width-separators", "２０２６－１２－３１", "2026-12-31"),
    ("full-width-slash", "１２／３", "2026-12-03"),
    ("surrounding-spaces", "  2026-12-31 \u3000", "2026-12-31"),
    ("zero-width-inside", "2026-12\u200b-31\u200e", "2026-12-31"),
    ("past-yesterday", "2026-11-24", Refused(PAST)),
    ("past-long-ago", "0001-01-01", Refused(PAST)),
    ("past-last-year", "2025年12月31日", Refused(PAST)),
    ("far-one-day-over", "2027-11-27", Refused(TOO_FAR)),
    ("far-future", "2099-01-01", Refused(TOO_FAR)),
    ("far-max", "9999-12-31", Refused(TOO_FAR)),
    ("nonexistent-feb-30", "2026-02-30", Refused(NO_SUCH_DATE)),
    ("nonexistent-feb-29", "2027年2月29日", Refused(NO_SUCH_DATE)),
    ("nonexistent-no-year", "2月30日", Refused(NO_SUCH_DATE)),
    ("month-13", "2026-13-01", Refused(NO_SUCH_DATE)),
    ("month-zero", "2026-00-10", Refused(NO_SUCH_DATE)),
    ("day-32", "12月32日", Refused(NO_SUCH_DATE)),
    ("day-zero", "2026-12-00", Refused(NO_SUCH_DATE)),
    ("ambiguous-dmy", "03/12/2026", Refused(BAD_DATE)),
    ("ambiguous-mdy", "12/3/2026", Refused(BAD_DATE)),
    ("two-digit-year", "26-12-31", Refused(BAD_DATE)),
    ("no-separators", "20261231", Refused(BAD_DATE)),
    ("five-digit-year", "20261-12-31", Refused(BAD_DATE)),
    ("month-only", "2026年12月", Refused(BAD_DATE)),
    ("chinese-numerals", "十二月三日", Refused(BAD_DATE)),
    ("relative", "下周五", Refused(BAD_DATE)),
    ("english-words", "tomorrow", Refused(BAD_DATE)),
    ("time-attached", "2026-12-31 10:00", Refused(BAD_DATE)),
    ("html", "<b>2026-12-31</b>", Refused(BAD_DATE)),
    ("sql", "2026-12-31'; DROP TABLE drafts; --", Refused(BAD_DATE)),
    ("emoji-digits", "1️⃣2️⃣月3️⃣日", Refused(BAD_DATE)),
    ("spaces-only", "   ", Refused(BAD_DATE)),
    ("negative", "-2026-12-31", Refused(BAD_DATE)),
]


class TestTypedDates:
    @pytest.mark.parametrize(
        ("typed", "expected"),
        [pytest.param(typed, exp, id=row_id) for row_id, typed, exp in DATE_ROWS],
    )
    async def test_typed_date(self, world: World, typed: str, expected: str | Refused) -> None:
        bot = world.bot
        li, asked = await at_step(world, "consultation", "reply_by")
        before = await draft_of(bot, li.id)
        cases_before = await count(bot, t.cases)
        since = mark(bot)
        await bot.say(li, typed)
        if isinstance(expected, Refused):
            assert texts_of(sent(bot, li, since)) == expected.text
            assert await draft_of(bot, li.id) == before
            assert before is not None and before.state == "AWAITING_DATE"
            await park(world, "consultation", "reply_by", li, asked)
            return
        draft = await draft_of(bot, li.id)
        assert draft is not None and draft.data["values"]["reply_by"] == expected
        assert bot.last_text(li).startswith("6/6 · 附件（选填）")
        await bot.press(li, "完成")
        day = date.fromisoformat(expected)
        assert f"{day.year}年{day.month}月{day.day}日" in bot.last_text(li)
        await bot.press(li, "提请")
        assert await count(bot, t.cases) == cases_before + 1
        assert (await bot.svc.get_case((await newest_case(bot)).id)).reply_by == day


# ---------------------------------------------------------------------------- pressing


ALERTS = frozenset(
    {ONLY_COURT, GONE, CANNOT_SEE, OFFICE_ONLY, PRIVATE_ONLY, NOT_REVOKED, DATE_GONE}
)


# A form token no conversation has (tokens are 12 hex digits).
FORGED_TOKEN = "0123456789ab"


def person(w: World, who: str) -> FakeUser:
    return w.extra["people"][who] if who in w.extra.get("people", {}) else getattr(w, who)


async def prepare_cases(w: World) -> dict[str, Any]:
    """Once per world: a submitted matter, an acknowledged one, and the ids rows refer to."""
    if "case" in w.extra:
        return w.extra
    bot = w.bot
    wu = await member(bot, WU, "吴法官", "YB-IPC", Role.COURT_STAFF)  # revoked below
    case, since = await seed(w, "林地征收补偿争议研判")
    acked, _ = await seed(w, "已受理的研判事项")
    await bot.svc.acknowledge(await bot.svc.viewer(ZHAO, "赵法官", None), acked.id)
    await flush(bot)
    (row,) = await rows(bot, t.cases, t.cases.c.id == case.id)
    people = {"wu_revoked": wu}
    w.extra.update(
        people=people,
        case=case.id,
        acked=acked.id,
        # Each matter's one addressee (a button's optional 4th part names one).
        case_addressee=await assignment_of(bot, case),
        acked_addressee=await assignment_of(bot, acked),
        forged=FORGED_TOKEN,
        number=case.number,
        token=row.submit_token,
        big="9" * 30,
        own=await member_id(bot, ADMIN_ID),
        zhao_member=await member_id(bot, ZHAO),
        post=group_post(bot, w, case, since),
    )
    w.extra["msg"] = {
        who: bot.fake.last_message_to(person(w, who))
        for who in ("li", "wang", "zhao", "zhou", "sun", "qian", "office", "stranger")
    }
    w.extra["msg"]["wu_revoked"] = note_for(bot, wu, case, since)
    await revoke(bot, WU)
    return w.extra


async def assignment_of(bot: Harness, case: Case) -> int:
    (row,) = await rows(bot, t.assignments, t.assignments.c.case_id == case.id)
    return int(row.id)


async def press_and_check(
    w: World, who: str, where: str, data: str, alert: str, says: str | None = None
) -> None:
    """A press that must change nothing: the answer, no row changed, nothing posted."""
    bot, ctx = w.bot, await prepare_cases(w)
    user = person(w, who)
    data, alert, says = (s.format(**ctx) if s else s for s in (data, alert, says))
    message = ctx["post"] if where == "group" else ctx["msg"][who]
    post_id = ctx["post"]["message_id"]
    post_before = bot.fake.message(w.group, post_id)
    before = await snapshot(bot)
    since = mark(bot)
    await bot.press(user, message=message, data=data)
    answer = answers(bot, user)[-1]
    assert (answer["text"] or "") == alert
    if alert in ALERTS:
        assert answer["show_alert"] is True
    assert await snapshot(bot) == before
    assert texts_of(sent(bot, user, since)) == (says or "")
    assert sent(bot, w.group, since) == []
    assert bot.fake.message(w.group, post_id) == post_before  # the group post stays as it was


# ---------------------------------------------------------------------------- 3. forged data

FORGED: list[tuple[str, str, str, str, str, str | None]] = [
    # (row, who presses, chat, callback data, the answer, a message the presser then gets)
    # a form's buttons (f:<token>:<op>[:<arg>]), with no conversation open
    ("f-kind", "li", "private", "f:{forged}:kind:consultation", STALE, None),
    ("f-kind-unknown", "li", "private", "f:{forged}:kind:nope", STALE, None),
    ("f-opt", "li", "private", "f:{forged}:opt:YB-IPC", STALE, None),
    ("f-date", "li", "private", "f:{forged}:date:2026-12-01", STALE, None),
    ("f-date-garbage", "li", "private", "f:{forged}:date:9999-99-99", STALE, None),
    ("f-cal-overflow", "li", "private", "f:{forged}:cal:9999-12", STALE, None),
    ("f-submit-unknown-token", "li", "private", "f:0123456789abcdef:go", STALE, None),
    ("f-submit-no-token", "li", "private", "f::go", STALE, None),
    ("f-submit-own-token", "li", "private", "f:{token}:go", "已提请过，编号为{number}。", None),
    ("f-submit-someone-elses", "wang", "private", "f:{token}:go", STALE, None),
    ("f-submit-stranger", "stranger", "private", "f:{token}:go", STALE, None),
    ("f-submit-own-token-other-op", "li", "private", "f:{token}:edit", STALE, None),
    ("f-field", "li", "private", "f:{forged}:field:title", STALE, None),
    ("f-cancel", "li", "private", "f:{forged}:cancel", STALE, None),
    ("f-bare", "li", "private", "f:", STALE, None),
    ("f-token-only", "li", "private", "f:{forged}", STALE, None),
    ("f-no-op", "li", "private", "f:{forged}:", STALE, None),
    ("f-extra-part", "li", "private", "f:{forged}:opt:YB-IPC:x", STALE, None),
    ("f-64-bytes", "li", "private", "f:" + "f" * 59 + ":go", STALE, None),
    ("f-noop", "li", "private", "f:{forged}:noop", "", None),
    ("f-kind-stranger", "stranger", "private", "f:{forged}:kind:referral", STALE, None),
    ("f-kind-court", "zhao", "private", "f:{forged}:kind:referral", STALE, None),
    ("f-kind-group", "li", "group", "f:{forged}:kind:consultation", STALE, None),
    ("f-submit-group", "li", "group", "f:{token}:go", "已提请过，编号为{number}。", None),
    # 受理
    ("ack-no-id", "zhao", "private", "v:acknowledge:", STALE, None),
    ("ack-unknown-id", "zhao", "private", "v:acknowledge:999999", GONE, None),
    ("ack-zero", "zhao", "private", "v:acknowledge:0", GONE, None),
    ("ack-negative", "zhao", "private", "v:acknowledge:-1", STALE, None),
    ("ack-huge", "zhao", "private", "v:acknowledge:{big}", STALE, None),
    ("ack-non-numeric", "zhao", "private", "v:acknowledge:abc", STALE, None),
    ("ack-superscript-digit", "zhao", "private", "v:acknowledge:²", STALE, None),
    ("ack-full-width-digit", "zhao", "private", "v:acknowledge:１", STALE, None),
    # the 4th part names an addressee of the matter
    (
        "ack-other-matters-addressee",
        "zhao",
        "private",
        "v:acknowledge:{case}:{acked_addressee}",
        GONE,
        None,
    ),
    ("ack-unknown-addressee", "zhao", "private", "v:acknowledge:{case}:999999", GONE, None),
    ("ack-addressee-non-numeric", "zhao", "private", "v:acknowledge:{case}:x", STALE, None),
    ("ack-addressee-negative", "zhao", "private", "v:acknowledge:{case}:-1", STALE, None),
    ("ack-addressee-huge", "zhao", "private", "v:acknowledge:{case}:{big}", STALE, None),
    ("ack-addressee-empty", "zhao", "private", "v:acknowledge:{case}:", STALE, None),
    (
        "ack-extra-part",
        "zhao",
        "private",
        "v:acknowledge:{case}:{case_addressee}:1",
        STALE,
        None,
    ),
    ("ack-id-in-extra-part", "zhao", "private", "v:acknowledge:999999:{case}", GONE, None),
    ("ack-64-bytes", "zhao", "private", "v:acknowledge:" + "1" * 50, STALE, None),
    ("ack-stranger", "stranger", "private", "v:acknowledge:{case}", ONLY_COURT, None),
    ("ack-stranger-unknown-id", "stranger", "private", "v:acknowledge:999999", GONE, None),
    # 退回
    ("ret-no-id", "zhao", "private", "v:return:", STALE, None),
    ("ret-unknown-id", "zhao", "private", "v:return:999999", GONE, None),
    ("ret-non-numeric", "zhao", "private", "v:return:abc", STALE, None),
    ("ret-huge", "zhao", "private", "v:return:{big}", STALE, None),
    ("ret-superscript-digit", "zhao", "private", "v:return:³", STALE, None),
    ("ret-extra-part", "zhao", "private", "v:return:{case}:x", STALE, None),
    (
        "ret-other-matters-addressee",
        "zhao",
        "private",
        "v:return:{case}:{acked_addressee}",
        GONE,
        None,
    ),
    ("ret-stranger", "stranger", "private", "v:return:{case}", ONLY_COURT, None),
    # 登记结果
    ("res-unknown-id", "zhao", "private", "v:resolve:999999", GONE, None),
    ("res-not-acknowledged-yet", "zhao", "private", "v:resolve:{case}", STALE, None),
    ("res-non-numeric", "zhao", "private", "v:resolve:x", STALE, None),
    ("res-huge", "zhao", "private", "v:resolve:{big}", STALE, None),
    ("res-extra-part", "zhao", "private", "v:resolve:{acked}:{case_addressee}", GONE, None),
    ("res-stranger", "stranger", "private", "v:resolve:{acked}", ONLY_COURT, None),
    # an outcome is a choice in the outcome form (forged presses in an open one: below)
    ("out-no-form-open", "zhao", "private", "f:{forged}:opt:withdrawn", STALE, None),
    ("out-no-token", "zhao", "private", "f::opt:withdrawn", STALE, None),
    ("out-stranger", "stranger", "private", "f:{forged}:opt:withdrawn", STALE, None),
    ("cancel-late", "zhao", "private", "f:{forged}:cancel", STALE, None),
    ("cancel-late-group", "zhao", "group", "f:{forged}:cancel", STALE, None),
    # the buttons of the release before the matter engine, still in chat histories (its
    # 受理 / 退回 / 登记结果 keep working: tests/test_upgrade.py)
    ("old-outcome", "zhao", "private", "v:out:{acked}:withdrawn", STALE, None),
    ("old-cancel", "zhao", "private", "v:cancel", STALE, None),
    ("old-raise-kind", "li", "private", "r:kind:consultation", STALE, None),
    ("old-raise-submit", "li", "private", "r:submit:{token}", STALE, None),
    # a matter's details and documents
    ("view-unknown-id", "li", "private", "c:view:999999", GONE, None),
    ("view-non-numeric", "li", "private", "c:view:abc", STALE, None),
    ("view-negative", "li", "private", "c:view:-1", STALE, None),
    ("view-huge", "li", "private", "c:view:{big}", STALE, None),
    ("view-superscript", "li", "private", "c:view:²", STALE, None),
    ("view-extra-part", "li", "private", "c:view:{case}:x", STALE, None),
    ("view-no-id", "li", "private", "c:view", STALE, None),
    ("view-64-bytes", "li", "private", "c:view:" + "1" * 57, STALE, None),
    ("view-stranger", "stranger", "private", "c:view:{case}", STALE, None),
    ("view-not-allowed", "wang", "private", "c:view:{case}", CANNOT_SEE, None),
    ("files-unknown-id", "li", "private", "c:files:999999", GONE, None),
    ("files-huge", "li", "private", "c:files:{big}", STALE, None),
    ("files-stranger", "stranger", "private", "c:files:{case}", STALE, None),
    ("c-unknown-action", "li", "private", "c:del:{case}", STALE, None),
    # /my pages
    ("my-non-numeric", "li", "private", "my:abc", STALE, None),
    ("my-negative", "li", "private", "my:-1", STALE, None),
    ("my-huge", "li", "private", "my:{big}", STALE, None),
    ("my-superscript", "li", "private", "my:²", STALE, None),
    ("my-extra-part", "li", "private", "my:1:2", STALE, None),
    ("my-empty", "li", "private", "my:", STALE, None),
    ("my-stranger", "stranger", "private", "my:0", STALE, None),
    # the office's member list
    ("m-not-office", "li", "private", "m:pg:0", OFFICE_ONLY, None),
    ("m-revoke-not-office", "zhao", "private", "m:ok:{own}", OFFICE_ONLY, None),
    ("m-stranger", "stranger", "private", "m:ok:{zhao_member}", OFFICE_ONLY, None),
    ("m-non-numeric", "office", "private", "m:ok:abc", STALE, None),
    ("m-negative", "office", "private", "m:ok:-1", STALE, None),
    ("m-huge", "office", "private", "m:ok:{big}", STALE, None),
    ("m-huge-page", "office", "private", "m:pg:{big}", STALE, None),
    ("m-superscript", "office", "private", "m:ok:²", STALE, None),
    ("m-extra-part", "office", "private", "m:ok:{zhao_member}:1", STALE, None),
    ("m-unknown-action", "office", "private", "m:zz:1", STALE, None),
    ("m-bare", "office", "private", "m:", STALE, None),
    ("m-unknown-member", "office", "private", "m:ok:999999", NOT_REVOKED, MEMBER_UNKNOWN),
    ("m-self", "office", "private", "m:ok:{own}", NOT_REVOKED, NO_SELF_REVOKE),
    # invites
    ("i-not-office", "li", "private", "i:org:CBS-NR", OFFICE_ONLY, None),
    ("i-make-not-office", "zhao", "private", "i:mk:CBS-OFFICE:office", OFFICE_ONLY, None),
    ("i-stranger", "stranger", "private", "i:mk:CBS-NR:department_head", OFFICE_ONLY, None),
    ("i-unknown-org", "office", "private", "i:org:NOPE", STALE, None),
    ("i-unknown-role", "office", "private", "i:mk:CBS-NR:god", STALE, None),
    ("i-role-mismatch", "office", "private", "i:mk:YB-IPC:department_head", STALE, ROLE_MISMATCH),
    ("i-missing-role", "office", "private", "i:mk:CBS-NR", STALE, None),
    ("i-extra-part", "office", "private", "i:org:CBS-NR:x", STALE, None),
    ("i-unknown-action", "office", "private", "i:zz:CBS-NR", STALE, None),
    ("i-bare", "office", "private", "i:", STALE, None),
    # the open invite links (iv:<pg|wd|ok>:<number>)
    ("iv-not-office", "li", "private", "iv:pg:0", OFFICE_ONLY, None),
    ("iv-withdraw-not-office", "zhao", "private", "iv:ok:1", OFFICE_ONLY, None),
    ("iv-stranger", "stranger", "private", "iv:ok:1", OFFICE_ONLY, None),
    ("iv-non-numeric", "office", "private", "iv:ok:abc", STALE, None),
    ("iv-negative", "office", "private", "iv:ok:-1", STALE, None),
    ("iv-huge", "office", "private", "iv:ok:{big}", STALE, None),
    ("iv-huge-page", "office", "private", "iv:pg:{big}", STALE, None),
    ("iv-superscript", "office", "private", "iv:wd:²", STALE, None),
    ("iv-full-width-digit", "office", "private", "iv:wd:１", STALE, None),
    ("iv-extra-part", "office", "private", "iv:ok:1:1", STALE, None),
    ("iv-unknown-action", "office", "private", "iv:zz:1", STALE, None),
    ("iv-bare", "office", "private", "iv:", STALE, None),
    # languages
    ("lang-unknown", "li", "private", "lang:fr", STALE, None),
    ("lang-empty", "li", "private", "lang:", STALE, None),
    ("lang-extra-part", "li", "private", "lang:en:x", STALE, None),
    ("lang-upper-case", "li", "private", "lang:EN", STALE, None),
    ("lang-stranger", "stranger", "private", "lang:xx", STALE, None),
    ("lang-group", "li", "group", "lang:fr", STALE, None),
    # prefixes the bot never uses
    ("unknown-prefix", "li", "private", "x:1", STALE, None),
    ("unknown-word", "li", "private", "hello", STALE, None),
    ("unknown-empty", "li", "private", "", STALE, None),
    ("unknown-v-action", "zhao", "private", "v:zzz:{case}", STALE, None),
    ("unknown-v-bare", "zhao", "private", "v:", STALE, None),
    ("unknown-c-bare", "li", "private", "c:", STALE, None),
    ("unknown-admin", "office", "private", "admin:grant:{own}", STALE, None),
    ("unknown-64-bytes", "li", "private", "z" * 64, STALE, None),
    ("unknown-64-bytes-multibyte", "li", "private", "v:acknowledge:" + "壹" * 16, STALE, None),
    ("unknown-emoji", "li", "private", "🙂", STALE, None),
    ("unknown-stranger", "stranger", "private", "x:1", STALE, None),
    ("unknown-group", "li", "group", "x:1", STALE, None),
    ("unknown-group-stranger", "stranger", "group", "admin:1", STALE, None),
]

# Forged raise-flow data pressed on the question the user is answering: the draft stays.
FORGED_IN_FLOW: list[tuple[str, str, str, str, str]] = [
    # (row, kind, step, callback data, the answer)
    ("kind-unknown", "consultation", "kind", "f:{token}:kind:nope", STALE),
    ("kind-empty", "consultation", "kind", "f:{token}:kind:", STALE),
    ("kind-no-arg", "consultation", "kind", "f:{token}:kind", STALE),
    ("kind-option", "consultation", "kind", "f:{token}:opt:consultation", STALE),
    ("kind-wrong-token", "consultation", "kind", "f:" + FORGED_TOKEN + ":kind:consultation", STALE),
    ("title-skip-required", "consultation", "title", "f:{token}:skip", STALE),
    ("title-option", "consultation", "title", "f:{token}:opt:YB-IPC", STALE),
    ("title-done", "consultation", "title", "f:{token}:fdone", STALE),
    ("title-submit-own-draft", "consultation", "title", "f:{token}:go", STALE),
    ("title-suggestion", "consultation", "title", "f:{token}:sug:0", STALE),
    ("title-suggestion-garbage", "consultation", "title", "f:{token}:sug:x", STALE),
    ("title-edit", "consultation", "title", "f:{token}:edit", STALE),
    ("title-kind", "consultation", "title", "f:{token}:kind:referral", STALE),
    ("title-unknown-op", "consultation", "title", "f:{token}:zz", STALE),
    ("title-noop", "consultation", "title", "f:{token}:noop", ""),
    ("addressee-unknown", "consultation", "addressee", "f:{token}:opt:NOPE", STALE),
    ("addressee-organisation", "consultation", "addressee", "f:{token}:opt:CBS-NR", STALE),
    ("addressee-urgency-value", "consultation", "addressee", "f:{token}:opt:normal", STALE),
    ("addressee-empty", "consultation", "addressee", "f:{token}:opt:", STALE),
    ("addressee-skip-required", "consultation", "addressee", "f:{token}:skip", STALE),
    ("addressee-toggle", "consultation", "addressee", "f:{token}:tog:YB-IPC", STALE),
    ("addressee-toggles-done", "consultation", "addressee", "f:{token}:tdone", STALE),
    (
        "addressee-64-bytes",
        "consultation",
        "addressee",
        "f:{token}:opt:" + "Y" * (64 - len("f:0123456789ab.0:opt:")),
        STALE,
    ),
    ("addressee-extra-part", "consultation", "addressee", "f:{token}:opt:YB-IPC:x", STALE),
    (
        "addressee-wrong-token",
        "consultation",
        "addressee",
        "f:" + FORGED_TOKEN + ":opt:YB-IPC",
        STALE,
    ),
    ("addressee-no-token", "consultation", "addressee", "f::opt:YB-IPC", STALE),
    ("urgency-addressee-value", "consultation", "urgency", "f:{token}:opt:YB-IPC", STALE),
    ("urgency-unknown", "consultation", "urgency", "f:{token}:opt:extreme", STALE),
    ("respondent-court", "referral", "respondent", "f:{token}:opt:YB-IPC", STALE),
    ("respondent-center", "referral", "respondent", "f:{token}:opt:CHIBEI-CENTER", STALE),
    ("date-past", "consultation", "reply_by", "f:{token}:date:2026-11-24", DATE_GONE),
    ("date-too-far", "consultation", "reply_by", "f:{token}:date:2027-11-27", DATE_GONE),
    ("date-nonexistent", "consultation", "reply_by", "f:{token}:date:2026-02-30", DATE_GONE),
    ("date-garbage", "consultation", "reply_by", "f:{token}:date:abc", DATE_GONE),
    ("date-empty", "consultation", "reply_by", "f:{token}:date:", STALE),  # no date at all
    ("date-time", "consultation", "reply_by", "f:{token}:time:1000", STALE),
    ("date-change-date", "consultation", "reply_by", "f:{token}:redate", STALE),
    ("calendar-overflow", "consultation", "reply_by", "f:{token}:cal:9999-12", STALE),
    ("calendar-underflow", "consultation", "reply_by", "f:{token}:cal:0001-01", STALE),
    ("calendar-month-13", "consultation", "reply_by", "f:{token}:cal:2026-13", STALE),
    ("calendar-past-month", "consultation", "reply_by", "f:{token}:cal:2020-01", STALE),
    ("calendar-far-month", "consultation", "reply_by", "f:{token}:cal:2028-01", STALE),
    ("calendar-garbage", "consultation", "reply_by", "f:{token}:cal:abc", STALE),
    ("calendar-superscript", "consultation", "reply_by", "f:{token}:cal:2026-\u00b9\u00b2", STALE),
    ("calendar-full-width", "consultation", "reply_by", "f:{token}:cal:２０２６-12", STALE),
    ("files-skip", "consultation", "documents", "f:{token}:skip", STALE),
    ("files-empty-data", "consultation", "documents", "", STALE),
    ("summary-empty-data", "consultation", "summary", "", STALE),
    ("kind-empty-data", "consultation", "kind", "", STALE),
    ("files-date", "consultation", "documents", "f:{token}:date:2026-12-01", STALE),
    ("files-calendar", "consultation", "documents", "f:{token}:quick", STALE),
    ("summary-wrong-token", "consultation", "summary", "f:" + FORGED_TOKEN + ":go", STALE),
    ("summary-no-token", "consultation", "summary", "f::go", STALE),
    ("summary-field", "consultation", "summary", "f:{token}:field:title", STALE),
    ("summary-back", "consultation", "summary", "f:{token}:back", STALE),
    ("summary-64-bytes", "consultation", "summary", "f:" + "f" * 59 + ":go", STALE),
    ("summary-extra-part", "consultation", "summary", "f:{token}:go:x", STALE),
    ("menu-unknown-field", "consultation", "menu", "f:{token}:field:nope", STALE),
    ("menu-other-kinds-field", "consultation", "menu", "f:{token}:field:applicant", STALE),
    ("menu-empty-field", "consultation", "menu", "f:{token}:field:", STALE),
    ("menu-submit", "consultation", "menu", "f:{token}:go", STALE),
]

# Forged data pressed while Zhou's form of an action is open (the outcome of an acknowledged
# matter, or the reason of a return): Zhou's draft stays, nothing is recorded.
FORGED_IN_ACTION: list[tuple[str, str, str, str, str]] = [
    # (row, the action, who presses, callback data, the answer)
    ("outcome-unknown", "resolve", "zhou", "f:{token}:opt:bogus", STALE),
    ("outcome-other-kinds", "resolve", "zhou", "f:{token}:opt:resolved", STALE),
    ("outcome-empty", "resolve", "zhou", "f:{token}:opt:", STALE),
    ("outcome-extra-part", "resolve", "zhou", "f:{token}:opt:withdrawn:x", STALE),
    ("outcome-wrong-token", "resolve", "zhou", "f:" + FORGED_TOKEN + ":opt:withdrawn", STALE),
    ("outcome-no-token", "resolve", "zhou", "f::opt:withdrawn", STALE),
    ("outcome-64-bytes", "resolve", "zhou", "f:{token}:opt:" + "w" * 45, STALE),
    ("outcome-submit", "resolve", "zhou", "f:{token}:go", STALE),
    ("outcome-skip-required", "resolve", "zhou", "f:{token}:skip", STALE),
    ("outcome-date", "resolve", "zhou", "f:{token}:date:2026-12-01", STALE),
    ("outcome-edit", "resolve", "zhou", "f:{token}:edit", STALE),
    ("outcome-field", "resolve", "zhou", "f:{token}:field:outcome", STALE),
    ("outcome-kind", "resolve", "zhou", "f:{token}:kind:consultation", STALE),
    ("outcome-noop", "resolve", "zhou", "f:{token}:noop", ""),
    ("outcome-someone-elses-zhao", "resolve", "zhao", "f:{token}:opt:withdrawn", STALE),
    ("outcome-someone-elses-li", "resolve", "li", "f:{token}:opt:withdrawn", STALE),
    ("outcome-someone-elses-stranger", "resolve", "stranger", "f:{token}:opt:withdrawn", STALE),
    ("reason-option", "return", "zhou", "f:{token}:opt:withdrawn", STALE),
    ("reason-skip-required", "return", "zhou", "f:{token}:skip", STALE),
    ("reason-suggestion-unknown", "return", "zhou", "f:{token}:sug:9", STALE),
    ("reason-files-done", "return", "zhou", "f:{token}:fdone", STALE),
    ("reason-submit", "return", "zhou", "f:{token}:go", STALE),
    ("reason-date", "return", "zhou", "f:{token}:date:2026-12-01", STALE),
    ("reason-wrong-token-cancel", "return", "zhou", "f:" + FORGED_TOKEN + ":cancel", STALE),
    ("reason-someone-elses-cancel", "return", "zhao", "f:{token}:cancel", STALE),
    ("reason-someone-elses-stranger", "return", "stranger", "f:{token}:cancel", STALE),
]


async def close_form(w: World, user: FakeUser) -> None:
    """End whatever form a row left open for a member (rows start from no open form)."""
    if await draft_of(w.bot, user.id) is not None:
        await w.bot.say(user, "/cancel")
        assert await draft_of(w.bot, user.id) is None


async def action_form(w: World, action: str) -> tuple[JSON, Draft]:
    """Zhou's form of ``action`` ("resolve" or "return") on a new matter, at its question:
    the one a previous row left, if its draft is still exactly as it was, or a new one."""
    bot, zhou = w.bot, w.zhou
    parked: dict[str, tuple[JSON, Draft]] = w.extra.setdefault("action forms", {})
    entry = parked.get(action)
    if entry is not None and await draft_of(bot, ZHOU) == entry[1]:
        return entry
    await close_form(w, zhou)
    case, since = await seed(w, f"伪造按钮（{action}）")
    if action == "resolve":
        await bot.svc.acknowledge(await bot.svc.viewer(ZHAO, "赵法官", None), case.id)
        await flush(bot)
        view = await case_view(w, zhou, case)
        since = mark(bot)
        await bot.press(zhou, "登记结果", message=view)
    else:
        note = note_for(bot, zhou, case, since)
        since = mark(bot)
        await bot.press(zhou, "退回", message=note)
    question = sent(bot, zhou, since)[-1]
    assert case.number in question["text"]
    draft = await draft_of(bot, ZHOU)
    assert draft is not None and draft.data["action"] == action
    assert draft.data["case_id"] == case.id
    parked[action] = (question, draft)
    return question, draft


class TestForgedButtons:
    @pytest.mark.parametrize(
        ("who", "where", "data", "alert", "says"),
        [pytest.param(*row, id=row_id) for row_id, *row in FORGED],
    )
    async def test_forged_press(
        self, world: World, who: str, where: str, data: str, alert: str, says: str | None
    ) -> None:
        await press_and_check(world, who, where, data, alert, says)

    @pytest.mark.parametrize(
        ("kind", "step", "data", "alert"),
        [pytest.param(*row, id=row_id) for row_id, *row in FORGED_IN_FLOW],
    )
    async def test_forged_press_in_the_raise_flow(
        self, world: World, kind: str, step: str, data: str, alert: str
    ) -> None:
        bot = world.bot
        li, asked = await at_step(world, kind, step)
        before = await draft_of(bot, li.id)
        assert before is not None
        tables = await snapshot(bot)
        since = mark(bot)
        await bot.press(li, message=asked[step], data=data.format(token=button_key(before)))
        assert (answers(bot, li)[-1]["text"] or "") == alert
        assert await draft_of(bot, li.id) == before
        assert await snapshot(bot) == tables
        assert sent(bot, li, since) == []
        await park(world, kind, step, li, asked)

    @pytest.mark.parametrize(
        ("action", "who", "data", "alert"),
        [pytest.param(*row, id=row_id) for row_id, *row in FORGED_IN_ACTION],
    )
    async def test_forged_press_in_an_action_form(
        self, world: World, action: str, who: str, data: str, alert: str
    ) -> None:
        bot = world.bot
        question, before = await action_form(world, action)
        user = person(world, who)
        message = question if who == "zhou" else bot.fake.last_message_to(user)
        tables = await snapshot(bot)
        since = mark(bot)
        await bot.press(user, message=message, data=data.format(token=button_key(before)))
        assert (answers(bot, user)[-1]["text"] or "") == alert
        assert await draft_of(bot, ZHOU) == before
        assert await snapshot(bot) == tables
        assert sent(bot, user, since) == [] and sent(bot, world.zhou, since) == []


# ---------------------------------------------------------------------------- 3b. meeting buttons

NOT_INVITED = "仅参会单位的成员可以答复。"
MEETING_GONE = "该会议已不存在。"
IN_PRIVATE = "请在与我的私聊中使用此功能：https://t.me/fuyuan_test_bot"
MEETING_ALERTS = frozenset({NOT_INVITED, MEETING_GONE, IN_PRIVATE, OFFICE_ONLY})
MEETING_TABLES: tuple[Table, ...] = (t.meetings, t.meeting_orgs, t.meeting_agenda)


async def prepare_meeting(w: World) -> dict[str, Any]:
    """Once per world: a joint meeting for the Yanbian court and the Natural Resources
    Bureau (not the Fusong court), posted to the group with its answer buttons."""
    if "meeting" in w.extra:
        return w.extra
    bot = w.bot
    office = await bot.svc.viewer(ADMIN_ID, "办公室管理员", None)
    view = await bot.svc.meetings.schedule(
        office,
        "府院联席会议",
        datetime(2026, 11, 27, 15, 0, tzinfo=SHANGHAI),
        "管委会三楼第一会议室",
        ["YB-IPC", "CBS-NR"],
        ["通报第四季度行政争议化解情况"],
    )
    since = mark(bot)
    await flush(bot)
    (post,) = [m for m in sent(bot, w.group, since) if m.get("reply_markup")]
    w.extra.update(meeting=view.id, meeting_post=post, big="9" * 30)
    return w.extra


async def meeting_snapshot(bot: Harness) -> dict[str, list[tuple[Any, ...]]]:
    tables = await snapshot(bot)
    async with bot.svc.db.read() as conn:
        for table in MEETING_TABLES:
            query = select(table).order_by(*table.c)
            tables[table.name] = [tuple(row) for row in (await conn.execute(query)).all()]
    return tables


# (row, who presses, where: on the group's post or their own private chat, data, the answer)
MEETING_FORGED: list[tuple[str, str, str, str, str]] = [
    # answers: mt:rsvp:<meeting>:<a|d|x>
    ("rsvp-no-answer", "zhao", "group", "mt:rsvp:{meeting}", STALE),
    ("rsvp-empty-answer", "zhao", "group", "mt:rsvp:{meeting}:", STALE),
    ("rsvp-unknown-answer", "zhao", "group", "mt:rsvp:{meeting}:z", STALE),
    ("rsvp-answer-spelt-out", "zhao", "group", "mt:rsvp:{meeting}:attend", STALE),
    ("rsvp-extra-part", "zhao", "group", "mt:rsvp:{meeting}:a:x", STALE),
    ("rsvp-no-id", "zhao", "group", "mt:rsvp::a", STALE),
    ("rsvp-non-numeric", "zhao", "group", "mt:rsvp:abc:a", STALE),
    ("rsvp-negative", "zhao", "group", "mt:rsvp:-1:a", STALE),
    ("rsvp-huge", "zhao", "group", "mt:rsvp:{big}:a", STALE),
    ("rsvp-superscript-digit", "zhao", "group", "mt:rsvp:²:a", STALE),
    ("rsvp-full-width-digit", "zhao", "group", "mt:rsvp:１:a", STALE),
    ("rsvp-unknown-meeting", "zhao", "group", "mt:rsvp:999999:a", MEETING_GONE),
    ("rsvp-not-invited", "sun", "group", "mt:rsvp:{meeting}:a", NOT_INVITED),
    ("rsvp-observer", "qian", "group", "mt:rsvp:{meeting}:x", NOT_INVITED),
    ("rsvp-stranger", "stranger", "group", "mt:rsvp:{meeting}:a", NOT_INVITED),
    ("rsvp-stranger-malformed", "stranger", "group", "mt:rsvp:x:a", STALE),
    ("rsvp-stranger-private", "stranger", "private", "mt:rsvp:{meeting}:d", NOT_INVITED),
    ("rsvp-private-huge", "zhao", "private", "mt:rsvp:{big}:a", STALE),
    # cancelling: mt:cx:<meeting> asks, mt:cxok:<meeting> cancels, mt:cxno keeps it
    ("cx-in-group-office", "office", "group", "mt:cx:{meeting}", IN_PRIVATE),
    ("cx-in-group-member", "li", "group", "mt:cx:{meeting}", IN_PRIVATE),
    ("cx-not-office", "li", "private", "mt:cx:{meeting}", OFFICE_ONLY),
    ("cx-stranger", "stranger", "private", "mt:cx:{meeting}", OFFICE_ONLY),
    ("cx-no-id", "office", "private", "mt:cx:", STALE),
    ("cx-non-numeric", "office", "private", "mt:cx:abc", STALE),
    ("cx-huge", "office", "private", "mt:cx:{big}", STALE),
    ("cx-superscript-digit", "office", "private", "mt:cx:²", STALE),
    ("cx-extra-part", "office", "private", "mt:cx:{meeting}:x", STALE),
    ("cx-unknown-meeting", "office", "private", "mt:cx:999999", MEETING_GONE),
    ("cxok-in-group-office", "office", "group", "mt:cxok:{meeting}", IN_PRIVATE),
    ("cxok-in-group-stranger", "stranger", "group", "mt:cxok:{meeting}", IN_PRIVATE),
    ("cxok-not-office", "li", "private", "mt:cxok:{meeting}", OFFICE_ONLY),
    ("cxok-stranger", "stranger", "private", "mt:cxok:{meeting}", OFFICE_ONLY),
    ("cxok-non-numeric", "office", "private", "mt:cxok:x", STALE),
    ("cxok-huge", "office", "private", "mt:cxok:{big}", STALE),
    ("cxok-full-width-digit", "office", "private", "mt:cxok:１", STALE),
    ("cxok-no-id", "office", "private", "mt:cxok", STALE),
    ("cxok-unknown-meeting", "office", "private", "mt:cxok:999999", MEETING_GONE),
    ("cxno-in-group", "stranger", "group", "mt:cxno", IN_PRIVATE),
    ("cxno-with-id", "office", "private", "mt:cxno:{meeting}", STALE),
    # rescheduling: mt:rs:<meeting> (from /meetings)
    ("rs-in-group", "office", "group", "mt:rs:{meeting}", STALE),
    ("rs-not-office", "li", "private", "mt:rs:{meeting}", OFFICE_ONLY),
    ("rs-non-numeric", "office", "private", "mt:rs:x", STALE),
    ("rs-huge", "office", "private", "mt:rs:{big}", STALE),
    ("rs-extra-part", "office", "private", "mt:rs:{meeting}:1", STALE),
    ("rs-unknown-meeting", "office", "private", "mt:rs:999999", MEETING_GONE),
    # the rest of the namespace
    ("noop-in-group", "stranger", "group", "mt:noop", ""),
    ("unknown-op-in-group", "stranger", "group", "mt:zz:{meeting}", STALE),
    ("unknown-op-private", "li", "private", "mt:zz", STALE),
    ("bare-in-group", "stranger", "group", "mt:", STALE),
    ("namespace-only-in-group", "stranger", "group", "mt", STALE),
    ("64-bytes-in-group", "li", "group", "mt:rsvp:" + "1" * 52 + ":a", STALE),
    ("old-form-step-in-group", "stranger", "group", "mt:date:2026-12-01", STALE),
]


class TestMeetingButtons:
    """Forged and malformed meeting buttons: answered, nothing recorded, nothing posted, and
    the group's post keeps its text and its answer buttons (no edit reaches the group)."""

    @pytest.mark.parametrize(
        ("who", "where", "data", "alert"),
        [pytest.param(*row, id=row_id) for row_id, *row in MEETING_FORGED],
    )
    async def test_forged_meeting_press(
        self, world: World, who: str, where: str, data: str, alert: str
    ) -> None:
        bot, ctx = world.bot, await prepare_meeting(world)
        user = person(world, who)
        post = ctx["meeting_post"]
        message = post if where == "group" else bot.fake.last_message_to(user)
        post_before = bot.fake.message(world.group, post["message_id"])
        before = await meeting_snapshot(bot)
        since = mark(bot)
        await bot.press(user, message=message, data=data.format(**ctx))
        answer = answers(bot, user)[-1]
        assert (answer["text"] or "") == alert
        if alert in MEETING_ALERTS:
            assert answer["show_alert"] is True
        assert await meeting_snapshot(bot) == before
        assert sent(bot, user, since) == [] and sent(bot, world.group, since) == []
        assert bot.fake.message(world.group, post["message_id"]) == post_before
        assert bot.labels(post_before) == ["✅ 出席", "👤 委派代表参加", "✖ 不能出席"]
        assert not [
            call.method
            for call in bot.fake.calls[since:]
            if call.method.startswith("edit") and int(call.params["chat_id"]) == world.group.id
        ]


# ---------------------------------------------------------------------------- 4. wrong person, wrong chat

WRONG_ANSWERERS = ("li", "wang", "sun", "qian", "office", "wu_revoked", "stranger")
ANSWER_BUTTONS = (
    ("ack", "v:acknowledge:{case}"),
    ("ack-addressee", "v:acknowledge:{case}:{case_addressee}"),
    ("return", "v:return:{case}"),
    ("record-outcome", "v:resolve:{acked}"),
    # the court's follow-up actions on an acknowledged matter
    ("note", "v:note:{acked}"),
    ("ask-for-more", "v:request_info:{acked}"),
    ("assign", "v:assign:{acked}"),
)
WRONG_PERSON: list[tuple[str, str, str, str]] = [
    # (row, who presses in their private chat, callback data, the answer)
    *(
        (f"{who}-{button}", who, data, OBSERVER_CANNOT_ACT if who == "qian" else ONLY_COURT)
        for who in WRONG_ANSWERERS
        for button, data in ANSWER_BUTTONS
    ),
    ("sun-view", "sun", "c:view:{case}", CANNOT_SEE),
    ("sun-files", "sun", "c:files:{case}", CANNOT_SEE),
    ("wang-files", "wang", "c:files:{case}", CANNOT_SEE),
    ("wu_revoked-view", "wu_revoked", "c:view:{case}", STALE),
    ("wu_revoked-files", "wu_revoked", "c:files:{case}", STALE),
    ("wu_revoked-my", "wu_revoked", "my:0", STALE),
    ("wu_revoked-invite", "wu_revoked", "i:org:YB-IPC", OFFICE_ONLY),
]

# Presses on the committee group's post of a matter (the bot puts only a link there).
ON_GROUP_POST: list[tuple[str, str, str, str]] = [
    ("zhao-ack", "zhao", "v:acknowledge:{case}", PRIVATE_ONLY),
    ("zhao-return", "zhao", "v:return:{case}", PRIVATE_ONLY),
    ("zhao-record-outcome", "zhao", "v:resolve:{acked}", PRIVATE_ONLY),
    ("zhou-note", "zhou", "v:note:{acked}", PRIVATE_ONLY),
    ("zhou-outcome", "zhou", "f:{forged}:opt:opinion_given", STALE),
    ("li-ack", "li", "v:acknowledge:{case}", PRIVATE_ONLY),
    ("li-note", "li", "v:raiser_note:{case}", PRIVATE_ONLY),
    ("stranger-ack", "stranger", "v:acknowledge:{case}", PRIVATE_ONLY),
    ("qian-view", "qian", "c:view:{case}", PRIVATE_ONLY),
    ("li-files", "li", "c:files:{case}", PRIVATE_ONLY),
    ("li-my", "li", "my:0", PRIVATE_ONLY),
    ("office-members", "office", "m:pg:0", PRIVATE_ONLY),
    ("office-revoke-ask", "office", "m:rv:{zhao_member}", PRIVATE_ONLY),
    ("office-revoke", "office", "m:ok:{zhao_member}", PRIVATE_ONLY),
    ("office-invite-org", "office", "i:org:CBS-NR", PRIVATE_ONLY),
    ("office-invite-link", "office", "i:mk:CBS-NR:department_head", PRIVATE_ONLY),
    ("li-invite", "li", "i:org:CBS-NR", PRIVATE_ONLY),
    ("office-invites", "office", "iv:pg:0", PRIVATE_ONLY),
    ("office-invite-withdraw", "office", "iv:ok:1", PRIVATE_ONLY),
    ("li-raise", "li", "f:{forged}:kind:consultation", STALE),
    ("li-own-submit", "li", "f:{token}:go", "已提请过，编号为{number}。"),
    ("zhao-cancel-return", "zhao", "f:{forged}:cancel", STALE),
    ("li-unknown", "li", "x:1", STALE),
]

GROUP_COMMANDS = (
    "/new",
    "/case {number}",
    "/my",
    "/invite",
    "/members",
    "/digest",
    "/start",
    "/cancel",
)
COMMANDS_IN_GROUP: list[tuple[str, str, str]] = [
    *(
        (f"{who}-{cmd.split()[0][1:]}", who, cmd)
        for who in ("li", "office", "stranger")
        for cmd in GROUP_COMMANDS
    ),
    ("li-new-addressed-to-the-bot", "li", "/new@fuyuan_test_bot"),
    ("zhao-case-addressed-to-the-bot", "zhao", "/case@fuyuan_test_bot {number}"),
]

HELP = object()  # the help text
SHOWN = object()  # the matter's details

# Typed command arguments and deep links (/start payloads) in private chats.
TYPED: list[tuple[str, str, str, object]] = [
    ("case-unknown-number", "li", "/case 研判〔2026〕999号", NOT_FOUND),
    ("case-future-year", "li", "/case 研判〔9999〕1号", NOT_FOUND),
    ("case-eight-digit-number", "li", "/case 研判〔2026〕12345678号", BAD_NUMBER),
    ("case-5000-characters", "li", "/case " + "协" * 5000, BAD_NUMBER),
    ("case-html", "li", "/case <b>{number}</b>", BAD_NUMBER),
    ("case-sql", "li", "/case 1; DROP TABLE cases", BAD_NUMBER),
    ("case-zero-width", "li", "/case {number}\u200b", SHOWN),
    ("case-rtl-mark", "li", "/case \u200f{number}", SHOWN),
    ("case-not-allowed-department", "wang", "/case {number}", CANNOT_VIEW),
    ("case-not-allowed-court", "sun", "/case {number}", CANNOT_VIEW),
    ("case-revoked", "wu_revoked", "/case {number}", not_member_text(WU)),
    ("case-stranger", "stranger", "/case {number}", not_member_text(STRANGER)),
    ("start-case-unknown", "li", "/start c_999999", NOT_FOUND),
    ("start-case-huge", "li", "/start c_{big}", HELP),
    ("start-case-superscript", "li", "/start c_²", HELP),
    ("start-case-negative", "li", "/start c_-1", HELP),
    ("start-case-not-allowed", "wang", "/start c_{case}", CANNOT_VIEW),
    ("start-case-revoked", "wu_revoked", "/start c_{case}", not_member_text(WU)),
    ("start-case-stranger", "stranger", "/start c_{case}", not_member_text(STRANGER)),
    ("start-script", "li", "/start <script>", HELP),
    ("start-long-payload", "li", "/start " + "x" * 64, HELP),
    ("start-invite-html", "li", "/start i_<b>x</b>", INVITE_UNKNOWN),
    ("start-invite-long", "stranger", "/start i_" + "A" * 62, INVITE_UNKNOWN),
    ("start-invite-empty", "stranger", "/start i_", INVITE_UNKNOWN),
    ("bindgroup-private-office", "office", "/bindgroup", BINDGROUP_USAGE),
    ("bindgroup-private-member", "li", "/bindgroup", BINDGROUP_USAGE),
    ("bindgroup-private-stranger", "stranger", "/bindgroup", BINDGROUP_USAGE),
    ("invite-not-office", "zhao", "/invite", ADMIN_ONLY),
    ("members-revoked", "wu_revoked", "/members", ADMIN_ONLY),
    ("digest-not-office", "qian", "/digest", ADMIN_ONLY),
]


class TestWrongPersonOrChat:
    @pytest.mark.parametrize(
        ("who", "data", "alert"), [pytest.param(*row, id=row_id) for row_id, *row in WRONG_PERSON]
    )
    async def test_pressed_by_the_wrong_person(
        self, world: World, who: str, data: str, alert: str
    ) -> None:
        await press_and_check(world, who, "private", data, alert)

    @pytest.mark.parametrize(
        ("who", "data", "alert"), [pytest.param(*row, id=row_id) for row_id, *row in ON_GROUP_POST]
    )
    async def test_pressed_on_the_group_post(
        self, world: World, who: str, data: str, alert: str
    ) -> None:
        await press_and_check(world, who, "group", data, alert)

    @pytest.mark.parametrize(
        ("who", "command"), [pytest.param(*row, id=row_id) for row_id, *row in COMMANDS_IN_GROUP]
    )
    async def test_private_command_in_the_group(self, world: World, who: str, command: str) -> None:
        bot, ctx = world.bot, await prepare_cases(world)
        user = person(world, who)
        before = await snapshot(bot)
        since = mark(bot)
        await bot.say(user, command.format(**ctx), chat=world.group)
        assert [m["text"] for m in sent(bot, world.group, since)] == [PRIVATE_ONLY]
        assert sent(bot, user, since) == []
        assert await snapshot(bot) == before

    @pytest.mark.parametrize(
        ("who", "typed", "expected"), [pytest.param(*row, id=row_id) for row_id, *row in TYPED]
    )
    async def test_typed_argument(
        self, world: World, who: str, typed: str, expected: object
    ) -> None:
        bot, ctx = world.bot, await prepare_cases(world)
        user = person(world, who)
        before = await snapshot(bot)
        since = mark(bot)
        await bot.say(user, typed.format(**ctx))
        shown = texts_of(sent(bot, user, since))
        if expected is HELP:
            assert shown.startswith(HELP_START) and "/my" in shown
        elif expected is SHOWN:
            assert shown.startswith(f"{ctx['number']} · 重大事项研判")
        else:
            assert shown == expected
        assert await snapshot(bot) == before

    async def test_bindgroup_in_the_group_by_others(self, world: World) -> None:
        bot = world.bot
        for user in (world.li, world.zhao, world.stranger):
            before = await snapshot(bot)
            since = mark(bot)
            await bot.say(user, "/bindgroup", chat=world.group)
            assert [m["text"] for m in sent(bot, world.group, since)] == [ADMIN_ONLY]
            assert await snapshot(bot) == before

    async def test_a_language_chosen_on_a_group_message(self, world: World) -> None:
        """/lang works in the group, but a press must not rewrite the group's message."""
        bot, group = world.bot, world.group
        since = mark(bot)
        await bot.say(world.wang, "/lang", chat=group)
        (choice,) = sent(bot, group, since)
        await bot.press(world.wang, "English", message=choice)
        assert answers(bot, world.wang)[-1]["text"] == "Language set to English."
        assert bot.fake.message(group, choice["message_id"]) == choice
        (user,) = await rows(bot, t.users, t.users.c.user_id == WANG)
        assert user.lang == "en"
        await bot.press(world.wang, "简体中文", message=choice)
        assert answers(bot, world.wang)[-1]["text"] == "语言已设置为简体中文。"
        (user,) = await rows(bot, t.users, t.users.c.user_id == WANG)
        assert user.lang == "zh_CN"


# ---------------------------------------------------------------------------- 5. stale buttons


async def case_view(w: World, user: FakeUser, case: Case) -> JSON:
    since = mark(w.bot)
    await w.bot.say(user, f"/case {case.number}")
    return sent(w.bot, user, since)[-1]


async def moved_on(w: World, state: str) -> tuple[Case, dict[str, JSON]]:
    """A matter for the Yanbian court: Zhao keeps its notification and views while Zhou
    acknowledges, returns, or acknowledges it and records its outcome."""
    bot, zhao, zhou = w.bot, w.zhao, w.zhou
    await close_form(w, zhao)
    case, since = await seed(w, f"过期按钮测试（{state}）")
    held = {"note": note_for(bot, zhao, case, since), "view": await case_view(w, zhao, case)}
    zhou_note = note_for(bot, zhou, case, since)
    if state == "returned":
        await bot.press(zhou, "退回", message=zhou_note)
        await bot.say(zhou, "不属于本院管辖。")
        return case, held
    await bot.press(zhou, "受理", message=zhou_note)
    if state == "resolved":
        held["view_acked"] = await case_view(w, zhao, case)
        since = mark(bot)
        await bot.press(zhao, "登记结果", message=held["view_acked"])
        held["menu"] = sent(bot, zhao, since)[-1]  # Zhao's outcome form asks, and stays open
        since = mark(bot)
        await bot.press(zhou, "登记结果", message=await case_view(w, zhou, case))
        await bot.press(zhou, "已出具研判意见", message=sent(bot, zhou, since)[-1])
    return case, held


STALE_BUTTONS: list[tuple[str, str, str, str, str]] = [
    # (row, what happened, Zhao's old message, the button, the answer)
    ("acknowledged-note-ack", "acknowledged", "note", "受理", acked_by("周法官")),
    ("acknowledged-note-return", "acknowledged", "note", "退回", acked_by("周法官")),
    ("acknowledged-view-ack", "acknowledged", "view", "受理", acked_by("周法官")),
    ("acknowledged-view-return", "acknowledged", "view", "退回", acked_by("周法官")),
    ("returned-note-ack", "returned", "note", "受理", returned_by("周法官")),
    ("returned-note-return", "returned", "note", "退回", returned_by("周法官")),
    ("returned-view-ack", "returned", "view", "受理", returned_by("周法官")),
    ("returned-view-return", "returned", "view", "退回", returned_by("周法官")),
    ("resolved-note-ack", "resolved", "note", "受理", ALREADY_RESOLVED),
    ("resolved-note-return", "resolved", "note", "退回", ALREADY_RESOLVED),
    ("resolved-view-ack", "resolved", "view", "受理", ALREADY_RESOLVED),
    ("resolved-view-return", "resolved", "view", "退回", ALREADY_RESOLVED),
    ("resolved-view-record-outcome", "resolved", "view_acked", "登记结果", ALREADY_RESOLVED),
    ("resolved-outcome-same", "resolved", "menu", "已出具研判意见", ALREADY_RESOLVED),
    ("resolved-outcome-other", "resolved", "menu", "已撤回", ALREADY_RESOLVED),
]

# Old raise-flow buttons pressed after the conversation moved past their step.
STALE_IN_FLOW: list[tuple[str, str, str, str, str]] = [
    # (row, kind, the step the user is at, the step whose button is pressed, its data)
    ("kind-button-at-title", "consultation", "title", "kind", "f:{token}:kind:consultation"),
    ("kind-button-at-summary", "consultation", "summary", "kind", "f:{token}:kind:referral"),
    (
        "respondent-button-at-addressee",
        "referral",
        "addressee",
        "respondent",
        "f:{token}:opt:CBS-NR",
    ),
    (
        "addressee-button-at-urgency",
        "consultation",
        "urgency",
        "addressee",
        "f:{token}:opt:YB-IPC",
    ),
    ("addressee-button-at-date", "consultation", "reply_by", "addressee", "f:{token}:opt:YB-IPC"),
    ("urgency-button-at-files", "consultation", "documents", "urgency", "f:{token}:opt:urgent"),
    (
        "date-button-at-files",
        "consultation",
        "documents",
        "reply_by",
        "f:{token}:date:2026-12-02",
    ),
    ("calendar-button-at-summary", "consultation", "summary", "reply_by", "f:{token}:cal:2026-12"),
    ("no-date-button-at-files", "consultation", "documents", "reply_by", "f:{token}:skip"),
    ("no-date-button-at-summary", "consultation", "summary", "reply_by", "f:{token}:skip"),
    ("done-button-at-summary", "consultation", "summary", "documents", "f:{token}:fdone"),
    ("summary-submit-in-field-menu", "consultation", "menu", "summary", "f:{token}:go"),
    ("summary-edit-in-field-menu", "consultation", "menu", "summary", "f:{token}:edit"),
]


class TestStaleButtons:
    @pytest.mark.parametrize(
        ("state", "source", "label", "alert"),
        [pytest.param(*row, id=row_id) for row_id, *row in STALE_BUTTONS],
    )
    async def test_stale_answer_button(
        self, world: World, state: str, source: str, label: str, alert: str
    ) -> None:
        bot, zhao = world.bot, world.zhao
        case, held = await moved_on(world, state)
        before = await bot.svc.get_case(case.id)
        events = await actions_of(bot, case)
        draft = await draft_of(bot, ZHAO)  # Zhao's outcome form, opened before Zhou's outcome
        assert (draft is not None) == (state == "resolved")
        message = held[source]
        since = mark(bot)
        # Pressed on Zhao's copy as he still had it: a notice is meanwhile brought up to
        # date (its old buttons gone), but a client may show the old one a moment longer.
        data = next(d for row in bot.fake.buttons(message) for text, d in row if label in text)
        await bot.press(zhao, message=message, data=data)
        answer = answers(bot, zhao)[-1]
        assert "reply_markup" not in bot.fake.message(zhao, message["message_id"])
        assert await bot.svc.get_case(case.id) == before
        assert await actions_of(bot, case) == events
        if source == "menu":
            # The outcome form acts at its last step: its question becomes what happened
            # instead, and the form is over.
            assert (answer["text"] or "") == ""
            assert bot.fake.message(zhao, message["message_id"])["text"] == alert
            assert sent(bot, zhao, since) == []
            assert await draft_of(bot, ZHAO) is None
            return
        assert (answer["text"], answer["show_alert"]) == (alert, True)
        assert await draft_of(bot, ZHAO) == draft  # an open form is not touched
        assert sent(bot, zhao, since) == []

    @pytest.mark.parametrize(
        ("other", "shown"),
        [
            pytest.param("acknowledged", acked_by("周法官"), id="acknowledged-meanwhile"),
            pytest.param("returned", returned_by("周法官"), id="returned-meanwhile"),
        ],
    )
    async def test_a_return_reason_after_the_matter_moved_on(
        self, world: World, other: str, shown: str
    ) -> None:
        bot, zhao, zhou = world.bot, world.zhao, world.zhou
        await close_form(world, zhao)
        case, since = await seed(world, f"退回途中（{other}）")
        await bot.press(zhao, "退回", message=note_for(bot, zhao, case, since))
        zhou_note = note_for(bot, zhou, case, since)
        if other == "acknowledged":
            await bot.press(zhou, "受理", message=zhou_note)
        else:
            await bot.press(zhou, "退回", message=zhou_note)
            await bot.say(zhou, "周法官的理由")
        before = await bot.svc.get_case(case.id)
        since = mark(bot)
        await bot.say(zhao, "赵法官的理由")
        assert texts_of(sent(bot, zhao, since)) == shown
        assert await bot.svc.get_case(case.id) == before
        assert (await actions_of(bot, case)).count("return") == (other == "returned")
        assert await draft_of(bot, ZHAO) is None

    @pytest.mark.parametrize(
        ("kind", "at", "old", "data"),
        [pytest.param(*row, id=row_id) for row_id, *row in STALE_IN_FLOW],
    )
    async def test_an_old_raise_button(
        self, world: World, kind: str, at: str, old: str, data: str
    ) -> None:
        bot = world.bot
        li, asked = await at_step(world, kind, at)
        before = await draft_of(bot, li.id)
        assert before is not None
        tables = await snapshot(bot)
        since = mark(bot)
        await bot.press(li, message=asked[old], data=data.format(token=button_key(before)))
        assert answers(bot, li)[-1]["text"] == STALE
        assert await draft_of(bot, li.id) == before
        assert await snapshot(bot) == tables
        assert sent(bot, li, since) == []
        await park(world, kind, at, li, asked)

    async def test_a_my_page_that_no_longer_exists(self, world: World) -> None:
        bot = world.bot
        hr = await enrol(world, "CBS-HRSS", name="人社局负责人")
        cases = [await seed_case(bot, hr.id, "人社局负责人", f"第{n}件") for n in range(1, 7)]
        since = mark(bot)
        await bot.say(hr, "/my")
        (listing,) = sent(bot, hr, since)
        assert bot.labels(listing)[-5] == "下一页 ▶"  # above the row of /my's lists
        zhou = await bot.svc.viewer(ZHOU, "周法官", None)
        await bot.svc.return_case(zhou, cases[0].id, "不属于本院管辖。")  # 5 open: one page
        since = mark(bot)
        await bot.press(hr, "下一页", message=listing)
        assert answers(bot, hr)[-1]["text"] == STALE
        assert bot.fake.message(hr, listing["message_id"]) == listing
        assert sent(bot, hr, since) == []

    async def test_a_members_page_that_no_longer_exists(self, world: World) -> None:
        bot, office = world.bot, world.office
        active = await count(bot, t.members, t.members.c.revoked_at.is_(None))
        newcomers = [await enrol(world, "CBS-MARKET", name=f"市场局{n}") for n in range(8)]
        last = -(-(active + 8) // 8) - 1  # the last page, which only the newcomers fill
        since = mark(bot)
        await bot.say(office, "/members")
        (listing,) = sent(bot, office, since)
        if last > 1:
            await bot.press(office, message=listing, data=f"m:pg:{last - 1}")
        page = bot.fake.message(office, listing["message_id"])
        assert bot.fake.buttons(page)[-1][-1] == ("下一页 ▶", f"m:pg:{last}")
        for user in newcomers:
            await revoke(bot, user.id)
        before = await snapshot(bot)
        await bot.press(office, "下一页", message=page)
        assert answers(bot, office)[-1]["text"] == STALE
        assert bot.fake.message(office, listing["message_id"]) == page
        assert await snapshot(bot) == before


# ---------------------------------------------------------------------------- 6. double presses

LONG_NAME = ("🏔" * 64, "🌲" * 64)  # Telegram's longest first and last names


async def deliver_together(bot: Harness) -> None:
    """Process every queued update back to back (as polling delivers two taps made before
    the bot answered the first). Telegram refuses a second identical edit as "not modified";
    the bot ignores that, and so does this check — but nothing else."""
    since = mark(bot)
    bot.allowed_errors.add(400)
    try:
        await bot.deliver()
    finally:
        bot.allowed_errors.discard(400)
    refused = [c for c in bot.fake.calls[since:] if not c.ok]
    assert all("not modified" in c.response["description"] for c in refused), refused


async def action_counts(bot: Harness) -> dict[str, int]:
    async with bot.svc.db.read() as conn:
        result = await conn.execute(
            select(t.events.c.action, func.count()).group_by(t.events.c.action)
        )
        return {action: int(n) for action, n in result.all()}


Setup = Callable[[World], Awaitable[tuple[Case | None, dict[str, FakeUser], dict[str, JSON]]]]


async def _long_named_judge(w: World) -> FakeUser:
    if "long" not in w.extra:
        first, last = LONG_NAME
        user = w.bot.fake.user(w.new_user_id(), first, last_name=last)
        await w.bot.join(user, "YB-IPC", Role.COURT_STAFF)
        w.extra["long"] = user
    return w.extra["long"]  # type: ignore[no-any-return]


async def setup_notified(w: World) -> tuple[Case | None, dict[str, FakeUser], dict[str, JSON]]:
    long = await _long_named_judge(w)
    case, since = await seed(w, "同时按下的受理")
    people = {"zhao": w.zhao, "zhou": w.zhou, "long": long}
    return case, people, {who: note_for(w.bot, user, case, since) for who, user in people.items()}


async def setup_outcome_menu(w: World) -> tuple[Case | None, dict[str, FakeUser], dict[str, JSON]]:
    await close_form(w, w.zhao)
    case, _ = await seed(w, "同时按下的办理结果")
    await w.bot.svc.acknowledge(await w.bot.svc.viewer(ZHAO, "赵法官", None), case.id)
    since = mark(w.bot)
    await w.bot.press(w.zhao, "登记结果", message=await case_view(w, w.zhao, case))
    return case, {"zhao": w.zhao}, {"zhao": sent(w.bot, w.zhao, since)[-1]}


def setup_raise_step(kind: str, step: str) -> Setup:
    async def setup(w: World) -> tuple[Case | None, dict[str, FakeUser], dict[str, JSON]]:
        li = await enrol(w)
        asked = await to_step(w, li, kind, step)
        return None, {"li": li}, {"li": asked[step]}

    return setup


async def setup_revoke_confirm(
    w: World,
) -> tuple[Case | None, dict[str, FakeUser], dict[str, JSON]]:
    await enrol(w, "CBS-MARKET", name="待撤销")
    since = mark(w.bot)
    await w.bot.say(w.office, "/members")
    (listing,) = sent(w.bot, w.office, since)
    # Page to the newcomer (the list is sorted by organisation, then name).
    while not any(label == "撤销待撤销" for label in w.bot.labels(listing)):
        await w.bot.press(w.office, "下一页", message=listing)
        listing = w.bot.fake.message(w.office, listing["message_id"])
    await w.bot.press(w.office, "撤销待撤销", message=listing)
    return (
        None,
        {"office": w.office},
        {"office": w.bot.fake.message(w.office, listing["message_id"])},
    )


SETUPS: dict[str, Setup] = {
    "notified": setup_notified,
    "outcome-menu": setup_outcome_menu,
    "kind": setup_raise_step("consultation", "kind"),
    "addressee": setup_raise_step("consultation", "addressee"),
    "documents": setup_raise_step("consultation", "documents"),
    "summary": setup_raise_step("consultation", "summary"),
    "revoke-confirm": setup_revoke_confirm,
}

SUBMITTED_AS = "已提请：{number}"
ALREADY_SUBMITTED = "已提请过，编号为{number}。"
ACKED = "已受理{number}。"
LONG_ACKED = acked_by("🏔" * 31 + "…")

DOUBLE: list[tuple[str, str, tuple[tuple[str, str], ...], dict[str, list[str]], dict[str, int]]] = [
    # (row, setup, presses delivered back to back, answers per presser, audit events added)
    (
        "ack-twice",
        "notified",
        (("zhao", "受理"), ("zhao", "受理")),
        {"zhao": [ACKED, acked_by("赵法官")]},
        {"acknowledge": 1},
    ),
    (
        "ack-by-two-judges",
        "notified",
        (("zhao", "受理"), ("zhou", "受理")),
        {"zhao": [ACKED], "zhou": [acked_by("赵法官")]},
        {"acknowledge": 1},
    ),
    (
        "ack-and-return",
        "notified",
        (("zhao", "受理"), ("zhou", "退回")),
        {"zhao": [ACKED], "zhou": [acked_by("赵法官")]},
        {"acknowledge": 1},
    ),
    (
        "return-and-ack",
        "notified",
        (("zhou", "退回"), ("zhao", "受理")),
        {"zhou": [""], "zhao": [ACKED]},
        {"acknowledge": 1},
    ),
    ("return-twice", "notified", (("zhao", "退回"), ("zhao", "退回")), {"zhao": ["", ""]}, {}),
    (
        "ack-twice-longest-name",
        "notified",
        (("long", "受理"), ("long", "受理")),
        {"long": [ACKED, LONG_ACKED]},
        {"acknowledge": 1},
    ),
    (
        "ack-by-two-then-longest-name",
        "notified",
        (("long", "受理"), ("zhao", "受理")),
        {"long": [ACKED], "zhao": [LONG_ACKED]},
        {"acknowledge": 1},
    ),
    (
        "submit-twice",
        "summary",
        (("li", "提请"), ("li", "提请")),
        {"li": [SUBMITTED_AS, ALREADY_SUBMITTED]},
        {"submitted": 1},
    ),
    (
        "submit-and-cancel",
        "summary",
        (("li", "提请"), ("li", "取消")),
        {"li": [SUBMITTED_AS, STALE]},
        {"submitted": 1},
    ),
    ("cancel-and-submit", "summary", (("li", "取消"), ("li", "提请")), {"li": ["", STALE]}, {}),
    (
        "outcome-twice",
        "outcome-menu",
        (("zhao", "已出具研判意见"), ("zhao", "已出具研判意见")),
        {"zhao": [OUTCOME_RECORDED, STALE]},  # the first press ended the outcome form
        {"resolve": 1},
    ),
    (
        "two-outcomes",
        "outcome-menu",
        (("zhao", "已出具研判意见"), ("zhao", "已撤回")),
        {"zhao": [OUTCOME_RECORDED, STALE]},
        {"resolve": 1},
    ),
    (
        "kind-twice",
        "kind",
        (("li", "重大事项研判"), ("li", "重大事项研判")),
        {"li": ["", STALE]},
        {},
    ),
    (
        "addressee-twice",
        "addressee",
        (("li", "延边中院"), ("li", "延边中院")),
        {"li": ["", STALE]},
        {},
    ),
    ("done-twice", "documents", (("li", "完成"), ("li", "完成")), {"li": ["", STALE]}, {}),
    (
        "revoke-twice",
        "revoke-confirm",
        (("office", "确认撤销"), ("office", "确认撤销")),
        {"office": [REVOKED, REVOKED]},
        {"member_revoked": 1},
    ),
]


class TestDoublePresses:
    @pytest.mark.parametrize(
        ("setup", "presses", "expected", "added"),
        [pytest.param(*row, id=row_id) for row_id, *row in DOUBLE],
    )
    async def test_pressed_at_the_same_instant(
        self,
        world: World,
        setup: str,
        presses: tuple[tuple[str, str], ...],
        expected: dict[str, list[str]],
        added: dict[str, int],
    ) -> None:
        bot = world.bot
        case, people, messages = await SETUPS[setup](world)
        counts = await action_counts(bot)
        cases_before = await count(bot, t.cases)
        seen = {who: len(answers(bot, people[who])) for who in expected}
        for who, label in presses:  # both updates exist before the bot sees the first
            bot.fake.press(people[who], messages[who], label)
        await deliver_together(bot)

        after = await action_counts(bot)
        assert {a: n - counts.get(a, 0) for a, n in after.items() if n != counts.get(a, 0)} == added
        assert await count(bot, t.cases) == cases_before + added.get("submitted", 0)
        if case is None and "li" in people and added.get("submitted"):
            case = await bot.svc.get_case((await newest_case(bot)).id)
        number = case.number if case is not None else ""
        got: dict[str, list[str]] = {}
        for who, texts in expected.items():
            got[who] = [a["text"] or "" for a in answers(bot, people[who])[seen[who] :]]
            assert got[who] == [text.format(number=number) for text in texts]
            assert all(utf16_len(text) <= 200 for text in got[who])
        if case is not None and setup == "outcome-menu":
            assert (await bot.svc.get_case(case.id)).outcome == "opinion_given"
        if setup in ("kind", "addressee", "documents"):
            draft = await draft_of(bot, people["li"].id)
            waiting = {
                "kind": "AWAITING_TEXT",
                "addressee": "AWAITING_CHOICE",
                "documents": "AWAITING_CONFIRMATION",
            }
            assert draft is not None and draft.state == waiting[setup]
        if setup == "summary":
            assert await draft_of(bot, people["li"].id) is None
        # A 退回 press that was not refused opened a prompt for the reason; no other did.
        answered = {who: iter(texts) for who, texts in got.items()}
        prompted = {who for who, label in presses if next(answered[who]) == "" and label == "退回"}
        for who in ("zhao", "zhou"):
            user = person(world, who)
            assert (await draft_of(bot, user.id) is not None) == (who in prompted)
            if who in prompted:
                await bot.say(user, "/cancel")
                assert await draft_of(bot, user.id) is None

    async def test_return_pressed_twice_then_one_reason(self, world: World) -> None:
        bot, zhao = world.bot, world.zhao
        case, since = await seed(world, "退回按了两次")
        note = note_for(bot, zhao, case, since)
        bot.fake.press(zhao, note, "退回")
        bot.fake.press(zhao, note, "退回")
        await deliver_together(bot)
        assert len(await rows(bot, t.drafts, t.drafts.c.user_id == ZHAO)) == 1
        bot.fake.send_text(zhao, "不属于本院管辖。")
        bot.fake.send_text(zhao, "不属于本院管辖。")  # the reason sent twice as well
        await deliver_together(bot)
        assert await actions_of(bot, case) == ["submitted", "return"]
        after = await bot.svc.get_case(case.id)
        assert (after.status, after.return_reason) == ("returned", "不属于本院管辖。")
        assert bot.last_text(zhao) == HINT  # the second one is just a message now
        assert await draft_of(bot, ZHAO) is None


# ---------------------------------------------------------------------------- 7. files and other kinds of message

MB = 1024 * 1024
STICKER = {
    "sticker": {
        "file_id": "CAACAgUAAxkBAAIBfakeStickerId",
        "file_unique_id": "AgADfakeSticker",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "👍",
    }
}
LOCATION = {"location": {"latitude": 42.0417, "longitude": 128.0568}}
CONTACT = {"contact": {"phone_number": "+8613800000000", "first_name": "张三"}}
VOICE = {
    "voice": {
        "file_id": "AwACAgUAAxkBAAIBfakeVoice",
        "file_unique_id": "AgADfakeVoice",
        "duration": 3,
        "mime_type": "audio/ogg",
        "file_size": 12_000,
    }
}
VIDEO = {
    "video": {
        "file_id": "BAACAgUAAxkBAAIBfakeVideo",
        "file_unique_id": "AgADfakeVideo",
        "width": 640,
        "height": 480,
        "duration": 5,
        "file_size": 900_000,
    }
}
DICE = {"dice": {"emoji": "🎲", "value": 3}}
ODD_NAME = "<b>\u202e" + "很长的文件名" * 60 + ".pdf"


def send_input(bot: Harness, user: FakeUser, what: str) -> None:
    """Queue one user message of the given kind (those the fake cannot make are built here)."""
    raw = {
        "sticker": STICKER,
        "location": LOCATION,
        "contact": CONTACT,
        "voice": VOICE,
        "video": VIDEO,
        "dice": DICE,
    }
    if what in raw:
        bot.fake._user_message(user, None, dict(raw[what]), None, None)
    elif what == "big-document":
        bot.fake.send_document(user, "航拍视频.zip", 20 * MB + 1, mime_type="application/zip")
    elif what == "big-photo":
        bot.fake.send_photo(user, 20 * MB + 1)
    elif what == "document-20mb":
        bot.fake.send_document(user, "规划图.pdf", 20 * MB)
    elif what == "odd-name":
        bot.fake.send_document(user, ODD_NAME, 50_000)
    else:
        raise AssertionError(what)


STEP_EXPECTS = {
    "kind": USE_BUTTONS,
    "title": SEND_TEXT,
    "description": SEND_TEXT,
    "applicant": SEND_TEXT,
    "respondent": USE_BUTTONS,
    "addressee": USE_BUTTONS,
    "urgency": USE_BUTTONS,
    "reply_by": SEND_DATE,
    "documents": SEND_FILES,
    "summary": USE_BUTTONS,
    "menu": USE_BUTTONS,
}
ONE_FILE = "📎 已收到1个文件（最多10个）。可继续发送，或点击「完成」。"
FILE_ROWS: list[tuple[str, str, str, str]] = [
    # (row, step of a referral, what is sent, the answer)
    *(
        (
            f"{step}-{what}",
            step,
            what,
            TOO_BIG if (step, what) == ("documents", "big-document") else expect,
        )
        for step, expect in STEP_EXPECTS.items()
        for what in ("big-document", "sticker", "location", "contact")
    ),
    ("documents-voice", "documents", "voice", SEND_FILES),
    ("documents-video", "documents", "video", SEND_FILES),
    ("documents-dice", "documents", "dice", SEND_FILES),
    ("documents-big-photo", "documents", "big-photo", TOO_BIG),
    ("documents-exactly-20mb", "documents", "document-20mb", ONE_FILE),
    ("documents-odd-name", "documents", "odd-name", ONE_FILE),
    ("title-voice", "title", "voice", SEND_TEXT),
    ("reply-by-dice", "reply_by", "dice", SEND_DATE),
]


class TestFilesAndMessageTypes:
    @pytest.mark.parametrize(
        ("step", "what", "shown"), [pytest.param(*row, id=row_id) for row_id, *row in FILE_ROWS]
    )
    async def test_sent_in_the_raise_flow(
        self, world: World, step: str, what: str, shown: str
    ) -> None:
        bot = world.bot
        li, asked = await at_step(world, "referral", step)
        before = await draft_of(bot, li.id)
        assert before is not None
        cases_before = await count(bot, t.cases)
        since = mark(bot)
        send_input(bot, li, what)
        await bot.deliver()
        assert texts_of(sent(bot, li, since)) == shown
        assert await count(bot, t.cases) == cases_before
        after = await draft_of(bot, li.id)
        if shown != ONE_FILE:
            assert after == before
            await park(world, "referral", step, li, asked)
            return
        assert after is not None and after.state == before.state == "AWAITING_FILES"
        (stored,) = after.data["values"]["documents"]
        # The right-to-left override is dropped, the markup kept as text (escaped wherever
        # shown), the name cut at 200 characters.
        odd = ("<b>" + "很长的文件名" * 60)[:200]
        name = odd if what == "odd-name" else "规划图.pdf"
        assert (stored["media"], stored["file_name"], stored["file_size"]) == (
            "document",
            name,
            stored["file_size"],
        )
        await bot.press(li, "完成")
        await bot.press(li, "提请")
        (row,) = await rows(
            bot, t.case_files, t.case_files.c.case_id == (await newest_case(bot)).id
        )
        assert row.file_name == name

    async def test_an_eleventh_file(self, world: World) -> None:
        bot, li = world.bot, await enrol(world)
        await to_step(world, li, "consultation", "documents")
        for n in range(10):
            bot.fake.send_document(li, f"材料{n + 1}.pdf", 10_000)
        await bot.deliver()
        before = await draft_of(bot, li.id)
        assert before is not None and len(before.data["values"]["documents"]) == 10
        for what in ("odd-name", "big-document", "big-photo"):  # the count is checked first
            since = mark(bot)
            send_input(bot, li, what)
            await bot.deliver()
            assert texts_of(sent(bot, li, since)) == TOO_MANY
            assert await draft_of(bot, li.id) == before

    @pytest.mark.parametrize("what", ["big-document", "sticker", "location", "contact", "voice"])
    async def test_sent_as_a_return_reason(self, world: World, what: str) -> None:
        bot, zhao = world.bot, world.zhao
        case, since = await seed(world, "退回理由不是文字")
        await bot.press(zhao, "退回", message=note_for(bot, zhao, case, since))
        since = mark(bot)
        send_input(bot, zhao, what)
        await bot.deliver()
        assert texts_of(sent(bot, zhao, since)) == SEND_TEXT
        assert await actions_of(bot, case) == ["submitted"]
        assert await draft_of(bot, ZHAO) is not None
        await bot.say(zhao, "/cancel")
        assert await draft_of(bot, ZHAO) is None


# ---------------------------------------------------------------------------- 8. revoked mid-flow

REVOKED_ROWS: list[tuple[str, str, str, tuple[str, str], str]] = [
    # (row, kind, step the member was revoked at, what they do next, what they are told)
    ("kind", "consultation", "kind", ("press", "重大事项研判"), NOT_MEMBER),
    ("title", "consultation", "title", ("say", "滑雪场扩建项目"), NOT_MEMBER),
    ("description", "consultation", "description", ("say", "请研判。"), NOT_MEMBER),
    ("applicant", "referral", "applicant", ("say", "张三"), NOT_MEMBER),
    ("respondent", "referral", "respondent", ("press", "自然资源局"), NOT_MEMBER),
    ("addressee", "consultation", "addressee", ("press", "延边中院"), NOT_MEMBER),
    ("urgency", "consultation", "urgency", ("press", "一般"), NOT_MEMBER),
    ("date-typed", "consultation", "reply_by", ("say", "12月3日"), NOT_MEMBER),
    ("date-quick", "consultation", "reply_by", ("press", "5个工作日"), NOT_MEMBER),
    ("date-calendar", "consultation", "reply_by", ("press", "选择日期"), NOT_MEMBER),
    ("date-none", "consultation", "reply_by", ("press", "不指定日期"), NOT_MEMBER),
    ("documents-file", "consultation", "documents", ("send", "document-20mb"), NOT_MEMBER),
    ("documents-sticker", "consultation", "documents", ("send", "sticker"), NOT_MEMBER),
    ("documents-done", "consultation", "documents", ("press", "完成"), NOT_MEMBER),
    ("summary-submit", "referral", "summary", ("press", "提请"), NOT_MEMBER),
    ("summary-edit", "consultation", "summary", ("press", "修改某项"), NOT_MEMBER),
    ("menu-field", "consultation", "menu", ("press", "标题"), NOT_MEMBER),
    ("menu-back", "consultation", "menu", ("press", "返回"), NOT_MEMBER),
    ("title-new-again", "consultation", "title", ("say", "/new"), NOT_MEMBER),
    ("title-photo", "consultation", "title", ("photo", ""), NOT_MEMBER),
    ("title-cancel-command", "consultation", "title", ("say", "/cancel"), CANCELLED),
    # The Cancel button's question itself becomes the confirmation.
    ("summary-cancel-button", "consultation", "summary", ("press-in-place", "取消"), CANCELLED),
]


class TestRevokedMidFlow:
    @pytest.mark.parametrize(
        ("kind", "step", "action", "shown"),
        [pytest.param(*row, id=row_id) for row_id, *row in REVOKED_ROWS],
    )
    async def test_revoked_then_continuing(
        self, world: World, kind: str, step: str, action: tuple[str, str], shown: str
    ) -> None:
        bot = world.bot
        user = await enrol(world)
        await to_step(world, user, kind, step)
        await revoke(bot, user.id)
        cases_before = await count(bot, t.cases)
        since = mark(bot)
        how, value = action
        if how == "say":
            await bot.say(user, value)
        elif how in ("press", "press-in-place"):
            pressed = bot.last_with_buttons(user)
            await bot.press(user, value, message=pressed)
        elif how == "photo":
            await bot.send_photo(user)
        else:
            send_input(bot, user, value)
            await bot.deliver()
        if how == "press-in-place":
            assert sent(bot, user, since) == []
            assert bot.fake.message(user, pressed["message_id"])["text"] == shown
            assert "reply_markup" not in bot.fake.message(user, pressed["message_id"])
        else:
            assert texts_of(sent(bot, user, since)) == shown
        assert await draft_of(bot, user.id) is None
        assert await count(bot, t.cases) == cases_before
        assert sent(bot, world.zhao, since) == [] and sent(bot, world.group, since) == []
        since = mark(bot)
        await bot.say(user, "滑雪场扩建项目")  # the conversation is over: a stranger again
        assert texts_of(sent(bot, user, since)) == not_member_text(user.id)

    async def test_moved_to_a_court_mid_flow(self, world: World) -> None:
        bot = world.bot
        user = await enrol(world)
        await to_step(world, user, "consultation", "title")
        await revoke(bot, user.id)
        office = await bot.svc.viewer(ADMIN_ID, "办公室管理员", None)
        invite = await bot.svc.create_invite(office, "FUSONG-COURT", Role.COURT_STAFF)
        await bot.svc.redeem_invite(
            invite.token, await bot.svc.viewer(user.id, "李明", None), "李明"
        )
        since = mark(bot)
        await bot.say(user, "滑雪场扩建项目")
        assert texts_of(sent(bot, user, since)) == CANNOT_RAISE
        assert await draft_of(bot, user.id) is None
        since = mark(bot)
        await bot.say(user, "滑雪场扩建项目")
        assert texts_of(sent(bot, user, since)) == HINT

    async def test_a_court_member_revoked_while_returning(self, world: World) -> None:
        bot = world.bot
        judge = await enrol(world, "YB-IPC", Role.COURT_STAFF, "新法官")
        await bot.say(judge, "/help")  # opens the chat, so notifications reach the judge
        case, since = await seed(world, "退回途中被撤销")
        await bot.press(judge, "退回", message=note_for(bot, judge, case, since))
        await revoke(bot, judge.id)
        since = mark(bot)
        await bot.say(judge, "不属于本院管辖。")
        assert texts_of(sent(bot, judge, since)) == CANNOT_ANSWER
        after = await bot.svc.get_case(case.id)
        assert (after.status, after.return_reason) == ("submitted", None)
        assert await actions_of(bot, case) == ["submitted"]
        assert await draft_of(bot, judge.id) is None
