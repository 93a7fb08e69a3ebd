"""Memory: the resident size of the running bot after many updates.

First, ``bot.py`` itself (``process``): started as the operator starts it, in a process of
its own (``bench.membot``: the one difference, its pacer lets requests through far above
Telegram's flood limits), on a copy of the mix's seeded database prepared as the mix prepares
it, against the fake Bot API's HTTP server (``sandbox.botapi``). The mix's scripts send it
``UPDATES`` updates through getUpdates, in rounds of eight; a round is handled once the bot
has fetched it and made no other request for ``QUIET_S``. Its ``VmRSS`` is read from ``/proc``
before the first update and after the last one is handled. Unlike the mix, it runs on the
system clock (the mix's clock moves 20 s a round), and the scripts act on what the bot showed
by the end of the previous round.

Second, in-process (``child``): the real Application (its job queue included) handles
``UPDATES`` updates of the mix's scripts on a copy of the mix's seeded database, in a process
of its own (``python -m bench.memory``), so that neither the seeding nor the echo bot nor an
earlier part of the benchmark is in its heap. Rounds follow each other without idling and
without the rate limiter (at Telegram's 30 messages a second, 10,000 updates would take over
six minutes of waiting; the limiter's own state is a few objects). The process also holds the
in-process fake Bot API and the scripts, trimmed to each chat's recent messages: the figure is
an upper bound of the bot's own. As ``bot.py`` does, the process caps glibc's malloc arenas
before any thread starts (``bot.heap.limit_arenas``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import ADMIN_ID, GROUP_ID, ROOT, Row, committee, stop
from bot.domain.models import Role
from tests.fakes.server import TEST_TOKEN, FakeBotApiServer

if TYPE_CHECKING:
    from tests.fakes.telegram import FakeTelegram

UPDATES = 10_000
QUICK_UPDATES = 1_000
TARGET_MIB = 100.0


def seeded(matters: int) -> None:
    """The seeded file of ``matters`` matters exists (seeded now in a process of its own if
    not): seeding in the measured process would leave its heap behind in the figure."""
    command = [sys.executable, "-m", "bench.memory", "--seed-only", "--size", str(matters)]
    subprocess.run(command, cwd=ROOT, check=True)


def child(updates: int, matters: int, quick: bool) -> dict[str, float]:
    """In this process: the bot handles ``updates`` updates; its figures."""
    from bench import mix
    from bench.common import quiet_logging
    from bench.seed import cached
    from bot.heap import limit_arenas

    limit_arenas()  # as bot.py does, before any thread starts
    quiet_logging()
    template, fresh = cached(matters, now=mix.START)
    if fresh:
        raise RuntimeError("the seeded file was missing: it was seeded in the measured process")
    people = mix.quick_cast() if quick else None
    result = asyncio.run(mix.run_bot(updates, 20261130, template, 0.0, None, people, paced=False))
    return {
        "updates": len(result.timings.ns),
        "rss_start_mib": result.rss_start_mib,
        "rss_end_mib": result.rss_end_mib,
        "errors": result.errors,
        "unanswered": result.unanswered,
        "anomalies": sum(result.anomalies.values()),
        "submitted": result.submitted,
    }


QUIET_S = 0.08  # no call to the Bot API for this long: the round's updates are handled


def _vm(pid: int) -> dict[str, float]:
    """A process's ``VmRSS`` and ``VmHWM`` (its peak) in MiB, from ``/proc``."""
    figures: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = int(value.split()[0]) / 1024
    return figures


