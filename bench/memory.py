"""Memory: the resident size of the running bot after many updates.

The real Application (its job queue included) handles ``UPDATES`` updates of the mix's
scripts on a copy of the mix's seeded database, in a process of its own (``python -m
bench.memory``), so that neither the seeding nor the echo bot nor an earlier part of the
benchmark is in its heap. Rounds follow each other without idling and without the rate
limiter (at Telegram's 30 messages a second, 10,000 updates would take over six minutes of
waiting; the limiter's own state is a few objects). The process also holds the in-process
fake Bot API and the scripts, trimmed to each chat's recent messages: the figure is an upper
bound of the bot's own. As ``bot.py`` does, the process caps glibc's malloc arenas before any
thread starts (``bot.heap.limit_arenas``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys

from bench.common import ROOT, Row

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


def measure(*, quick: bool, verbose: bool = False, size: int | None = None) -> list[Row]:
    updates = QUICK_UPDATES if quick else UPDATES
    matters = size or (20_000 if quick else 100_000)
    command = [sys.executable, "-m", "bench.memory", "--updates", str(updates)]
    command += ["--size", str(matters)] + (["--quick"] if quick else [])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.memory failed:\n{done.stderr[-4000:]}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    if verbose:
        print(f"memory: {r}")
    end = r["rss_end_mib"]
    sane = r["errors"] == 0 and r["unanswered"] == 0
    return [
        Row(
            f"memory: RSS of the running bot after {int(r['updates'])} updates "
            f"({matters} matters; before the first update)",
            f"{end:.0f} MiB ({r['rss_start_mib']:.0f} MiB)",
            f"<= {TARGET_MIB:g} MiB",
            end <= TARGET_MIB and sane,
            data=r,
        ),
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--updates", type=int, default=UPDATES)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="the quick run's smaller cast")
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed_only:
        from bench import mix
        from bench.seed import cached

        cached(args.size, now=mix.START)
        return 0
    seeded(args.size)
    figures = child(args.updates, args.size, args.quick)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
