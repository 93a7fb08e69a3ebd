"""Fan-out: many notifications to many chats through Telegram's flood limits.

Outbox rows to distinct private chats are queued in one transaction (as a deadline scan or a
broadcast would) and delivered by the real courier of a real Application built with the rate
limiter, against a fake Bot API that answers 429 with ``retry_after`` beyond ~30 messages/s
overall (and 20/min per group). Real time: this takes about n / 30 seconds.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench.common import TOKEN, Row, committee
from bot.app import build_application
from bot.config import Settings
from bot.heap import freeze_after_start
from bot.storage.outbox import SENT, enqueue
from handlers.runtime import Runtime
from tests.fakes.request import FakeRequest
from tests.fakes.telegram import FakeTelegram

FIRST_USER = 50_001


async def run(n: int) -> dict[str, float]:
    fake = FakeTelegram()  # real time
    fake.flood_limits(per_second_overall=30, per_minute_per_group=20)
    with tempfile.TemporaryDirectory(prefix="fuyuan-bench-") as tmp:
        settings = Settings(
            token=TOKEN, database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'fanout.sqlite3'}"
        )
        app = build_application(
            settings,
            committee(group=False),
            request=FakeRequest(fake),
            rate_limiter=True,
            jobs=False,
        )
        freeze_after_start(app)  # as bot.py does
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        runtime: Runtime = app.bot_data["runtime"]
        svc = runtime.svc
        try:
            users = [FIRST_USER + i for i in range(n)]
            for user_id in users:
                fake.user(user_id, f"成员{user_id}").started = True
                await svc.viewer(user_id, f"成员{user_id}", None)
            payload = {
                "year": 2027,
                "source": "estimated",
                "first": "2027-01-01",
                "last": "2027-01-24",
            }
            now = datetime.now(UTC)
            async with svc.db.write() as conn:
                for user_id in users:
                    await enqueue(conn, now, f"bench:{user_id}", user_id, "calendar_gap", payload)
            # Start with an empty flood window, as after a quiet minute.
            await asyncio.sleep(1.1)
            calls_before = len(fake.calls)
            courier = runtime.courier
            assert courier is not None
            start = time.perf_counter()
            flushes = 0
            while True:
                flushes += 1
                await courier.flush(app.bot, limit=10 * n)
                counts = await runtime.outbox.counts()
                waiting = sum(v for k, v in counts.items() if k != SENT and k != "failed")
                if not waiting:
                    break
                due = await runtime.outbox.next_due_at()
                delay = 0.05 if due is None else (due - datetime.now(UTC)).total_seconds()
                await asyncio.sleep(min(max(delay, 0.0), 5.0))
            wall = time.perf_counter() - start
            calls = fake.calls[calls_before:]
            sends = [c for c in calls if c.method.lower() == "sendmessage"]
            ok_per_chat = Counter(int(c.params["chat_id"]) for c in sends if c.ok)
            return {
                "wall": wall,
                "sent": counts.get(SENT, 0),
                "failed": counts.get("failed", 0),
                "throttled": sum(1 for c in sends if c.status == 429),
                "delivered_chats": len(ok_per_chat),
                "duplicates": sum(v - 1 for v in ok_per_chat.values() if v > 1),
                "flushes": flushes,
            }
        finally:
            await app.shutdown()
            assert app.post_shutdown is not None
            await app.post_shutdown(app)


async def measure(*, quick: bool, verbose: bool = False) -> list[Row]:
    n = 100 if quick else 300
    r = await run(n)
    if verbose:
        print(f"fanout: {r}")
    rate = r["sent"] / r["wall"] if r["wall"] else 0.0
    lost = n - int(r["delivered_chats"])
    return [
        Row(
            f"fan-out: {n} notifications to {n} chats, flood-limited fake, rate limiter on",
            f"{r['wall']:.1f} s ({int(r['flushes'])} courier runs)",
        ),
        Row("fan-out: achieved rate", f"{rate:.1f} messages/s", ">= 28 /s", rate >= 28),
        Row(
            "fan-out: 429s seen / lost / duplicated / failed",
            f"{int(r['throttled'])} / {lost} / {int(r['duplicates'])} / {int(r['failed'])}",
            "- / 0 / 0 / 0",
            lost == 0 and r["duplicates"] == 0 and r["failed"] == 0,
        ),
    ]
