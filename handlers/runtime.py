"""Resources shared by all handlers, opened once inside the bot's event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from contextvars import Context, ContextVar, copy_context
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.domain.committee import Committee
from bot.domain.kinds import KindRegistry
from bot.domain.mechanisms import default_registry
from bot.services.coordination import Coordination
from bot.services.delivery import Outbox
from bot.services.export import Limits
from handlers.texts import Texts

if TYPE_CHECKING:
    from handlers.courier import Courier

logger = logging.getLogger(__name__)

# Background work an update asked for while it is being handled (``Runtime.after_update``),
# each with the context it was asked in, started once the update has been handled; None
# outside an update.
_AFTER_UPDATE: ContextVar[list[tuple[Callable[[], Coroutine[Any, Any, Any]], Context]] | None] = (
    ContextVar("after_update", default=None)
)


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
    kinds: KindRegistry = field(default_factory=default_registry)
    texts: Texts = field(init=False)
    _svc: Coordination | None = field(default=None, init=False)
    courier: Courier | None = field(default=None, init=False)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set, init=False)
    _lock: asyncio.Lock | None = field(default=None, init=False)
    # Groups the bot stays in, silent, though they are not the committee group (yet): one an
    # office admin brought it to, for /bindgroup; the group's new id after an upgrade.
    adopted_groups: set[int] = field(default_factory=set, init=False)
    # Answers in a group being sent in the background, per chat (handlers.common.reply).
    group_replies: dict[int, int] = field(default_factory=dict, init=False)
    # One command-menu update at a time (handlers.menus).
    menu_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    # How large /export's sheets and files may be (tests set small ones).
    export_limits: Limits = field(default_factory=Limits, init=False)

    def __post_init__(self) -> None:
        self.texts = Texts(self.committee, self.settings.tz, self.kinds)

    @property
    def svc(self) -> Coordination:
        if self._svc is None:
            raise RuntimeError("runtime not opened")
        return self._svc

    def spawn(self, coroutine: Coroutine[Any, Any, Any], context: Context | None = None) -> None:
        """Run work in the background (in ``context``, else a copy of the current one),
        keeping a reference until it is done (asyncio holds tasks only weakly); ``close``
        waits for what is still running."""
        task = asyncio.get_running_loop().create_task(coroutine, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def after_update(self, start: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run ``start()`` in the background once the update being handled is done (at once
        outside an update): its CPU and its database work then no longer delay the answer
        the user is waiting for. It runs in the context it was asked in (as a task started
        then would): the update's unit of work, over by then, still lets its database work
        skip the trips to the driver's thread (``Database.read``)."""
        pending = _AFTER_UPDATE.get()
        if pending is None:
            self.spawn(start())
            return
        context = copy_context()
        context.run(_AFTER_UPDATE.set, None)  # what it asks for itself starts at once
        pending.append((start, context))

    async def handling(self, work: Coroutine[Any, Any, Any]) -> None:
        """Await one update's ``work``, then start what it asked for (``after_update``),
        even when it failed (what it committed may still need sending)."""
        pending: list[tuple[Callable[[], Coroutine[Any, Any, Any]], Context]] = []
        token = _AFTER_UPDATE.set(pending)
        try:
            await work
        finally:
            _AFTER_UPDATE.reset(token)
            for start, context in pending:
                self.spawn(start(), context)

    @property
    def outbox(self) -> Outbox:
        return self.svc.outbox

    async def open(self) -> Coordination:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._svc is None:
                self._svc = await Coordination.open(
                    self.settings.database_url,
                    self.committee,
                    self.clock,
                    self.settings.tz,
                    self.kinds,
                )
        return self._svc

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._svc is not None:
            await self._svc.close()
        self._svc = None
        self.courier = None
