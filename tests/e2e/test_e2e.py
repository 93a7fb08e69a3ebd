"""The bot as a real process over HTTP: several users, a group, and restarts."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_ID, ROOT, World, assert_no_secrets
from tests.fakes.server import TEST_TOKEN
from tests.fakes.telegram import FakeUser
from tests.postgres import query

GROUP = -1001234567890


def db_rows(world: World, sql: str) -> list[tuple[object, ...]]:
    url = world.bot.env["DATABASE_URL"]
    if url.startswith("postgresql"):
        return query(url, sql)
    with sqlite3.connect(url.split("///", 1)[1]) as conn:
        return conn.execute(sql).fetchall()


def members(world: World) -> tuple[FakeUser, FakeUser, FakeUser]:
    li = world.fake.user(2001, "李明")
    zhao = world.fake.user(3001, "赵法官")
    sun = world.fake.user(3002, "孙书记员")
    world.join(li, "长白山管委会自然资源局", "部门负责人")
    world.join(zhao, "延边州中级人民法院", "法院工作人员")
    world.join(sun, "抚松县人民法院", "法院工作人员")
    return li, zhao, sun


def raise_referral(world: World, li: FakeUser) -> str:
    world.say(li, "/new")
    world.press(li, "行政争议协调化解", wait="edit")
    world.say(li, "某村土地征收补偿争议")
    world.say(li, "申请人对征收补偿标准有异议。")
    world.say(li, "张三")
    world.press(li, "自然资源局", wait="edit")
    world.press(li, "池北行政争议协调化解中心", wait="edit")
    world.press(li, "一般", wait="edit")
    world.press(li, "不指定日期", wait="edit")
    world.press(li, "完成", wait="edit")
    world.press(li, "提请", wait="edit")
    receipt = world.wait_messages(li, 1)[-1]
    assert "协调〔2026〕1号" in receipt or "协调〔" in receipt
    return receipt


@pytest.mark.postgres
def test_referral_acknowledged_over_http(world: World) -> None:
    admin = world.fake.user(ADMIN_ID, "办公室管理员")
    group = world.fake.group(GROUP, "长白山府院联动群", add_bot=True)
    assert "委员会工作群" in world.say(admin, "/bindgroup", chat=group)
    li, zhao, sun = members(world)
    zhao_before = world.count(zhao)
    raise_referral(world, li)
    number = db_rows(world, "select number from cases")[0][0]
    world.wait_messages(zhao, zhao_before + 1)
    note = world.last_with_buttons(zhao)
    assert number in note["text"]
    post = world.wait_messages(group, 2)[-1]
    assert number in post and "张三" not in post

    refusal = world.press(
        sun,
        data=f"v:acknowledge:{db_rows(world, 'select id from cases')[0][0]}",
        message=note,
        wait="answer",
    )
    assert refusal == "仅接收法院的工作人员可进行此操作。"
    assert db_rows(world, "select status from cases") == [("submitted",)]

    li_before = world.count(li)
    world.press(zhao, "受理", message=note, wait="edit")
    told = world.wait_messages(li, li_before + 1)[-1]
    assert number in told and "受理" in told
    assert db_rows(
        world, "select c.status, a.acted_by from cases c join assignments a on a.case_id = c.id"
    ) == [("acknowledged", 3001)]
    assert [
        r[0]
        for r in db_rows(world, "select action from events where case_id is not null order by id")
    ] == ["submitted", "acknowledge"]
    # Command menus were set for both languages and both scopes.
    assert world.fake.calls_of("setMyCommands")


@pytest.mark.postgres
def test_referral_returned_over_http(world: World) -> None:
    li, zhao, _ = members(world)
    before = world.count(zhao)
    raise_referral(world, li)
    world.wait_messages(zhao, before + 1)  # the court's notice follows the receipt
    note = world.last_with_buttons(zhao)
    world.press(zhao, "退回", message=note)
    li_before = world.count(li)
    world.say(zhao, "材料不全，请补充后重新提交。")
    told = world.wait_messages(li, li_before + 1)[-1]
    assert "退回" in told and "材料不全" in told
    assert db_rows(
        world, "select c.status, a.note from cases c join assignments a on a.case_id = c.id"
    ) == [("returned", "材料不全，请补充后重新提交。")]


@pytest.mark.postgres
def test_killed_mid_raise_and_restarted_continues_where_it_was(world: World) -> None:
    li, zhao, _ = members(world)
    world.say(li, "/new")
    world.press(li, "重大事项研判", wait="edit")
    world.say(li, "滑雪场扩建项目法律风险研判")
    assert db_rows(world, "select state from drafts") == [("AWAITING_TEXT",)]

    world.bot.kill()  # SIGKILL: no shutdown hooks run
    world.bot.start()

    # The next message is taken as the description the bot was waiting for.
    prompt = world.say(li, "土地租赁模式是否存在合规风险？")
    assert "接收单位" in prompt or "法院" in prompt
    world.press(li, "延边中院", wait="edit")
    world.press(li, "一般", wait="edit")
    world.press(li, "不指定日期", wait="edit")
    world.press(li, "完成", wait="edit")
    world.press(li, "提请", wait="edit")
    assert "研判〔2026〕1号" in world.wait_messages(li, 1)[-1]
    assert db_rows(world, "select title, fields from cases")[0][0] == "滑雪场扩建项目法律风险研判"
    fields = json.loads(str(db_rows(world, "select fields from cases")[0][0]))
    assert fields["description"] == "土地租赁模式是否存在合规风险？"
    assert db_rows(world, "select count(*) from drafts") == [(0,)]
    world.wait(lambda: any("研判〔2026〕1号" in t for t in world.fake.texts_to(zhao)))
    assert world.last_with_buttons(zhao)  # the court got it with its buttons

    # A graceful stop also works and leaves nothing behind.
    assert world.bot.stop() == 0


def test_bad_configuration_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "COMMITTEE_CONFIG": str(tmp_path / "missing.toml"),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "bot.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr
    env["TELEGRAM_BOT_TOKEN"] = TEST_TOKEN
    result = subprocess.run(
        [sys.executable, str(ROOT / "bot.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "missing.toml not found" in result.stderr
    assert_no_secrets(result.stderr + result.stdout)


def test_a_rejected_token_is_never_printed(tmp_path: Path) -> None:
    """Telegram answers 401: the bot says so in one line, without the token."""
    from tests.fakes.server import FakeBotApiServer
    from tests.fakes.telegram import FakeTelegram

    committee = (ROOT / "committee.example.toml").read_text("utf-8")
    (tmp_path / "committee.toml").write_text(committee, "utf-8")
    token = "123456789:another-fake-token-not-the-servers"  # not the server's token
    with FakeBotApiServer(FakeTelegram()) as server:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_BASE_URL": server.base_url,
            "TELEGRAM_BASE_FILE_URL": server.base_file_url,
            "LOG_LEVEL": "DEBUG",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
            "COMMITTEE_CONFIG": str(tmp_path / "committee.toml"),
        }
        result = subprocess.run(
            [sys.executable, str(ROOT / "bot.py")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert "rejected TELEGRAM_BOT_TOKEN" in result.stderr
    assert token not in result.stderr + result.stdout
    assert_no_secrets(result.stderr + result.stdout)
