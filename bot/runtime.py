"""Resources shared by all handlers, opened once inside the bot's event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.clock import Clock, SystemClock
from bot.config import Committee, Settings
from bot.db import Database
from bot.domain.service import Coordination
from bot.outbox import Outbox
from bot.texts import Texts

if TYPE_CHECKING:
    from bot.jobs.courier import Courier

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Settings, clock, templates, and (once opened) the database and the domain service.

    Opening is lazy and idempotent because python-telegram-bot loads persisted conversations
    during ``Application.initialize()``, before ``post_init`` runs, and both need the database.
    """

    settings: Settings
    committee: Committee
    clock: Clock = field(default_factory=SystemClock)
    schedule_jobs: bool = True
    texts: Texts = field(init=False)
    _db: Database | None = field(default=None, init=False)
    _svc: Coordination | None = field(default=None, init=False)
    _outbox: Outbox | None = field(default=None, init=False)
    courier: Courier | None = field(default=None, init=False)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set, init=False)
    _lock: asyncio.Lock | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.texts = Texts(self.committee, self.settings.tz)

    @property
    def svc(self) -> Coordination:
        if self._svc is None:
            raise RuntimeError("runtime not opened")
        return self._svc

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run work in the background, keeping a reference until it is done (asyncio holds
        tasks only weakly); ``close`` waits for what is still running."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            raise RuntimeError("runtime not opened")
        return self._outbox

    async def open(self) -> Coordination:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._svc is None:
                db = Database(self.settings.database_url)
                await db.migrate()
                svc = Coordination(db, self.committee, self.clock, self.settings.tz)
                await svc.bootstrap_admins()
                self._db, self._svc = db, svc
                self._outbox = Outbox(db, self.clock)
        return self._svc

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._db is not None:
            await self._db.dispose()
        self._db = self._svc = self._outbox = None
        self.courier = None
