"""Fan-out: many notifications to many chats through Telegram's flood limits.

Outbox rows are queued in one transaction (as a deadline scan or a broadcast would) and
delivered by the real courier of a real Application built with its rate limiter, against a
fake Bot API with Telegram's limits — 30 messages/s overall, 20/min per group, one per second
per chat, answered with 429 and ``retry_after`` beyond them — and a simulated round trip to
the Bot API (100 ms by default: a request arrives half of it after it was handed to the
transport, the answer half of it later).

Most rows go to distinct private chats; a few chats get several (they must arrive in queue
order, a second apart) and a few go to the committee group: weekly digests of the three weeks
before the seeded moment, on a database seeded with ``MATTERS`` matters so that each of those
weeks has matters to report (an empty week's digest is skipped by design, and would count as
lost). Each row's text is unique, so a message lost or delivered twice is counted exactly.
Real time: this takes about n / 28 s.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench.common import GROUP_ID, TOKEN, Row, committee
from bench.seed import NOW, seed
from bot.app import build_application
from bot.config import Settings
from bot.domain.models import Role
from bot.heap import freeze_after_start
from bot.services.base import GROUP_SETTING
from bot.storage import schema as t
from bot.storage.outbox import SENT, enqueue
from handlers.runtime import Runtime
from tests.fakes.request import FakeRequest
from tests.fakes.telegram import ApiCall, FakeTelegram

FIRST_USER = 50_001
RTT_MS = 100.0
REPEATED_CHATS = 5  # private chats that get several messages each
PER_REPEATED_CHAT = 3
GROUP_POSTS = 3
MATTERS = 1_000  # about nine raised a week over the seeded two years
YEAR = re.compile(r"20\d\d")
RESENT = "因网络问题重新发送"

Planned = tuple[str, int, str, dict[str, Any]]  # key, chat, kind, payload


class Network:
    """When the request the fake is judging arrived: ``rtt / 2`` after it was handed to the
    transport, as on a real network — a stall of this process after that (two shared cores)
    must not make requests arrive bunched."""

    def __init__(self) -> None:
        self.arrival: float | None = None

    def now(self) -> float:
        return self.arrival if self.arrival is not None else time.time()


class SlowRequest(FakeRequest):
    """The fake Bot API at a distance: each call takes ``rtt`` seconds there and back."""

    def __init__(self, fake: FakeTelegram, network: Network, rtt: float) -> None:
        super().__init__(fake)
        self.network = network
        self.half = rtt / 2

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        arrival = time.time() + self.half
        await asyncio.sleep(self.half)
        # FakeRequest answers without awaiting anything: the fake sees this arrival time.
        self.network.arrival = arrival
        try:
            answer = await super().do_request(*args, **kwargs)
        finally:
            self.network.arrival = None
        await asyncio.sleep(self.half)
        return answer


def plan(n: int) -> list[Planned]:
    """``n`` outbox rows: every text unique in its chat (a year or a week in it)."""
    rows: list[Planned] = []
    for start, end in digest_weeks():
        period = {"start": start.isoformat(), "end": end.isoformat()}
        rows.append((f"bench:group:{start:%Y%m%d}", GROUP_ID, "digest", period))
    repeated = [FIRST_USER + i for i in range(REPEATED_CHATS)]
    for round_ in range(PER_REPEATED_CHAT):
        for user_id in repeated:
            rows.append((f"bench:{user_id}:{round_}", user_id, "calendar_gap", gap(round_)))
    user_id = FIRST_USER + REPEATED_CHATS
    while len(rows) < n:
        rows.append((f"bench:{user_id}:0", user_id, "calendar_gap", gap(0)))
        user_id += 1
    return rows


def digest_weeks() -> list[tuple[datetime, datetime]]:
    """The weeks of the group's digests: the ``GROUP_POSTS`` weeks before the seeded moment."""
    ends = [NOW - timedelta(weeks=i) for i in range(GROUP_POSTS)]
    return [(end - timedelta(weeks=1), end) for end in reversed(ends)]


def gap(round_: int) -> dict[str, Any]:
    year = 2030 + round_
    return {"year": year, "source": "estimated", "first": f"{year}-01-01", "last": f"{year}-01-24"}


