"""The sandbox's clock: wall time plus an offset the time controls move forward."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Runs like the wall clock, shifted: a jump moves "now" and it keeps running from there,
    so the bot's scheduler (which reads the clock on every tick) sees the time jumped to."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        # The bot reads the clock on its loop, the local Bot API from its handler threads.
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset

    def jump_to(self, moment: datetime) -> None:
        """Make ``moment`` now; only forward, as the bot's records assume time never runs back."""
        if moment.tzinfo is None:
            raise ValueError("naive datetime")
        with self._lock:
            wall = datetime.now(UTC)
            self._offset = max(self._offset, moment.astimezone(UTC) - wall)

    def reset(self) -> None:
        """Back to the wall time (only with a fresh database: see ``Sandbox.reset``)."""
        with self._lock:
            self._offset = timedelta(0)
