"""Start-up: what the bot imports before it can answer its first update.

The bot must answer within 0.7 s of starting (``python -m bench --only startup``); libraries
needed only later (migrations, calendar files for meetings, the holiday data the first tick
resolves) stay out of the way until then.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATER = ("alembic", "mako", "icalendar", "holidays", "babel", "matplotlib", "xlsxwriter")


def test_the_application_imports_nothing_it_needs_only_later() -> None:
    code = (
        "import sys\n"
        "import bot.app\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(LATER)!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_the_built_bot_answers_in_chinese_without_loading_babel(tmp_path: Path) -> None:
    """The application built as ``bot.py`` builds it (its own HTTP clients) gives a Chinese
    answer with the catalog and the templates it needs, and nothing of Babel; English dates
    are written without it too (its locale data would stay loaded)."""
    committee = tmp_path / "committee.toml"
    committee.write_text((ROOT / "committee.example.toml").read_text("utf-8"), "utf-8")
    env = {
        "TELEGRAM_BOT_TOKEN": "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
        "COMMITTEE_CONFIG": str(committee),
    }
    code = (
        "import sys\n"
        "from datetime import date\n"
        "from bot.app import build_application\n"
        "from bot.config import load_committee, load_settings\n"
        f"settings = load_settings({env!r})\n"
        "app = build_application(settings, load_committee(settings.committee_file))\n"
        "texts = app.bot_data['runtime'].texts\n"
        "print(texts.render('zh_CN', 'error', code='internal'))\n"
        "print(texts.format_day('zh_CN', date(2026, 12, 2)))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'babel'}))\n"
        "print(texts.format_day('en', date(2026, 12, 2)))\n"
        "print('babel' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    answer, day, loaded, english, babel_then = out.stdout.strip().splitlines()[-5:]
    assert "操作出错" in answer, answer
    assert day == "2026年12月2日（周三）"
    assert loaded == "[]"
    assert english == "Wed 2 Dec 2026"
    assert babel_then == "False"