def _settle(fake: FakeTelegram, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Wait until the bot has fetched every update (its next getUpdates is parked) and made
    no other call to the Bot API for ``QUIET_S``: what it was given is handled."""
    deadline = time.monotonic() + timeout
    seen = -1
    since = time.monotonic()
    while True:
        with fake.lock:
            fetched = not fake.has_updates(None) and fake.waiting_long_polls > 0
            made = sum(1 for call in fake.calls if call.method.lower() != "getupdates")
        now = time.monotonic()
        if made != seen or not fetched:
            seen, since = made, now
        elif now - since >= QUIET_S:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"bot.py exited with {proc.returncode}")
        if now > deadline:
            raise RuntimeError("the bot did not settle:\n" + fake.summary())
        time.sleep(0.005)


def _committee_file(path: Path) -> None:
    """The example committee with the benchmark's office admin and group (as ``committee()``)."""
    text = (ROOT / "committee.example.toml").read_text("utf-8")
    text = text.replace("admins = []", f"admins = [{ADMIN_ID}]")
    text = text.replace(f"# group_chat_id = {GROUP_ID}", f"group_chat_id = {GROUP_ID}")
    assert f"\ngroup_chat_id = {GROUP_ID}" in text
    path.write_text(text, "utf-8")


async def _prepare(path: Path, fake: FakeTelegram) -> dict[str, list[str]]:
    """As the mix does before it measures (``mix._prepare``), on the system clock, in this
    process: the bot's process starts on a database as of a bot that has been running. Returns
    the recent matters' numbers by organisation, for the scripts."""
    from sqlalchemy import select

    from bench import mix
    from bot.app import build_application
    from bot.config import Settings
    from bot.storage import schema as t
    from tests.fakes.request import FakeRequest

    settings = Settings(token=TEST_TOKEN, database_url=f"sqlite+aiosqlite:///{path}")
    app = build_application(settings, committee(), request=FakeRequest(fake), rate_limiter=False)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    try:
        runtime = app.bot_data["runtime"]
        await mix._prepare(app, runtime)
        numbers: dict[str, list[str]] = defaultdict(list)
        async with runtime.svc.db.read() as conn:
            recent = await conn.execute(
                select(t.cases.c.raiser_org, t.cases.c.number)
                .order_by(t.cases.c.id.desc())
                .limit(2000)
            )
            for org, number in recent:
                numbers[org].append(number)
        return numbers
    finally:
        await app.shutdown()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)


