"""Invite links over HTTP: a revoked admin's link stops working, and neither the database nor
the bot's DEBUG log holds a link's token."""

from __future__ import annotations

import hashlib
import re
import sqlite3

from tests.e2e.conftest import ADMIN_ID, World


def db_rows(world: World, sql: str) -> list[tuple[object, ...]]:
    path = world.bot.env["DATABASE_URL"].split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_a_revoked_admins_link_is_withdrawn_over_http(world: World) -> None:
    admin = world.fake.user(ADMIN_ID, "办公室管理员")
    han = world.fake.user(1002, "韩主任")
    world.join(han, "长白山管委会府院联动办公室", "办公室")
    world.say(han, "/invite")
    world.press(han, "长白山管委会自然资源局", wait="edit")
    world.press(han, "部门负责人", wait="edit")
    link = re.search(r"\?start=i_(\S+)", world.last_text(han))
    assert link is not None, world.last_text(han)
    token = link.group(1)

    world.say(admin, "/members")
    world.press(admin, "撤销韩主任", wait="edit")
    assert world.press(admin, "确认撤销", wait="edit") == "已撤销。"

    li = world.fake.user(2001, "李明")
    answer = world.say(li, f"/start i_{token}")
    assert answer == "⚠ 该邀请链接已被收回。请联系府院联动办公室重新获取。"
    assert db_rows(world, "select user_id from members where revoked_at is null") == [(ADMIN_ID,)]
    digest = hashlib.sha256(token.encode()).hexdigest()
    withdrawn = db_rows(
        world,
        "select withdrawn_by from invites where withdrawn_at is not null and created_by = 1002",
    )
    assert withdrawn == [(ADMIN_ID,)]
    assert db_rows(world, f"select count(*) from invites where token_hash = '{digest}'") == [(1,)]
    assert not db_rows(world, f"select id from invites where token_hash like '%{token}%'")

    world.bot.stop()
    # The bot ran at DEBUG; neither the link sent nor the /start received shows its token
    # (library loggers stay above DEBUG, and the redaction would catch a link anyway).
    assert " DEBUG " in world.bot.output
    assert token not in world.bot.output
