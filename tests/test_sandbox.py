"""The sandbox (``python -m sandbox``, and ``./scripts/run`` with no token): the real bot against
the local Bot API, played through the web chat's HTTP API exactly as the page plays it —
``/api/send``, ``/api/press``, ``/api/time``, ``/api/reset`` and the long poll on
``/api/state`` — checking what each column shows and what the sandbox's database holds."""

from __future__ import annotations

import asyncio
import html
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.botapi._html import parse_html
from sandbox.cast import GROUP_ID
from sandbox.main import DEFAULT_PORT, choose_port
from sandbox.render import to_html
from sandbox.webchat import listen
from sandbox.world import DATABASE_NAME, Sandbox
from tests.conftest import SHANGHAI
from tests.test_scripts import project, real_python

ROOT = Path(__file__).resolve().parent.parent
JSON = dict[str, Any]
CLERK_ID = 3001


def plain(markup: str) -> str:
    """What a message's HTML reads as."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


class Page:
    """The web page's side of the conversation: its calls and the state it last got."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.state: JSON = {}

    async def until(self, predicate: Callable[[JSON], bool], timeout: float = 30) -> JSON:  # noqa: ASYNC109
        """Long-poll the state as the page does until ``predicate`` holds."""
        async with asyncio.timeout(timeout):
            while not (self.state and predicate(self.state)):
                since = self.state.get("digest", "")
                answer = await self.client.get("/api/state", params={"since": since})
                assert answer.status_code == 200, answer.text
                self.state = answer.json()
        return self.state

    def messages(self, key: str) -> list[JSON]:
        return list(self.state["chats"][key]["messages"])

    def texts(self, key: str) -> list[str]:
        return [plain(m["html"]) for m in self.messages(key)]

    def bot_view(self, key: str) -> list[tuple[str, Any]]:
        return [(m["html"], m.get("keyboard")) for m in self.messages(key) if m["bot"]]

    async def post(self, path: str, body: JSON) -> JSON:
        answer = await self.client.post(path, json=body)
        assert answer.status_code == 200, answer.text
        result: JSON = answer.json()
        return result

    async def say(self, key: str, text: str) -> None:
        """Type ``text`` in ``key``'s column and wait for the bot to answer (a new or edited
        message of its own)."""
        await self.until(lambda s: True)
        before = self.bot_view(key)
        await self.post("/api/send", {"person": key, "text": text})
        await self.until(lambda s: self.bot_view(key) != before)

    def find_button(self, key: str, label: str) -> tuple[JSON, int, int] | None:
        """The newest message with a button reading ``label`` (or containing it)."""
        for message in reversed(self.messages(key)):
            rows = message.get("keyboard") or []
            for exact in (True, False):
                for r, row in enumerate(rows):
                    for c, button in enumerate(row):
                        text = button["text"]
                        if text == label or (not exact and label in text):
                            return message, r, c
        return None

    async def press(self, key: str, label: str) -> None:
        """Press the button once the bot shows it, and wait for the bot to react."""
        await self.until(lambda s: self.find_button(key, label) is not None)
        found = self.find_button(key, label)
        assert found is not None
        message, row, column = found
        before = self.bot_view(key)
        await self.post(
            "/api/press",
            {"person": key, "message_id": message["id"], "row": row, "column": column},
        )
        await self.until(lambda s: self.bot_view(key) != before)


def rows(box: Sandbox, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(box.database) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[tuple[Sandbox, Page, int]]:
    box = Sandbox(tmp_path / "data", ROOT / "committee.example.toml", tz=SHANGHAI)
    await box.start()
    server, port = listen(box, 0)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, trust_env=False)
    try:
        yield box, Page(client), port
    finally:
        await client.aclose()
        server.stop()
        await server.close_all_connections()
        await box.stop()


async def raise_referral(page: Page) -> None:
    """The department head raises a referral through the page, as in the README's table."""
    await page.say("dept", "/new")
    await page.press("dept", "行政争议协调化解")
    await page.say("dept", "某村土地征收补偿争议")
    await page.say("dept", "申请人对征收补偿标准有异议。")
    await page.say("dept", "张三")
    await page.press("dept", "自然资源局")
    await page.press("dept", "池北行政争议协调化解中心")
    await page.press("dept", "一般")
    await page.press("dept", "不指定日期")
    await page.press("dept", "完成")
    await page.press("dept", "提请")


