"""Shared pieces of the benchmark: result rows, the committee, the machine, statistics."""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# As bot.py does: python-telegram-bot's time spans as timedelta.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from bot.config import load_committee
from bot.domain.committee import Committee
from tests.fakes.server import TEST_TOKEN

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")

TOKEN = TEST_TOKEN
ADMIN_ID = 1001
GROUP_ID = -1001234567890
JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the results table. ``ok`` is None for figures without a target."""

    measurement: str
    value: str
    target: str = ""
    ok: bool | None = None
    # The figures behind ``value`` as numbers (for ``--json``): name -> value, units in names.
    data: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    def as_json(self) -> JSON:
        return {
            "measurement": self.measurement,
            "value": self.value,
            "target": self.target,
            "ok": self.ok,
            "figures": self.data,
        }

    @property
    def verdict(self) -> str:
        if self.ok is None:
            return ""
        return "pass" if self.ok else "FAIL"


def stop(proc: subprocess.Popen[Any], wait: float) -> None:
    """Stop a bot process as an operator would (SIGTERM), killing it after ``wait`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def committee(*, group: bool = True) -> Committee:
    """The example committee with the benchmark's office admin (and group, if asked)."""
    base = load_committee(ROOT / "committee.example.toml")
    return dataclasses.replace(
        base, admins=frozenset({ADMIN_ID}), group_chat_id=GROUP_ID if group else None
    )


def quiet_logging() -> None:
    """The benchmark measures handling, not log formatting: only errors are printed."""
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.ERROR)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(ns: float) -> str:
    return f"{ns / 1e6:.2f} ms"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    cores = os.cpu_count() or 0
    return (
        f"{cpu_model()}, {cores} core(s), Python {platform.python_version()} "
        f"({sys.implementation.name}), {platform.system()} {platform.release()}"
    )


def table(rows: Sequence[Row], *, markdown: bool = False) -> str:
    headers = ("measurement", "value", "target", "result")
    cells = [(r.measurement, r.value, r.target, r.verdict) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    sep = "  "
    out = [sep.join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append(sep.join("-" * w for w in widths))
    out += [sep.join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)
