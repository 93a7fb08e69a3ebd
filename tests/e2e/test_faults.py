"""Faults with the real process: SIGKILL in a burst of submissions, and SIGTERM."""

from __future__ import annotations

import signal
import sqlite3
import time

from tests.e2e.conftest import ADMIN_ID, World
from tests.fakes.telegram import FakeUser

HEADS = 8
ORGS = ["长白山管委会自然资源局", "长白山管委会生态环境局", "池北区", "池西区"]


def db(world: World, sql: str) -> list[tuple[object, ...]]:
    path = world.bot.env["DATABASE_URL"].split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def to_summary(world: World, user: FakeUser, title: str) -> None:
    """A consultation filled in up to the summary with its Submit button."""
    world.say(user, "/new")
    world.press(user, "重大事项研判", wait="edit")
    world.say(user, title)
    world.say(user, "请研判相关法律风险。")
    world.press(user, "延边中院", wait="edit")
    world.press(user, "一般", wait="edit")
    world.press(user, "不指定日期", wait="edit")
    world.press(user, "完成", wait="edit")
    assert "📨 提请" in str(world.last_with_buttons(user).get("reply_markup"))


def receipts(world: World, user: FakeUser) -> list[str]:
    return [t for t in world.fake.texts_to(user) if t.startswith("✅ 已提请")]


def test_sigkill_in_a_burst_of_submissions_loses_and_repeats_nothing(world: World) -> None:
    zhao = world.fake.user(3001, "赵法官")
    world.join(zhao, "延边州中级人民法院", "法院工作人员")
    heads = [world.fake.user(2100 + i, f"负责人{i}") for i in range(HEADS)]
    for i, head in enumerate(heads):
        world.join(head, ORGS[i % len(ORGS)], "部门负责人")
        to_summary(world, head, f"事项{i}")

    # Everyone presses Submit at (nearly) the same instant; the bot is killed mid-burst.
    summaries = [world.last_with_buttons(h) for h in heads]
    for head, summary in zip(heads, summaries, strict=True):
        world.fake.press(head, summary, "提请")
    world.wait(lambda: sum(len(receipts(world, h)) for h in heads) >= 2)
    world.bot.kill()
    world.bot.start()

    # Whoever saw neither a receipt nor the "submitted" answer presses Submit again, as people
    # do. (Several submits are handled side by side, so the kill can fall between one's
    # answer and its receipt; the answer already gave the number.)
    for head, summary in zip(heads, summaries, strict=True):
        if not receipts(world, head) and not _submitted(world, head):
            world.press(head, "提请", message=summary, wait="answer")
    world.wait(
        lambda: all(receipts(world, h) or _submitted(world, h) or _already(world, h) for h in heads)
    )

    # Every matter's notice reaches the court (a flagged resend may come before another's
    # first copy, so count the matters, not the messages).
    def noticed() -> bool:
        numbers = [number for (number,) in db(world, "select number from cases")]
        notices = _notices(world, zhao)
        return len(numbers) == HEADS and all(any(n in x for x in notices) for n in numbers)

    world.wait(noticed, timeout=30)

    cases = db(world, "select raiser_user_id, seq from cases order by seq")
    assert sorted(seq for _, seq in cases) == list(range(1, HEADS + 1))  # no gap, no duplicate
    assert sorted(uid for uid, _ in cases) == sorted(h.id for h in heads)  # once per person
    for head in heads:
        assert len(receipts(world, head)) <= 1
    assert db(world, "select count(*) from drafts") == [(0,)]
    # Every court notification arrived; a repeat is only ever a flagged resend (and a message
    # that was being sent at the kill is resent flagged, whether or not it had arrived).
    notices = _notices(world, zhao)
    plain = [n for n in notices if not n.startswith("因网络问题重新发送")]
    assert len(plain) == len(set(plain))
    numbers = [number for (number,) in db(world, "select number from cases")]
    for number in numbers:
        assert any(number in n for n in notices), number
        assert sum(number in n for n in plain) <= 1, number
    # The outbox drains: nothing stays pending, retrying or 'sending'.
    world.wait(lambda: db(world, "select count(*) from outbox where status != 'sent'") == [(0,)])


def _already(world: World, head: FakeUser) -> bool:
    return any(
        "已提请过，编号为" in (a.get("text") or "") for a in world.fake.callback_answers(head)
    )


def _submitted(world: World, head: FakeUser) -> bool:
    return any(
        (a.get("text") or "").startswith("已提请：") for a in world.fake.callback_answers(head)
    )


def _notices(world: World, zhao: FakeUser) -> list[str]:
    return [t for t in world.fake.texts_to(zhao) if "新事项" in t]


def test_sigterm_finishes_what_it_fetched_and_exits_quickly(world: World) -> None:
    admin = world.fake.user(ADMIN_ID, "办公室管理员")
    world.say(admin, "/whoami")
    before = world.count(admin)
    burst = [world.fake.send_text(admin, "/whoami").update["update_id"] for _ in range(30)]
    world.wait(lambda: world.count(admin) > before)  # the burst is being handled
    started = time.monotonic()
    code = world.bot.stop(signal.SIGTERM, timeout=10)
    assert code == 0 and time.monotonic() - started < 10
    polls = world.fake.calls_of("getUpdates")
    fetched = {
        update["update_id"] for call in polls for update in (call.response.get("result") or [])
    }
    # The bot confirms what it took in with the offset of its next getUpdates (one last call
    # at shutdown). A poll answered while it was already stopping is dropped unconfirmed: the
    # fake logged those updates as fetched, but Telegram delivers them again at the next start.
    confirmed_below = max(int(call.params.get("offset") or 0) for call in polls)
    taken = [uid for uid in burst if uid in fetched and uid < confirmed_below]
    left = [uid for uid in burst if uid >= confirmed_below]
    assert world.fake.pending_update_count == len(left)  # kept for the next start
    # Every update the bot took in was answered before it exited; none twice.
    assert world.count(admin) - before == len(taken) >= 1
    handled = {row[0] for row in db(world, "select update_id from seen_updates")}
    assert set(taken) <= handled
    assert "Traceback" not in world.bot.output