async def raise_assistance(page: Page, *agencies: str) -> None:
    """The court clerk raises an enforcement-assistance request to ``agencies``."""
    await page.say("clerk", "/new")
    await page.press("clerk", "执行联动")
    await page.press("clerk", "财产查询")
    await page.say("clerk", "（2026）吉24执88号")
    await page.say("clerk", "长白山某某房地产开发有限公司")
    await page.say("clerk", "请协助查询该公司名下的土地使用权。")
    for agency in agencies:
        await page.press("clerk", f"☐ {agency}")
    await page.press("clerk", "完成")
    await page.press("clerk", "不指定日期")
    await page.press("clerk", "完成")
    await page.press("clerk", "提请")


async def raise_hearing(page: Page) -> None:
    """The court raises 出庭应诉 for a hearing ten working days ahead at 09:00."""
    await page.say("clerk", "/new")
    await page.press("clerk", "出庭应诉")
    await page.say("clerk", "（2026）吉24行初15号")
    await page.say("clerk", "土地行政征收")
    await page.press("clerk", "自然资源局")
    await page.say("clerk", "第三审判庭")
    await page.press("clerk", "10个工作日")
    await page.press("clerk", "09:00")
    await page.press("clerk", "完成")
    await page.press("clerk", "提请")
    await page.until(lambda s: any("出庭应诉通知" in t for t in page.texts("agency")))


async def raise_hearing_and_name_a_deputy(page: Page) -> None:
    """The court raises 出庭应诉 for a hearing ten working days ahead; the agency's head
    names a deputy, with the reason."""
    await raise_hearing(page)
    await page.press("agency", "确定出庭人员")
    await page.press("agency", "副职")
    await page.say("agency", "刘副局长")
    await page.say("agency", "副局长")
    await page.say("agency", "同日须参加省厅专项督察会议")


async def test_the_cast_is_ready_and_a_referral_goes_from_the_department_to_the_court_and_the_group(
    sandbox: tuple[Sandbox, Page, int],
) -> None:
    box, page, _ = sandbox
    state = await page.until(lambda s: True)
    assert [p["key"] for p in state["people"]] == [
        "office",
        "dept",
        "clerk",
        "observer",
        "agency",
        "group",
    ]
    # Everyone joined through the office's links: members of the example committee's bodies.
    assert rows(box, "select user_id, org_code, role from members order by user_id") == [
        (1001, "CBS-OFFICE", "office"),
        (2001, "CBS-HOUSING", "department_head"),
        (3001, "YB-IPC", "court_staff"),
        (4001, "CBS-ADMIN", "observer"),
        (5001, "CBS-NR", "department_head"),
    ]
    assert any("欢迎" in text for text in page.texts("clerk"))
    # Each column's command menu is the one the bot set for that member.
    office_menu = [c["command"] for c in state["chats"]["office"]["commands"]]
    assert "invite" in office_menu
    assert "invite" not in [c["command"] for c in state["chats"]["clerk"]["commands"]]
    assert any("委员会工作群" in text for text in page.texts("group"))

    await raise_referral(page)
    [(number, status)] = rows(box, "select number, status from cases")
    assert status == "submitted"
    assert any(number in text for text in page.texts("dept"))

    # The court clerk sees the notice with its buttons, and acknowledges.
    await page.until(lambda s: page.find_button("clerk", "受理") is not None)
    notice, _, _ = page.find_button("clerk", "受理") or ({}, 0, 0)
    assert number in plain(notice["html"])
    await page.press("clerk", "受理")
    assert rows(box, "select status from cases") == [("acknowledged",)]
    await page.until(lambda s: any("受理" in t and number in t for t in page.texts("dept")))

    # The group shows the post, without the applicant's name.
    post = [t for t in page.texts("group") if number in t]
    assert post and all("张三" not in t for t in post)
    # Rendered from Telegram's HTML: the bold of the bot's texts is there as <b>.
    assert any("<b>" in m["html"] for m in page.messages("clerk") if m["bot"])


