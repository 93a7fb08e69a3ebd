"""The benchmark's own machinery (not its figures): the kept seeded database, and the check
that a run exercised every kind of update."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from bench import memory, mix, seed
from bench.mix import Action, MixResult, Timings


def _matters(path: Path) -> int:
    raw = sqlite3.connect(path)
    try:
        return int(raw.execute("SELECT count(*) FROM cases").fetchone()[0])
    finally:
        raw.close()


def test_the_seeded_database_is_kept_per_size_and_seeded_again_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(seed.CACHE_ENV, str(tmp_path))
    first, seeded = seed.cached(120)
    assert seeded and _matters(first) == 120
    stamp = first.stat().st_mtime_ns
    again, seeded = seed.cached(120)
    assert (again, seeded) == (first, False)
    assert again.stat().st_mtime_ns == stamp  # reused, not written again
    other, seeded = seed.cached(80)
    assert seeded and other != first and _matters(other) == 80
    fresh, seeded = seed.cached(120, fresh=True)
    assert (fresh, seeded) == (first, True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])


def test_the_memory_run_has_a_missing_seeded_file_seeded_by_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seeding in the measured process would leave its heap in the figure."""
    monkeypatch.setenv(seed.CACHE_ENV, str(tmp_path))
    memory.seeded(60)  # inherits the environment: the same cache
    path, seeded = seed.cached(60, now=mix.START)
    assert not seeded and _matters(path) == 60


def test_the_memory_run_measures_bot_py_in_its_own_process_fed_by_get_updates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bot.py`` (its pacer's limits raised) answers the mix's scripts through the fake Bot
    API's HTTP server; its own process's resident size is read before and after."""
    monkeypatch.setenv(seed.CACHE_ENV, str(tmp_path))
    memory.seeded(60)
    figures = memory.process(24, 60, quick=True)
    assert figures["updates"] == 24 and figures["rounds"] == 3
    assert figures["errors"] == 0 and figures["unanswered"] == 0, figures["first_error"]
    assert 0 < figures["rss_start_mib"] < figures["rss_end_mib"] <= figures["rss_peak_mib"]


def _result(labels: Counter[str], submitted: int, answered: int, joined: int) -> MixResult:
    sequence = [(1, Action(label)) for label, n in labels.items() for _ in range(n)]
    return MixResult(
        timings=Timings(),
        sequence=sequence,
        statements=0,
        transactions=0,
        writes=0,
        hops=0,
        submitted=submitted,
        answered=answered,
        joined=joined,
        errors=0,
        first_error=None,
        anomalies=Counter(),
        rejected=Counter(),
        unanswered=0,
    )


def test_a_run_that_exercised_every_kind_of_update_passes_and_one_that_did_not_fails() -> None:
    every = Counter({label: 3 for _, group in mix.EXERCISED for label in group[:1]})
    assert mix.exercised(_result(every, 3, 3, 3)).ok is True
    # Forms begun but never submitted, invitations never used: what a short run with all
    # fifty people acting used to be.
    assert mix.exercised(_result(every, 0, 3, 3)).ok is False
    assert mix.exercised(_result(every, 3, 3, 0)).ok is False
    fewer = every.copy()
    fewer["/meetings"] = 2
    row = mix.exercised(_result(fewer, 3, 3, 3))
    assert row.ok is False and "/meetings 2" in row.value


def test_a_quick_run_acts_with_few_enough_people_to_finish_what_they_start() -> None:
    people = mix.quick_cast()
    assert 10 <= len(people) <= 20
    assert {p[0] for p in people} <= {p[0] for p in seed.cast()}
    # A department head takes about 15 steps to submit a matter: in a quick run each of them
    # acts often enough to submit some.
    turns = mix.QUICK_UPDATES * (mix.ROUND - 1) / mix.ROUND / len(people)
    assert turns >= 30


def test_the_floor_bot_makes_the_real_bot_s_calls_again_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The floor (what a bot making only these calls costs on this stack) is only a floor if
    its calls are the real bot's: each update's, in order, with the same parameters (ids
    aside), and none refused by the fake."""
    monkeypatch.setenv(seed.CACHE_ENV, str(tmp_path))
    template, _ = seed.cached(60, now=mix.START)
    pair = asyncio.run(mix._pair(40, template, 0.0, None, mix.quick_cast()))
    bot, floor = pair.bot.timings, pair.floor
    assert floor is not None and pair.bot.errors == 0
    assert len(bot.calls) == len(floor.timings.ns) == 40
    assert floor.timings.labels == bot.labels
    assert not floor.failed and floor.skipped == 0
    made = [api for calls in floor.timings.calls for api, _ in calls]
    assert made == [api for calls in bot.calls for api, _ in calls]
    assert "answerCallbackQuery" in made and "sendMessage" in made
    texts = [p.get("text") for calls in bot.calls for api, p in calls if api == "sendMessage"]
    again = [p.get("text") for calls in floor.timings.calls for a, p in calls if a == "sendMessage"]
    assert again == texts and any(texts)
