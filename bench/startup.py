"""Start-up: ``python bot.py`` as a subprocess against the fake Bot API's HTTP server.

A user's message is queued before the process starts; the time measured runs from spawning
the process to the bot's answer arriving at the fake. With a new database the migrations run
first; with an existing one they are a no-op check. The import time of ``bot.app`` alone is
measured in a fresh interpreter. Beside the wall time, the CPU time the bot's process has used
by the moment its answer arrives (from ``/proc``, where there is one): on a machine shared
with other work it varies far less than the wall time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ADMIN_ID, ROOT, Row, median, stop
from tests.fakes.server import TEST_TOKEN, FakeBotApiServer
from tests.fakes.telegram import FakeTelegram


def _env(workdir: Path, server: FakeBotApiServer) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE_URL": server.base_url,
        "TELEGRAM_BASE_FILE_URL": server.base_file_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'fuyuan.sqlite3'}",
        "COMMITTEE_CONFIG": str(workdir / "committee.toml"),
        "TZ": "Asia/Shanghai",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def _cpu_and_rss(pid: int) -> tuple[float, float] | None:
    """CPU seconds (user and system) a running process has used so far, and its resident
    size in MiB (Linux ``/proc``; None elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss_kib = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:"))
    return cpu, rss_kib / 1024


def one_start(workdir: Path, first_update_id: int) -> tuple[float, tuple[float, float] | None]:
    """Seconds from spawning ``bot.py`` to its answer to /start queued beforehand, and the
    CPU seconds its process had used by then with its RSS (None where ``/proc`` cannot tell).

    Update ids grow across runs on one database, as Telegram's do (the bot skips an update
    id it has handled before).
    """
    fake = FakeTelegram(first_update_id=first_update_id)
    log_path = workdir / f"bot-{first_update_id}.log"
    with FakeBotApiServer(fake) as server, log_path.open("w") as log:
        admin = fake.user(ADMIN_ID, "办公室管理员")
        fake.send_text(admin, "/start")

        def answered() -> bool:
            # The help text, not another message (e.g. a calendar warning) to the same chat.
            return any(
                c.method.lower() == "sendmessage"
                and str(c.params.get("chat_id")) == str(ADMIN_ID)
                and "/new" in str(c.params.get("text"))
                for c in fake.calls
            )

        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bot.py")],
            cwd=workdir,
            env=_env(workdir, server),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            fake.wait_for(lambda: answered() or proc.poll() is not None, timeout=30)
            elapsed = time.perf_counter() - start
            used = _cpu_and_rss(proc.pid)
            if not answered():
                raise RuntimeError(
                    f"bot.py exited with {proc.returncode}:\n{log_path.read_text('utf-8')}"
                )
        finally:
            stop(proc, 15)
    return elapsed, used


def _committee_file(workdir: Path) -> None:
    text = (ROOT / "committee.example.toml").read_text("utf-8")
    (workdir / "committee.toml").write_text(
        text.replace("admins = []", f"admins = [{ADMIN_ID}]"), "utf-8"
    )


def import_time() -> float:
    """Seconds to import ``bot.app`` in a fresh interpreter (bytecode already compiled)."""
    code = "import time; t = time.perf_counter(); import bot.app; print(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def import_top(n: int = 12) -> str:
    """The slowest top-level imports of ``bot.app`` (``-X importtime``, cumulative)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import bot.app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[tuple[int, str]] = []
    for line in out.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if match and len(match.group(2)) <= 8:  # the first few levels of nesting
            rows.append((int(match.group(1)), "  " * (len(match.group(2)) // 2) + match.group(3)))
    rows.sort(reverse=True)
    return "\n".join(f"  {us / 1000:8.1f} ms  {name}" for us, name in rows[:n])


def measure(*, quick: bool, verbose: bool = False) -> list[Row]:
    runs = 1 if quick else 3
    fresh: list[float] = []
    existing: list[float] = []
    cpu: list[float] = []
    rss: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="fuyuan-bench-") as tmp:
            workdir = Path(tmp)
            _committee_file(workdir)
            fresh.append(one_start(workdir, 1)[0])  # new database: migrations run
            wall, used = one_start(workdir, 1001)  # the same database again
            existing.append(wall)
            if used is not None:
                cpu.append(used[0])
                rss.append(used[1])
    imports = [import_time() for _ in range(runs)]
    if verbose:
        print(f"start-up: new database {fresh}, existing database {existing}")
        print(f"start-up, existing database: CPU {cpu}, RSS {rss}")
        print("slowest imports of bot.app (cumulative):\n" + import_top())
    warm = median(existing)
    return [
        Row(
            f"start-up to first answer, existing database (median of {runs})",
            f"{warm * 1000:.0f} ms",
            "<= 0.7 s",
            warm <= 0.7,
            data={"ms": warm * 1000, "runs_ms": [x * 1000 for x in existing]},
        ),
        Row(
            f"start-up to first answer, new database incl. migrations (median of {runs})",
            f"{median(fresh) * 1000:.0f} ms",
            "<= 1 s",
            median(fresh) <= 1.0,
            data={"ms": median(fresh) * 1000, "runs_ms": [x * 1000 for x in fresh]},
        ),
        *(
            [
                Row(
                    f"CPU of the bot's process to its first answer, existing database "
                    f"(median of {runs})",
                    f"{median(cpu) * 1000:.0f} ms",
                    data={"ms": median(cpu) * 1000, "runs_ms": [x * 1000 for x in cpu]},
                )
            ]
            if cpu
            else []
        ),
        *(
            [
                Row(
                    f"RSS of the bot's process at its first answer, existing database "
                    f"(median of {runs})",
                    f"{median(rss):.0f} MiB",
                    data={"mib": median(rss), "runs_mib": rss},
                )
            ]
            if rss
            else []
        ),
        Row(
            f"import of bot.app alone (median of {runs})",
            f"{median(imports) * 1000:.0f} ms",
            data={"ms": median(imports) * 1000},
        ),
    ]