def _count(path: Path, sql: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return int(conn.execute(sql).fetchone()[0])


def process(updates: int, matters: int, quick: bool) -> dict[str, Any]:
    """``bot.py`` (``bench.membot``: its pacer's limits raised) in a process of its own on a
    copy of the seeded database, fed the mix's scripts through the fake Bot API's HTTP
    server; its ``VmRSS`` before the first update and after the last one is handled."""
    from bench import mix
    from bench.common import quiet_logging
    from bench.seed import cached, cast
    from tests.fakes.telegram import FakeTelegram

    quiet_logging()
    template, _ = cached(matters, now=mix.START)
    rng = random.Random(20261130)
    with tempfile.TemporaryDirectory(prefix="fuyuan-bench-") as tmp:
        workdir = Path(tmp)
        path = workdir / "fuyuan.sqlite3"
        shutil.copyfile(template, path)
        _committee_file(workdir / "committee.toml")
        fake = FakeTelegram()
        fake.group(GROUP_ID, "长白山府院联动群", add_bot=True)
        admin_user = fake.user(ADMIN_ID, "办公室管理员")
        admin_user.started = True
        people = mix.quick_cast() if quick else None
        actors = [mix.Actor(admin_user, "CBS-OFFICE", Role.OFFICE)]
        acting = {p[0] for p in people} if people is not None else None
        for user_id, name, org, role in cast():
            user = fake.user(user_id, name)
            user.started = True
            if acting is None or user_id in acting:
                actors.append(mix.Actor(user, org, role))
        numbers_by_org = asyncio.run(_prepare(path, fake))
        view = mix.ChatView(fake)
        view.refresh(clear=True)
        world = mix.World(view, rng, numbers_by_org)
        if people is not None:
            world.group_share = 0.3
        for actor in actors:
            if actor.role is Role.DEPARTMENT_HEAD:
                actor.script = mix.department_head(world, actor)
            elif actor.role is Role.COURT_STAFF:
                actor.script = mix.court_staff(world, actor)
            else:
                actor.script = mix.office(world, actor)
        cases_before = _count(path, "SELECT count(*) FROM cases")
        log_path = workdir / "bot.log"
        with FakeBotApiServer(fake) as server, log_path.open("w") as log:
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": str(workdir),
                "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
                "TELEGRAM_API_BASE_URL": server.base_url,
                "TELEGRAM_BASE_FILE_URL": server.base_file_url,
                "DATABASE_URL": f"sqlite+aiosqlite:///{path}",
                "COMMITTEE_CONFIG": str(workdir / "committee.toml"),
                "TZ": "Asia/Shanghai",
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.membot"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                _settle(fake, proc, timeout=60)  # started, the group's update handled
                view.refresh(clear=True)
                start = _vm(proc.pid)
                admin, others = actors[0], actors[1:]
                emitted = 0
                rounds = 0
                while emitted < updates:
                    order = (
                        [admin, *rng.sample(others, mix.ROUND - 1)]
                        if people is not None
                        else rng.sample(actors, mix.ROUND)
                    )
                    for actor in order[: updates - emitted]:
                        assert actor.script is not None
                        mix.emit(fake, actor.user, next(actor.script))
                        emitted += 1
                    _settle(fake, proc)
                    rounds += 1
                    view.refresh(clear=True)
                    view.forget(fake)
                end = _vm(proc.pid)
            finally:
                stop(proc, 30)
        logged = log_path.read_text("utf-8", errors="replace")
        errors = [ln for ln in logged.splitlines() if "ERROR" in ln or "Traceback" in ln]
        return {
            "updates": emitted,
            "rounds": rounds,
            "rss_start_mib": start["VmRSS"],
            "rss_end_mib": end["VmRSS"],
            "rss_peak_mib": end["VmHWM"],
            "errors": len(errors),
            "first_error": errors[0] if errors else None,
            "unanswered": len(fake.unanswered_callback_queries()),
            "anomalies": sum(world.anomalies.values()),
            "submitted": _count(path, "SELECT count(*) FROM cases") - cases_before,
        }


def _run(updates: int, matters: int, quick: bool, *extra: str) -> dict[str, object]:
    command = [sys.executable, "-m", "bench.memory", "--updates", str(updates), *extra]
    command += ["--size", str(matters)] + (["--quick"] if quick else [])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.memory failed:\n{done.stderr[-4000:]}")
    figures: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def measure(*, quick: bool, verbose: bool = False, size: int | None = None) -> list[Row]:
    updates = QUICK_UPDATES if quick else UPDATES
    matters = size or (20_000 if quick else 100_000)
    bot = _run(updates, matters, quick, "--process")
    inproc = _run(updates, matters, quick)
    if verbose:
        print(f"memory, bot.py: {bot}")
        print(f"memory, in-process: {inproc}")
    rows = []
    for r, what, target in (
        (bot, "bot.py's process", True),
        (inproc, "the Application in the benchmark's process", False),
    ):
        end = float(r["rss_end_mib"])  # type: ignore[arg-type]
        sane = r["errors"] == 0 and r["unanswered"] == 0
        rows.append(
            Row(
                f"memory: RSS of {what} after {r['updates']} updates "
                f"({matters} matters; before the first update)",
                f"{end:.0f} MiB ({float(r['rss_start_mib']):.0f} MiB)",  # type: ignore[arg-type]
                f"<= {TARGET_MIB:g} MiB" if target else "",
                (end <= TARGET_MIB and sane) if target else None,
                data=r,
            )
        )
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--updates", type=int, default=UPDATES)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="the quick run's smaller cast")
    parser.add_argument(
        "--process", action="store_true", help="measure bot.py in a process of its own"
    )
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed_only:
        from bench import mix
        from bench.seed import cached

        cached(args.size, now=mix.START)
        return 0
    seeded(args.size)
    if args.process:
        print(json.dumps(process(args.updates, args.size, args.quick)))
        return 0
    figures = child(args.updates, args.size, args.quick)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
