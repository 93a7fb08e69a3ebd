"""Court-side requests to several agencies, over HTTP with ``bot.py`` as a real process:
enforcement assistance (执行联动) answered by every agency, and bankruptcy coordination
(破产府院联动) closed by the court before the last agency replied."""

from __future__ import annotations

import json
import sqlite3

from tests.e2e.conftest import ADMIN_ID, World, on_button, zh
from tests.fakes.telegram import FakeUser

GROUP = -1001234567890
NR, ENV = "长白山管委会自然资源局", "长白山管委会生态环境局"
PARTY = "张某某"
ADMINISTRATOR = "吉林某律师事务所 王律师 13800000000"


def db_rows(world: World, sql: str) -> list[tuple[object, ...]]:
    path = world.bot.env["DATABASE_URL"].split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def cast(world: World) -> tuple[FakeUser, FakeUser, FakeUser]:
    """The committee group, a clerk of the Yanbian court and two agencies' heads."""
    admin = world.fake.user(ADMIN_ID, "办公室管理员")
    group = world.fake.group(GROUP, "长白山府院联动群", add_bot=True)
    world.say(admin, "/bindgroup", chat=group)
    zhao = world.fake.user(3001, "赵法官")
    li = world.fake.user(2001, "李明")
    wang = world.fake.user(2002, "王强")
    world.join(zhao, "延边州中级人民法院", "法院工作人员")
    world.join(li, NR, "部门负责人")
    world.join(wang, ENV, "部门负责人")
    return zhao, li, wang


def choose_agencies_and_finish(world: World, zhao: FakeUser) -> None:
    """NR and ENV toggled, Done; the rest of the form left at its defaults; Submit."""
    for agency in (NR, ENV):
        world.press(zhao, f"☐ {on_button(agency)}", wait="edit")
    world.press(zhao, "完成", wait="edit")


def notice(world: World, head: FakeUser, org: str) -> dict[str, object]:
    """Wait for the head's notice with the Reply button for their agency."""
    label = zh("📮 Reply")  # a head acts for their own agency alone: the button names none

    def find() -> dict[str, object] | None:
        for message in reversed(world.fake.messages_to(head)):
            rows = message.get("reply_markup", {}).get("inline_keyboard", [])
            if any(b["text"] == label for row in rows for b in row):
                return message
        return None

    world.wait(lambda: find() is not None)
    found = find()
    assert found is not None
    return found


def reply(world: World, head: FakeUser, org: str, result: str, details: str) -> None:
    world.press(head, zh("📮 Reply"), message=notice(world, head, org))
    world.press(head, zh(result), wait="edit")
    world.say(head, details)
    world.press(head, "完成", wait="edit")


def states(world: World) -> list[tuple[object, ...]]:
    return db_rows(world, "select addressee, state, outcome from assignments order by position")


def test_enforcement_assistance_answered_by_every_agency(world: World) -> None:
    zhao, li, wang = cast(world)
    world.say(zhao, "/new")
    world.press(zhao, zh("Enforcement assistance"), wait="edit")
    world.press(zhao, zh("Property inquiry"), wait="edit")
    world.say(zhao, "（2026）吉24执12号")
    world.say(zhao, PARTY)
    world.say(zhao, "请协助查询被执行人名下不动产登记情况。")
    choose_agencies_and_finish(world, zhao)
    world.press(zhao, "不指定日期", wait="edit")
    world.press(zhao, "完成", wait="edit")
    world.press(zhao, "提请", wait="edit")
    ((number, status, fields),) = db_rows(world, "select number, status, fields from cases")
    assert str(number).startswith("协助〔") and status == "open"
    assert json.loads(str(fields))["party"] == PARTY
    assert number in world.last_text(zhao)

    # Each agency has its own notice and button; the group never sees the person concerned.
    for head, org in ((li, NR), (wang, ENV)):
        text = str(notice(world, head, org)["text"])
        assert number in text and PARTY in text
    group = world.fake.chats[GROUP]
    world.wait(lambda: any(number in t for t in world.fake.texts_to(group)))
    assert not any(PARTY in t for t in world.fake.texts_to(group))

    before = world.count(zhao)
    reply(world, li, NR, "Assisted as asked", "名下登记住宅一套。")
    told = world.wait_messages(zhao, before + 1)[-1]
    assert number in told and "名下登记住宅一套。" in told
    assert states(world) == [("CBS-NR", "replied", "done"), ("CBS-ENV", "submitted", None)]
    assert db_rows(world, "select status from cases") == [("open",)]

    before = world.count(zhao)
    reply(world, wang, ENV, "Could not assist", "本局无相关登记信息。")
    told = world.wait_messages(zhao, before + 1)[-1]
    assert "本局无相关登记信息。" in told
    assert states(world) == [("CBS-NR", "replied", "done"), ("CBS-ENV", "replied", "cannot")]
    assert db_rows(world, "select status from cases") == [("closed",)]
    assert [
        r[0]
        for r in db_rows(world, "select action from events where case_id is not null order by id")
    ] == [
        "submitted",
        "reply",
        "reply",
    ]


def test_bankruptcy_issues_closed_by_the_court_before_the_last_reply(world: World) -> None:
    zhao, li, wang = cast(world)
    world.say(zhao, "/new")
    world.press(zhao, zh("Bankruptcy coordination"), wait="edit")
    world.say(zhao, "（2026）吉24破1号")
    world.say(zhao, "长白山某旅游开发有限公司")
    world.press(zhao, zh("Registration and deregistration"), wait="edit")
    world.say(zhao, "企业注销登记及名下土地使用权处置需协调。")
    choose_agencies_and_finish(world, zhao)
    world.say(zhao, ADMINISTRATOR)
    world.press(zhao, "不指定日期", wait="edit")
    world.press(zhao, "完成", wait="edit")
    world.press(zhao, "提请", wait="edit")
    ((number,),) = db_rows(world, "select number from cases")
    assert str(number).startswith("破产〔")
    group = world.fake.chats[GROUP]
    world.wait(lambda: any(number in t for t in world.fake.texts_to(group)))
    assert not any("13800000000" in t for t in world.fake.texts_to(group))

    before = world.count(zhao)
    reply(world, li, NR, "Issues handled", "土地使用权已协调处置。")
    assert "土地使用权已协调处置。" in world.wait_messages(zhao, before + 1)[-1]
    assert states(world)[0] == ("CBS-NR", "replied", "handled")
    old = notice(world, wang, ENV)

    # The court closes it from /case with a suggested reason; the remaining agency is told.
    world.say(zhao, f"/case {number}")
    world.press(zhao, zh("🏁 Close the matter"))
    before = world.count(wang)
    world.press(zhao, zh("The bankruptcy proceedings have ended."), wait="edit")
    told = world.wait_messages(wang, before + 1)[-1]
    assert number in told and zh("The bankruptcy proceedings have ended.") in told
    assert db_rows(world, "select status from cases") == [("closed_by_court",)]
    assert states(world) == [
        ("CBS-NR", "replied", "handled"),
        ("CBS-ENV", "closed_by_court", None),
    ]

    # The agency's old button no longer acts.
    answer = world.press(wang, zh("📮 Reply"), message=old, wait="answer")
    assert zh("Closed by the court") in answer
    assert states(world)[1] == ("CBS-ENV", "closed_by_court", None)
    assert [
        r[0]
        for r in db_rows(world, "select action from events where case_id is not null order by id")
    ] == [
        "submitted",
        "reply",
        "close",
    ]
