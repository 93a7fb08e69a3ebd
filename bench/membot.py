"""``bot.py`` for the memory run: the bot's own entry point, its pacer's limits raised.

``python -m bench.membot`` runs ``bot.py`` as ``python bot.py`` would, in its own process.
The one difference: the pacer (``handlers.pacing.Pacer``, the same code) lets requests
through at ``PER_SECOND`` overall, ``GROUP_PER_MINUTE`` per group and without spacing a
chat's deliveries, instead of Telegram's 29 a second and 20 a minute per group: at those,
10,000 updates of the mix would mostly wait (over six minutes), and the pacer's state is a
few numbers per chat either way.
"""

from __future__ import annotations

import gc
import runpy
import sys
from pathlib import Path

PER_SECOND = 100_000.0
GROUP_PER_MINUTE = 10_000_000
CHAT_INTERVAL = 0.0


def main() -> None:
    # As bot.py does before its imports (polling: no webhook server), for the one made here.
    gc.disable()
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    sys.modules.setdefault("tornado", None)  # type: ignore[arg-type]
    from handlers import pacing

    init = pacing.Pacer.__init__
    init.__defaults__ = (PER_SECOND, GROUP_PER_MINUTE, CHAT_INTERVAL)
    bot = Path(__file__).resolve().parent.parent / "bot.py"
    sys.argv = [str(bot)]
    runpy.run_path(str(bot), run_name="__main__")


if __name__ == "__main__":
    main()