async def run(n: int, rtt_ms: float = RTT_MS) -> dict[str, float]:
    network = Network()
    fake = FakeTelegram(now=network.now)  # real time, at which requests arrive
    fake.flood_limits(per_second_overall=30, per_minute_per_group=20, per_second_per_chat=1)
    rows = plan(n)
    with tempfile.TemporaryDirectory(prefix="fuyuan-bench-") as tmp:
        path = Path(tmp) / "fanout.sqlite3"
        await asyncio.to_thread(seed, path, MATTERS)  # matters for the digests to report
        settings = Settings(token=TOKEN, database_url=f"sqlite+aiosqlite:///{path}")
        app = build_application(
            settings,
            committee(group=False),
            request=SlowRequest(fake, network, rtt_ms / 1000),
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
            fake.group(GROUP_ID, "委员会", add_bot=True)
            async with svc.db.write() as conn:
                await conn.execute(insert(t.settings).values(key=GROUP_SETTING, value=GROUP_ID))
            for start, end in digest_weeks():
                if (await svc.digest(start, end)).empty:
                    raise RuntimeError(f"fan-out: nothing to report in the week from {start}")
            now = datetime.now(UTC)
            users = sorted({chat for _, chat, _, _ in rows if chat > 0})
            for user_id in users:
                fake.user(user_id, f"成员{user_id}").started = True
                await svc.viewer(user_id, f"成员{user_id}", None)
            async with svc.db.write() as conn:  # members: the courier checks recipients
                await conn.execute(
                    insert(t.members),
                    [
                        {
                            "user_id": user_id,
                            "org_code": "CBS-NR",
                            "role": Role.OBSERVER.value,
                            "display_name": f"成员{user_id}",
                            "joined_at": now,
                        }
                        for user_id in users
                    ],
                )
            async with svc.db.write() as conn:
                for key, chat, kind, payload in rows:
                    await enqueue(conn, now, key, chat, kind, payload)
            # Start with empty flood windows, as after a quiet minute.
            await asyncio.sleep(1.1)
            calls_before = len(fake.calls)
            courier = runtime.courier
            assert courier is not None
            writes = 0
            write = svc.db.write

            @asynccontextmanager
            async def counted() -> AsyncIterator[Any]:
                nonlocal writes
                writes += 1
                async with write() as conn:
                    yield conn

            svc.db.write = counted  # type: ignore[method-assign]
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
            svc.db.write = write  # type: ignore[method-assign]
            async with svc.db.read() as conn:
                failures = (
                    await conn.execute(
                        select(t.outbox.c.key, t.outbox.c.last_error).where(
                            t.outbox.c.status == "failed"
                        )
                    )
                ).all()
            for key, error in failures:
                print(f"fan-out: {key} failed: {error}", file=sys.stderr)
            sends = [c for c in fake.calls[calls_before:] if c.method.lower() == "sendmessage"]
            lost, doubled = tally(rows, sends)
            return {
                "wall": wall,
                "sent": counts.get(SENT, 0),
                "failed": counts.get("failed", 0),
                "throttled": sum(1 for c in sends if c.status == 429),
                "lost": lost,
                "doubled": doubled,
                "in_order": float(in_order(sends)),
                "flushes": flushes,
                "writes": writes,
            }
        finally:
            await app.shutdown()
            assert app.post_shutdown is not None
            await app.post_shutdown(app)


def tally(rows: list[Planned], sends: list[ApiCall]) -> tuple[int, int]:
    """(lost, doubled): per chat, messages that never arrived and copies beyond the first."""
    delivered = Counter(
        (int(c.params["chat_id"]), unflagged(c.response["result"]["text"])) for c in sends if c.ok
    )
    lost, doubled = 0, 0
    for chat in {chat for _, chat, _, _ in rows}:
        copies = [k for (c, _), k in delivered.items() if c == chat]
        expected = sum(1 for _, c, _, _ in rows if c == chat)
        lost += max(expected - len(copies), 0)
        doubled += sum(copies) - len(copies)
    return lost, doubled


def in_order(sends: list[ApiCall]) -> bool:
    """The chats with several messages got them in queue order."""
    expected = [str(2030 + r) for r in range(PER_REPEATED_CHAT)]
    for user_id in range(FIRST_USER, FIRST_USER + REPEATED_CHATS):
        texts = [c.response["result"]["text"] for c in sends if c.ok and chat_of(c) == user_id]
        if [YEAR.findall(text)[0] for text in texts] != expected:
            return False
    return True


def unflagged(text: str) -> str:
    """A resend flagged as a possible repeat is still the same message."""
    return text.split("\n", 1)[-1] if text.startswith(RESENT) else text


def chat_of(call: ApiCall) -> int:
    return int(call.params["chat_id"])


async def measure(*, quick: bool, verbose: bool = False, rtt_ms: float = RTT_MS) -> list[Row]:
    n = 100 if quick else 300
    r = await run(n, rtt_ms)
    if verbose:
        print(f"fanout: {r}")
    rate = r["sent"] / r["wall"] if r["wall"] else 0.0
    lost, doubled = int(r["lost"]), int(r["doubled"])
    chats = n - GROUP_POSTS - REPEATED_CHATS * (PER_REPEATED_CHAT - 1)
    return [
        Row(
            f"fan-out: {n} notifications ({chats} chats, {GROUP_POSTS} to the group), "
            f"{rtt_ms:g} ms round trip, flood-limited fake",
            f"{r['wall']:.1f} s ({int(r['flushes'])} courier runs, "
            f"{int(r['writes'])} write transactions)",
        ),
        Row("fan-out: achieved rate", f"{rate:.1f} messages/s", ">= 28 /s", rate >= 28),
        Row(
            "fan-out: 429s seen / lost / doubled / failed / out of order",
            f"{int(r['throttled'])} / {lost} / {doubled} / {int(r['failed'])} / "
            f"{'no' if r['in_order'] else 'YES'}",
            "0 / 0 / 0 / 0 / no",
            r["throttled"] == 0
            and lost == 0
            and doubled == 0
            and r["failed"] == 0
            and bool(r["in_order"]),
        ),
    ]
