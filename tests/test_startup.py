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
LATER = ("alembic", "mako", "icalendar", "holidays")


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
