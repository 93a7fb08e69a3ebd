"""Browser tests: Debian's headless Chromium driven by Selenium through the system chromedriver.

The driver is ``$FUYUAN_CHROMEDRIVER`` (``scripts/test`` sets it, installing Chromium as root
through ``scripts/chromium.sh``), else ``/usr/bin/chromedriver`` when it is there; the browser
is ``$FUYUAN_CHROMIUM``, else ``/usr/bin/chromium``. Nothing is downloaded at run time: the
driver's path is given to Selenium, so its manager never runs, and ``SE_OFFLINE`` forbids it
anyway. Without a browser these tests are skipped with one loud line
at the end of the run, unless ``FUYUAN_REQUIRE_BROWSER=1`` (CI), where that is an error.

Screenshots go to ``test-output/screenshots/<test>/`` (ignored by git), one per step and one
more when a test fails; their paths are printed. The sandbox's log goes there too
(``sandbox.log``; ``SANDBOX_LOG_LEVEL=INFO`` keeps more of it).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from sandbox.world import DATABASE_NAME

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
REQUIRE_BROWSER = os.environ.get("FUYUAN_REQUIRE_BROWSER", "") == "1"
DEFAULT_DRIVER = "/usr/bin/chromedriver"
DEFAULT_BROWSER = "/usr/bin/chromium"
# A phone held upright (CSS pixels); wide enough for nothing but one chat column.
PHONE = (412, 915)
# Every flag keeps the browser from reaching out (updates, sync, QUIC) or from needing what a
# container lacks (a GPU, a big /dev/shm, the setuid sandbox: as root it refuses to start).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--lang=zh-CN",
)
# Waits long enough for a loaded machine (the bot answers through its polling loop).
WAIT = 30.0

_skipped: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives headless Chromium (scripts/chromium.sh)")
    config.addinivalue_line(
        "markers", "viewport(width, height): a screen of that size instead of a phone's"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/browser is a browser test (``-m browser`` selects them)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so the driver fixture knows a test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say it loudly once when the browser tests were skipped: a green run did not run them."""
    if _skipped:
        terminalreporter.write_sep(
            "!",
            f"{len(_skipped)} browser test(s) NOT run: no Chromium (as root, ./scripts/test "
            "installs it; else set FUYUAN_CHROMEDRIVER)",
            red=True,
            bold=True,
        )


def _find_driver() -> str | None:
    path = os.environ.get("FUYUAN_CHROMEDRIVER") or DEFAULT_DRIVER
    return path if Path(path).is_file() and os.access(path, os.X_OK) else None


