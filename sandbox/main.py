"""``python -m sandbox``: the local Bot API, the real bot against it, and the web chat, all on
127.0.0.1, in one process; prints ``sandbox: open http://127.0.0.1:PORT/`` once it is ready.

Environment: ``SANDBOX_PORT`` (default 8470; a free port when that one is taken), ``TZ`` and
``LOG_LEVEL`` as for the bot (the sandbox logs warnings only by default). ``DATABASE_URL``,
``TELEGRAM_BOT_TOKEN`` and ``COMMITTEE_CONFIG`` are not used: the sandbox has its own
database (``data/sandbox.sqlite3``), token and committee (``committee.example.toml``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_PORT = 8470
ROOT = Path(__file__).resolve().parent.parent
IGNORED = ("DATABASE_URL", "TELEGRAM_BOT_TOKEN", "COMMITTEE_CONFIG", "WEBHOOK_URL")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="The bot in a sandbox, played from a web chat."
    )
    parser.add_argument(
        "--port", type=int, default=None, help="default: $SANDBOX_PORT or 8470; 0: a free port"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="where sandbox.sqlite3 is kept"
    )
    parser.add_argument(
        "--committee",
        type=Path,
        default=ROOT / "committee.example.toml",
        help="the committee file (default: the example committee)",
    )
    return parser.parse_args(argv)


def choose_port(given: int | None, env: str) -> int:
    """``--port``, else ``SANDBOX_PORT``, else 8470; 0 asks for any free port."""
    if given is not None:
        return given
    if env.strip():
        port = int(env)
        if not 0 <= port <= 65535:
            raise ValueError(env)
        return port
    return DEFAULT_PORT


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    try:
        port = choose_port(args.port, os.environ.get("SANDBOX_PORT", ""))
    except ValueError:
        print("sandbox: SANDBOX_PORT must be a port number", file=sys.stderr)
        return 2
    tz_name = os.environ.get("TZ", "").strip() or "Asia/Shanghai"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"sandbox: TZ: unknown time zone {tz_name!r}", file=sys.stderr)
        return 2
    level = (os.environ.get("LOG_LEVEL", "").strip() or "WARNING").upper()
    if level not in logging.getLevelNamesMapping():
        level = "WARNING"
    from bot.config import Settings
    from bot.logs import setup_logging
    from sandbox.world import SANDBOX_TOKEN

    # The bot's own logging (tokens redacted), quieter by default, and on standard error:
    # standard output has the one line with the address.
    setup_logging(Settings(token=SANDBOX_TOKEN, log_level=level))
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
    for name in IGNORED:
        if os.environ.get(name, "").strip():
            print(f"sandbox: {name} is ignored here (the sandbox keeps to itself)", file=sys.stderr)
    try:
        return asyncio.run(_serve(args, port, tz, level, started))
    except KeyboardInterrupt:
        return 0


async def _serve(
    args: argparse.Namespace, port: int, tz: ZoneInfo, level: str, started: float
) -> int:
    from sandbox.webchat import listen
    from sandbox.world import Sandbox

    sandbox = Sandbox(args.data_dir, args.committee, tz=tz, log_level=level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await sandbox.start()
        server, bound = listen(sandbox, port)
        try:
            logging.getLogger(__name__).info("ready in %.1f s", time.monotonic() - started)
            print(f"sandbox: open http://127.0.0.1:{bound}/", flush=True)
            await stop.wait()
        finally:
            await sandbox.stop()  # first: the pages' long polls are answered
            server.stop()
            await server.close_all_connections()
    finally:
        await sandbox.stop()
    return 0
