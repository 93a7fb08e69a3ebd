"""The periodic work, scheduled through python-telegram-bot's JobQueue (APScheduler).

The database is the source of truth: each tick derives what is due now (the deadline
summaries and 督办, the weekly digest and the quarterly report, meeting reminders) and queues
it in the outbox under unique keys — what must wait for office hours with a not-before time
on its row — then the courier delivers. A tick that runs late, twice, or after a restart
therefore neither loses nor repeats anything, and no job state needs to survive in the
scheduler's memory.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram.ext import Application, CallbackContext

from handlers.runtime import Runtime

logger = logging.getLogger(__name__)

TICK_SECONDS = 60
DELIVER_SECONDS = 5
WARM_UP_AFTER_SECONDS = 2
# A job delayed because the process was busy (or the machine slept) still runs: APScheduler's
# default grace of 1 s would silently skip it. Missed runs collapse into one.
JOB_KWARGS: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}

AnyApp = Application[Any, Any, Any, Any, Any, Any]


async def tick(app: AnyApp) -> None:
    """Queue everything that is due by now, recover what a delivery run stranded, deliver."""
    runtime: Runtime = app.bot_data["runtime"]
    svc = runtime.svc
    alerts = await svc.scan_deadlines()
    digest = await svc.ensure_digest()
    quarterly = await svc.ensure_quarterly_report()
    reminders = await svc.ensure_meeting_reminders()
    reminders += await svc.ensure_kind_reminders()
    await svc.ensure_calendar_warnings()
    await svc.prune_seen_updates()
    await svc.checkpoint()
    if alerts or digest or quarterly or reminders:
        logger.info(
            "tick queued %s summary/督办 message(s), %s digest, %s quarterly report, "
            "%s reminder(s)",
            alerts,
            int(digest),
            int(quarterly),
            reminders,
        )
    await recover(app)
    await deliver(app)
    await svc.mark_tick()


async def recover(app: AnyApp) -> None:
    """Rows left 'sending' while no delivery run is going on (a database error while one's
    outcome was recorded) go out again, marked as possible repeats."""
    runtime: Runtime = app.bot_data["runtime"]
    if runtime.courier is None:
        return
    try:
        recovered = await runtime.courier.recover()
    except Exception:
        logger.exception("could not recover stranded outbox rows")
        return
    if recovered:
        logger.warning("%s outbox message(s) were stranded while being sent", recovered)


async def deliver(app: AnyApp) -> None:
    runtime: Runtime = app.bot_data["runtime"]
    if runtime.courier is not None:
        await runtime.courier.flush(app.bot)


async def _tick_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    await tick(context.application)


async def _deliver_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    await deliver(context.application)


async def _warm_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    runtime: Runtime = context.application.bot_data["runtime"]
    await runtime.texts.warm_up()
    await runtime.svc.warm_up_lists()
    await runtime.svc.warm_up_statements()


def schedule_jobs(app: AnyApp) -> None:
    queue = app.job_queue
    if queue is None:
        raise RuntimeError("python-telegram-bot was installed without the job-queue extra")
    queue.run_repeating(
        _tick_job, interval=TICK_SECONDS, first=1, name="tick", job_kwargs=JOB_KWARGS
    )
    queue.run_repeating(
        _deliver_job, interval=DELIVER_SECONDS, first=3, name="deliver", job_kwargs=JOB_KWARGS
    )
    # Templates not yet used, /my's statements and the other prebuilt ones are compiled soon
    # after start, a few at a time, so that no update pays for compiling the one it shows or
    # runs first (tenths of a millisecond to tens of milliseconds each).
    queue.run_once(_warm_job, when=WARM_UP_AFTER_SECONDS, name="warm-up", job_kwargs=JOB_KWARGS)