@pytest.fixture
def chromedriver_path(request: pytest.FixtureRequest) -> str:
    """The system chromedriver; skips (fails with FUYUAN_REQUIRE_BROWSER=1) without one."""
    path = _find_driver()
    if path is None:
        reason = (
            f"no chromedriver at {os.environ.get('FUYUAN_CHROMEDRIVER') or DEFAULT_DRIVER} "
            "(scripts/chromium.sh installs Debian's chromium and chromium-driver)"
        )
        if REQUIRE_BROWSER:
            pytest.fail(f"FUYUAN_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        _skipped.append(request.node.nodeid)
        pytest.skip(reason)
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


class Screenshots:
    """Numbered screenshots of one test, in ``test-output/screenshots/<test>/``."""

    def __init__(self, driver: Any, test_name: str) -> None:
        self.driver = driver
        self.folder = SCREENSHOTS / _safe(test_name)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def __call__(self, step: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{_safe(step)}.png"
        if not self.driver.save_screenshot(str(path)):
            raise AssertionError(f"no screenshot taken for {step!r}")
        self.taken.append(path)
        print(f"screenshot: {path}")
        return path


@pytest.fixture
def driver(
    chromedriver_path: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """A fresh headless Chromium (its own profile), phone-sized unless the test is marked
    ``viewport(w, h)``; a screenshot if the test failed, then it is closed."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")
    # Selenium logs every request and answer (screenshots too) at DEBUG: keep failures readable.
    for name in ("selenium", "urllib3"):
        logger = logging.getLogger(name)
        request.addfinalizer(partial(logger.setLevel, logger.level))
        logger.setLevel(logging.INFO)
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("FUYUAN_CHROMIUM", DEFAULT_BROWSER)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    viewport = request.node.get_closest_marker("viewport")
    if viewport is None:
        # Headless windows are at least 500 pixels wide: a phone's screen is emulated instead.
        options.add_argument(f"--window-size={PHONE[0] + 100},{PHONE[1] + 100}")
        options.add_experimental_option(
            "mobileEmulation",
            {"deviceMetrics": {"width": PHONE[0], "height": PHONE[1], "pixelRatio": 2}},
        )
    else:
        options.add_argument(f"--window-size={viewport.args[0]},{viewport.args[1]}")
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    profile = tempfile.mkdtemp(prefix="fuyuan-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    log = Path(profile + ".driver.log")
    service = Service(executable_path=chromedriver_path, log_output=str(log))
    try:
        browser = webdriver.Chrome(service=service, options=options)
    except Exception:
        shutil.rmtree(profile, ignore_errors=True)
        if log.exists():
            print(log.read_text(errors="replace")[-4000:])
        raise
    browser.set_page_load_timeout(WAIT)
    try:
        yield browser
    finally:
        call = getattr(request.node, "report_call", None)
        if call is not None and call.failed:
            shots = getattr(request.node, "screenshots", None) or Screenshots(
                browser, request.node.name
            )
            try:
                shots("FAILED")
            except Exception as exc:  # the browser may be what broke
                print(f"no failure screenshot: {exc}")
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
        log.unlink(missing_ok=True)


@pytest.fixture
def screenshots(driver: Any, request: pytest.FixtureRequest) -> Screenshots:
    """``screenshots("step")`` saves and prints the page as the test now sees it."""
    shots = Screenshots(driver, request.node.name)
    request.node.screenshots = shots  # the failure screenshot joins the steps'
    return shots


def _drain(stream: Any, lines: list[str], first: threading.Event | None) -> None:
    """Keep what a child process writes (so its pipe never fills); ``first`` is set at the
    first line, or when the stream ends without one."""
    for line in stream:
        lines.append(line)
        if first is not None:
            first.set()
    if first is not None:
        first.set()


class SandboxProcess:
    """``python -m sandbox`` on a free port with a data folder of its own, as a person starts
    it; keeps what it wrote to standard error (shown when a test fails)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.database = data_dir / DATABASE_NAME
        self.url = ""
        self.errors: list[str] = []
        self._proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60) -> None:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.data_dir.parent),
            "PYTHONPATH": str(ROOT),
            "TZ": "Asia/Shanghai",
            "LOG_LEVEL": os.environ.get("SANDBOX_LOG_LEVEL", "WARNING"),
        }
        self._proc = proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--port", "0", "--data-dir", str(self.data_dir)],
            cwd=self.data_dir.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        printed: list[str] = []
        said = threading.Event()
        for stream, lines, event in (
            (proc.stdout, printed, said),
            (proc.stderr, self.errors, None),
        ):
            threading.Thread(target=_drain, args=(stream, lines, event), daemon=True).start()
        said.wait(timeout)
        match = re.fullmatch(r"sandbox: open (http://127\.0\.0\.1:\d+/)\n", "".join(printed[:1]))
        if match is None:
            self.stop()
            raise AssertionError(
                f"the sandbox did not say where it is within {timeout:.0f} s: {printed!r}\n"
                + "".join(self.errors[-40:])
            )
        self.url = match.group(1)

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def failed_requests(self) -> list[str]:
        """The web chat's log lines of requests that failed (a 5xx, an uncaught exception)."""
        return [
            line for line in self.errors if re.search(r" tornado\.\w+: (5\d\d |Uncaught)", line)
        ]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """What the sandbox's database holds (read beside the running process)."""
        with closing(sqlite3.connect(self.database)) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
def sandbox(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SandboxProcess]:
    """The sandbox running on a free port, its database in this test's temporary folder; what
    it logged is kept beside the test's screenshots (``sandbox.log``). Ask for it before the
    ``driver``, so the browser is closed before the sandbox stops under its open page."""
    process = SandboxProcess(tmp_path / "data")
    process.start()
    try:
        yield process
    finally:
        process.stop()
        folder = SCREENSHOTS / _safe(request.node.name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "sandbox.log").write_text("".join(process.errors))
        call = getattr(request.node, "report_call", None)
        if call is not None and call.failed:
            print("sandbox's standard error (last lines):\n" + "".join(process.errors[-60:]))