async def test_a_time_jump_runs_the_scheduler_and_reset_starts_afresh(
    sandbox: tuple[Sandbox, Page, int],
) -> None:
    box, page, _ = sandbox
    await raise_referral(page)
    [(number,)] = rows(box, "select number from cases")
    await page.until(lambda s: page.find_button("clerk", "受理") is not None)
    clerk_before = len(page.messages("clerk"))

    await page.post("/api/time", {"action": "workdays", "workdays": 3})
    jumped = await page.post("/api/time", {"action": "next-morning"})
    assert jumped["now"].endswith("08:30+08:00")
    state = await page.until(lambda s: len(page.messages("clerk")) > clerk_before)
    assert state["clock"]["offset_ms"] > 3 * 24 * 3600 * 1000
    # The acknowledgement is overdue: the clerk's morning summary names the matter.
    assert any(number in t for t in page.texts("clerk")[clerk_before:])
    # One summary a working day (the day jumped to by working days, then the next morning).
    summaries = rows(
        box,
        f"select status from outbox where kind = 'deadline_summary' and chat_id = {CLERK_ID}",
    )
    assert summaries and set(summaries) == {("sent",)}
    assert rows(box, "select count(*) from cases") == [(1,)]

    generation = state["generation"]
    await page.post("/api/reset", {})
    state = await page.until(lambda s: s["generation"] > generation)
    assert state["clock"]["offset_ms"] == 0
    assert rows(box, "select count(*) from cases") == [(0,)]
    assert rows(box, "select count(*) from members where revoked_at is null") == [(5,)]
    assert not any(number in t for key in state["chats"] for t in page.texts(key))
    assert any("欢迎" in text for text in page.texts("dept"))


async def test_pages_files_and_refusals(sandbox: tuple[Sandbox, Page, int]) -> None:
    box, page, port = sandbox
    index = await page.client.get("/")
    assert "沙盒 · SANDBOX" in index.text
    assert (await page.client.get("/static/app.js")).status_code == 200
    # A page elsewhere cannot drive the sandbox through another host name.
    foreign = await page.client.get("/api/state", headers={"Host": f"example.org:{port}"})
    assert foreign.status_code == 403
    unknown = await page.client.post("/api/send", json={"person": "nobody", "text": "hi"})
    assert unknown.status_code == 400 and "nobody" in unknown.json()["error"]
    bad_jump = await page.client.post("/api/time", json={"action": "workdays", "workdays": 0})
    assert bad_jump.status_code == 400
    gone = await page.client.post(
        "/api/press", json={"person": "dept", "message_id": 999, "row": 0, "column": 0}
    )
    assert gone.status_code == 400
    assert gone.json() == {
        "ok": False,
        "error": "no such button (the message has changed)",
        "code": "no_button",  # the page says it in its person's language
    }

    # A document sent from the page reaches the bot as a Telegram document, and can be opened.
    await page.until(lambda s: True)
    answer = await page.client.post(
        "/api/upload",
        data={"person": "dept", "caption": ""},
        files={"file": ("材料.pdf", b"%PDF-1.4 sandbox", "application/pdf")},
    )
    assert answer.status_code == 200, answer.text
    state = await page.until(lambda s: any("file" in m for m in page.messages("dept")))
    sent = next(m for m in page.messages("dept") if "file" in m)
    assert sent["file"]["name"] == "材料.pdf" and not sent["bot"]
    download = await page.client.get(f"/files/{sent['file']['id']}")
    assert download.content == b"%PDF-1.4 sandbox"
    assert "attachment" in download.headers["content-disposition"]
    # An image goes as a photo, shown inline.
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    answer = await page.client.post(
        "/api/upload",
        data={"person": "dept", "caption": "现场照片"},
        files={"file": ("现场.png", png, "image/png")},
    )
    assert answer.status_code == 200, answer.text
    state = await page.until(
        lambda s: any(m.get("file", {}).get("kind") == "photo" for m in page.messages("dept"))
    )
    photo = next(m for m in page.messages("dept") if m.get("file", {}).get("kind") == "photo")
    assert plain(photo["html"]) == "现场照片"
    shown = await page.client.get(f"/files/{photo['file']['id']}")
    assert shown.content == png and shown.headers["content-type"] == "image/png"
    assert state["chats"]["group"]["messages"][0]["service"]
    assert box.chat_of("group") == GROUP_ID

    # Chinese by default; a column follows its person's /lang.
    assert {p["lang"] for p in state["people"]} == {"zh"}
    await page.say("observer", "/lang")
    await page.press("observer", "English")
    state = await page.until(
        lambda s: next(p for p in s["people"] if p["key"] == "observer")["lang"] == "en"
    )
    observer = next(p for p in state["people"] if p["key"] == "observer")
    assert (observer["org"], observer["role"]) == ("Admin. Committee", "Observer")
    assert rows(box, "select lang from users where user_id = 4001") == [("en",)]
    await page.until(
        lambda s: any(
            c["command"] == "my" and c["description"].isascii()
            for c in s["chats"]["observer"]["commands"]
        )
    )


