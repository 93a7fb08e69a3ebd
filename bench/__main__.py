"""``python -m bench [--quick] [--only mix|memory|scan|fanout|startup|find|stats|export]
[--size N] [--rtt MS] [--json FILE] [--write] [--verbose] [--profile DIR] [--reseed]``

Prints one table of measured numbers with their targets; ``--write`` also stores it as
Markdown in ``bench/RESULTS.md``, ``--json`` every figure machine-readably. ``--size`` is the
number of matters the mix's and the scan's databases are seeded with (100,000 by default;
1,000,000 runs). ``--rtt`` simulates the Bot API's round trip: the mix runs at 0 ms and at
that many ms. ``--profile DIR`` writes cProfile data of the mix and of the scan/digest there
(inspect with ``python -m pstats``). The mix's seeded database is kept between runs
(``bench.seed.cached``, in ``$FUYUAN_BENCH_CACHE`` or the user's cache directory); ``--reseed``
seeds it again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

from bench.common import Row, machine, quiet_logging, table

MEASUREMENTS = ("mix", "memory", "scan", "fanout", "startup", "find", "stats", "export")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure fuyuan-bot: update handling against an echo bot, the overdue scan "
        "and the digest at 100,000 matters, fan-out under flood limits, start-up, memory.",
    )
    parser.add_argument("--quick", action="store_true", help="smaller, faster run")
    parser.add_argument(
        "--only", choices=MEASUREMENTS, action="append", help="run only this (repeatable)"
    )
    parser.add_argument("--write", action="store_true", help=f"also write {RESULTS.name}")
    parser.add_argument("--verbose", "-v", action="store_true", help="per-step breakdowns")
    parser.add_argument(
        "--size",
        type=int,
        help="matters seeded for the mix and the scan (default 100000; --quick 20000)",
    )
    parser.add_argument(
        "--rtt",
        type=float,
        default=50.0,
        metavar="MS",
        help="simulated Bot API round trip: the mix runs at 0 ms and at this (default 50)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure here")
    parser.add_argument("--profile", type=Path, help="write cProfile data into this directory")
    parser.add_argument(
        "--reseed",
        action="store_true",
        help="seed the mix's database again instead of reusing the cached one",
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> list[Row]:
    selected = args.only or list(MEASUREMENTS)
    rows: list[Row] = []
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    for name in MEASUREMENTS:
        if name not in selected:
            continue
        started = time.perf_counter()
        print(f"… {name}", file=sys.stderr, flush=True)
        if name == "mix":
            from bench import mix

            profile = args.profile / "mix.prof" if args.profile else None
            rows += mix.measure_all(
                quick=args.quick,
                verbose=args.verbose,
                profile=profile,
                size=args.size,
                rtt_ms=args.rtt,
                fresh=args.reseed,
            )
        elif name == "memory":
            from bench import memory

            rows += memory.measure(quick=args.quick, verbose=args.verbose, size=args.size)
        elif name == "scan":
            from bench import scan

            profile = args.profile / "scan.prof" if args.profile else None
            rows += scan.measure(
                quick=args.quick, verbose=args.verbose, profile=profile, size=args.size
            )
        elif name == "fanout":
            from bench import fanout

            rows += asyncio.run(fanout.measure(quick=args.quick, verbose=args.verbose))
        elif name == "startup":
            from bench import startup

            rows += startup.measure(quick=args.quick, verbose=args.verbose)
        elif name == "find":
            from bench import find

            rows += find.measure(quick=args.quick, verbose=args.verbose, size=args.size)
        elif name == "stats":
            from bench import stats

            rows += stats.measure(
                quick=args.quick, verbose=args.verbose, size=args.size, fresh=args.reseed
            )
        elif name == "export":
            from bench import export

            rows += export.measure(quick=args.quick, verbose=args.verbose, size=args.size)
        print(f"  {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows


def main(argv: list[str]) -> int:
    args = parse(argv)
    quiet_logging()
    # With max_retries=0 every 429 is logged with a traceback by the library; the fan-out
    # counts them from the fake's call log instead.
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    rows = run(args)
    host = machine()
    mode = "quick" if args.quick else "full"
    print()
    print(f"fuyuan-bot benchmark ({mode} run) on {host}")
    print(table(rows))
    failed = [r.measurement for r in rows if r.ok is False]
    took = time.perf_counter() - started
    print(f"\n{len(failed)} target(s) missed; took {took:.0f} s")
    if args.json:
        document = {
            "command": "python -m bench " + " ".join(argv),
            "mode": mode,
            "machine": host,
            "taken_at": datetime.now().astimezone().isoformat(timespec="seconds"),
            "seconds": took,
            "targets_missed": len(failed),
            "rows": [r.as_json() for r in rows],
        }
        args.json.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", "utf-8")
        print(f"figures written to {args.json}")
    if args.write:
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        RESULTS.write_text(
            f"# Benchmark results\n\n`python -m bench{' --quick' if args.quick else ''}` "
            f"({mode} run), {stamp}\n\nMachine: {host}\n\n{table(rows, markdown=True)}\n",
            "utf-8",
        )
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
