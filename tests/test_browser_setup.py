"""Without a browser the browser tests are skipped, loudly once, and fail the run where they
must run (``FUYUAN_REQUIRE_BROWSER=1``, as in CI). Runs pytest on the smoke test in a child
process that is told the driver is missing, so it needs no browser itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMOKE = "tests/browser/test_browser_smoke.py"


def run_pytest(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FUYUAN_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", SMOKE],
        cwd=ROOT,
        env={**base, "FUYUAN_CHROMEDRIVER": "none", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_a_browser_the_browser_tests_are_skipped_with_one_loud_line() -> None:
    result = run_pytest()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert result.stdout.count("browser test(s) NOT run") == 1


def test_where_the_browser_is_required_its_absence_fails_the_run() -> None:
    result = run_pytest(FUYUAN_REQUIRE_BROWSER="1")
    assert result.returncode != 0
    assert "FUYUAN_REQUIRE_BROWSER=1 but no chromedriver at none" in result.stdout
    assert "NOT run" not in result.stdout