def test_messages_render_telegram_html_and_escape_everything_else() -> None:
    text, entities = parse_html(
        '<b>协调〔2026〕1号</b> 1 &lt; 2 <i>斜<u>线</u></i> <a href="https://example.org/?a=1&amp;b=2">'
        "链接</a>\n<blockquote>引用</blockquote><pre>x &lt;y&gt;</pre> 😀<s>删</s><code>c</code>"
    )
    assert to_html(text, entities) == (
        "<b>协调〔2026〕1号</b> 1 &lt; 2 <i>斜<u>线</u></i> "
        '<a href="https://example.org/?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">'
        "链接</a>\n<blockquote>引用</blockquote><pre>x &lt;y&gt;</pre> 😀<s>删</s><code>c</code>"
    )
    # What a user types is text, whatever it looks like; a link only with a safe scheme.
    assert to_html('<img src=x onerror="alert(1)">') == ('&lt;img src=x onerror="alert(1)"&gt;')
    unsafe = [{"type": "text_link", "offset": 0, "length": 4, "url": "javascript:alert(1)"}]
    assert to_html("link", unsafe) == "<a>link</a>"


def refused(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, port)) != 0


async def test_everything_listens_on_127_0_0_1_only(sandbox: tuple[Sandbox, Page, int]) -> None:
    box, _, port = sandbox
    api_port = box.bot_api_port
    for listening in (port, api_port):
        assert not refused("127.0.0.1", listening)
        # Bound to 0.0.0.0 it would answer on every loopback address (and the network's).
        assert refused("127.0.0.2", listening)


