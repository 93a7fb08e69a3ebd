"""A judicial-review bulletin over HTTP: bot.py as a real process against the fake Bot API server.

The court clerk publishes a bulletin with its document to two agencies; the committee group
gets the post with its 已阅 button; one agency's head presses it there (the post stays as it
is, he is told privately, the court hears of it), the clerk's own press there is refused, the
other head reads it from his notice, and the court closes the bulletin from its last receipt.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.mechanisms import bulletin
from tests.e2e.conftest import ADMIN_ID, World, on_button, zh
from tests.fakes.telegram import FakeUser

GROUP = -1001234567890
TITLE = "2026年第三季度行政案件司法审查情况通报"
SUMMARY = "本季度共审结行政案件45件，行政机关败诉4件。"
NR, ENV = "长白山管委会自然资源局", "长白山管委会生态环境局"


def db_rows(world: World, sql: str) -> list[tuple[object, ...]]:
    path = world.bot.env["DATABASE_URL"].split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def publish(world: World, zhao: FakeUser) -> None:
    world.say(zhao, "/new")
    world.press(zhao, zh(bulletin.KIND.label), wait="edit")
    world.say(zhao, TITLE)
    world.say(zhao, "2026年第三季度")
    world.say(zhao, SUMMARY)
    world.press(zhao, f"☐ {on_button(NR)}", wait="edit")
    world.press(zhao, f"☐ {on_button(ENV)}", wait="edit")
    world.press(zhao, "完成", wait="edit")
    world.press(zhao, "跳过", wait="edit")
    world.press(zhao, "不指定日期", wait="edit")
    before = world.count(zhao)
    world.fake.send_document(zhao, "司法审查通报.pdf", 350_000)
    world.wait_messages(zhao, before + 1)
    world.press(zhao, "完成", wait="edit")
    world.press(zhao, "提请", wait="edit")


def test_bulletin_published_read_in_the_group_and_closed_over_http(world: World) -> None:
    fake = world.fake
    office = fake.user(ADMIN_ID, "办公室管理员")
    group = fake.group(GROUP, "长白山府院联动群", add_bot=True)
    assert "委员会工作群" in world.say(office, "/bindgroup", chat=group)
    zhao, li, wang = fake.user(3001, "赵法官"), fake.user(2001, "李明"), fake.user(2002, "王强")
    world.join(zhao, "延边州中级人民法院", "法院工作人员")
    world.join(li, NR, "部门负责人")
    world.join(wang, ENV, "部门负责人")

    publish(world, zhao)
    number = f"通报〔{datetime.now(ZoneInfo('Asia/Shanghai')).year}〕1号"
    assert number in world.last_text(zhao)
    assert db_rows(world, "select number, kind, status, raiser_org from cases") == [
        (number, "bulletin", "open", "YB-IPC")
    ]
    assert db_rows(world, "select file_name from case_files") == [("司法审查通报.pdf",)]
    assert db_rows(world, "select addressee, state, stage from assignments order by position") == [
        ("CBS-NR", "unread", "read"),
        ("CBS-ENV", "unread", "read"),
    ]

    # The group's post, with its 已阅 button.
    read = zh(bulletin.MARK_READ.label)
    world.wait(lambda: any(number in text for text in fake.texts_to(group)))
    post = world.last_with_buttons(group)
    assert number in post["text"] and TITLE in post["text"]
    assert [label for row in fake.buttons(post) for label, _ in row] == [read, "在私聊中打开"]

    # LI presses it in the group: told privately; the post stays as it was; the court hears.
    zhao_before = world.count(zhao)
    answer = world.press(li, read, message=post, wait="answer")
    assert answer == zh("Recorded: %(action)s.", action=zh(bulletin.MARK_READ.done))
    assert fake.message(group, post["message_id"]) == post
    told = world.wait_messages(zhao, zhao_before + 1)[-1]
    assert number in told and NR in told
    assert db_rows(
        world, "select addressee, state, acted_by from assignments order by position"
    ) == [
        ("CBS-NR", "read", 2001),
        ("CBS-ENV", "unread", None),
    ]

    # The clerk's own press in the group is refused and changes nothing.
    refusal = world.press(zhao, read, message=post, wait="answer")
    assert refusal and refusal != answer and number not in refusal
    assert [
        r[0]
        for r in db_rows(world, "select action from events where case_id is not null order by id")
    ] == [
        "submitted",
        "read",
    ]
    assert fake.message(group, post["message_id"]) == post

    # WANG reads it from his notice; the court's receipt says every agency has now read it
    # and offers to close it; the court closes it (a note is asked first; Skip closes).
    zhao_before = world.count(zhao)
    world.press(wang, read, message=world.last_with_buttons(wang), wait="edit")
    world.wait_messages(zhao, zhao_before + 1)
    receipt = world.last_with_buttons(zhao)
    assert number in receipt["text"] and ENV in receipt["text"]
    assert db_rows(world, "select status from cases") == [("open",)]
    world.press(zhao, zh(bulletin.CLOSE.label), message=receipt)
    world.press(zhao, "跳过", wait="edit")
    assert db_rows(world, "select status from cases") == [("closed",)]
    assert db_rows(world, "select state from assignments order by position") == [
        ("read",),
        ("read",),
    ]
    assert [
        r[0]
        for r in db_rows(world, "select action from events where case_id is not null order by id")
    ] == [
        "submitted",
        "read",
        "read",
        "close",
    ]