def test_python_m_sandbox_prints_its_address_and_keeps_its_own_database(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken = busy.getsockname()[1]
    production = tmp_path / "production.sqlite3"
    # What an earlier run left: each start begins afresh.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / DATABASE_NAME).write_bytes(b"left over")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "SANDBOX_PORT": str(taken),
        "DATABASE_URL": f"sqlite+aiosqlite:///{production}",
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.monotonic() - started
        match = re.fullmatch(r"sandbox: open http://127\.0\.0\.1:(\d+)/\n", line)
        assert match is not None, line
        assert int(match.group(1)) != taken  # the port was busy: a free one instead
        assert elapsed < 30
        base = f"http://127.0.0.1:{match.group(1)}/"
        page = httpx.get(base, trust_env=False)
        assert "沙盒 · SANDBOX" in page.text
        # A page waiting for news when the sandbox stops gets its answer, not an error.
        digest = httpx.get(base + "api/state", trust_env=False).json()["digest"]
        waited: list[httpx.Response] = []
        poll = threading.Thread(
            target=lambda: waited.append(
                httpx.get(base + "api/state", params={"since": digest}, timeout=30, trust_env=False)
            )
        )
        poll.start()
        time.sleep(0.5)  # the long poll is parked (nothing changes in the sandbox meanwhile)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        busy.close()
    poll.join(30)
    assert [r.status_code for r in waited] == [200]
    assert proc.returncode == 0, err
    assert " ERROR " not in err, err
    assert "DATABASE_URL is ignored" in err
    with sqlite3.connect(tmp_path / "data" / DATABASE_NAME) as conn:
        assert conn.execute("select count(*) from members").fetchone() == (5,)
    assert not production.exists()


def test_the_port_is_the_option_else_the_environment_else_8470() -> None:
    assert choose_port(None, "") == DEFAULT_PORT == 8470
    assert choose_port(None, "9001") == 9001
    assert choose_port(None, "0") == 0  # any free port
    assert choose_port(0, "9001") == 0
    assert choose_port(9002, "9001") == 9002
    for bad in ("http", "70000", "-1"):
        with pytest.raises(ValueError):
            choose_port(None, bad)


STUB_SANDBOX = 'import sys\nprint("sandbox started with", sys.argv[1:])\n'
STUB_BOT = 'import sys\nprint("bot started with", sys.argv[1:])\n'


def test_scripts_run_starts_the_sandbox_without_a_token_and_the_bot_with_one(
    tmp_path: Path,
) -> None:
    """The real ./scripts/run in a copy whose lock lists nothing, with stand-ins for the two
    programs it may start."""
    root = project(tmp_path / "project")
    (root / ".env").unlink()  # a fresh clone has none
    (root / "bot.py").write_text(STUB_BOT)
    (root / "sandbox").mkdir()
    (root / "sandbox" / "__main__.py").write_text(STUB_SANDBOX)

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
        return subprocess.run(
            ["bash", "scripts/run", *args],
            cwd=root,
            env={**base, "PYTHON": real_python(), **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    fresh = run()
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout == "sandbox started with []\n"
    assert "no TELEGRAM_BOT_TOKEN and no .env: starting the sandbox" in fresh.stderr

    with_token = run(TELEGRAM_BOT_TOKEN="123:abc")
    assert with_token.stdout == "bot started with []\n"

    (root / ".env").write_text("TELEGRAM_BOT_TOKEN=\n")
    configured = run()
    assert configured.stdout == "bot started with []\n"  # bot.py says what is missing

    asked = run("--sandbox", "--port", "9000", TELEGRAM_BOT_TOKEN="123:abc")
    assert asked.stdout == "sandbox started with ['--port', '9000']\n"


def test_scripts_run_on_a_fresh_clone_without_a_token_opens_the_sandbox(tmp_path: Path) -> None:
    """The real ./scripts/run and the real sandbox, in a copy of the project with no .env and
    no token: its .venv sees this run's installed packages, as if just installed."""
    root = tmp_path / "clone"
    (root / "scripts").mkdir(parents=True)
    for name in ("run", "venv.sh"):
        shutil.copy(ROOT / "scripts" / name, root / "scripts" / name)
    shutil.copy(ROOT / "requirements.txt", root / "requirements.txt")
    for name in ("bot", "handlers", "sandbox", "templates", "locales", "committee.example.toml"):
        (root / name).symlink_to(ROOT / name)
    subprocess.run([real_python(), "-m", "venv", str(root / ".venv")], check=True, timeout=120)
    [site] = (root / ".venv" / "lib").glob("python*/site-packages")
    (site / "installed.pth").write_text("\n".join(p for p in sys.path if "site-packages" in p))
    stamp = subprocess.run(
        ["bash", "-c", ". scripts/venv.sh && _lock_hash requirements.txt"],
        cwd=root,
        env={"PATH": os.environ.get("PATH", ""), "PYTHON": real_python()},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (root / ".venv" / ".installed-requirements.txt.sha256").write_text(stamp)

    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHON": real_python(),
        "SANDBOX_PORT": "0",
    }
    proc = subprocess.Popen(
        ["bash", "scripts/run"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert re.fullmatch(r"sandbox: open http://127\.0\.0\.1:\d+/\n", line), line
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "no TELEGRAM_BOT_TOKEN and no .env: starting the sandbox" in err
    assert (root / "data" / DATABASE_NAME).exists()
