"""/export: the matters raised in a period, written to an XLSX workbook or a zip of CSVs.

The matters are read in chunks of ``CHUNK`` (each its own short read, ordered by the moment
raised, so memory stays bounded whatever the period), and each chunk is turned into rows and
written in a worker thread, so the bot goes on answering meanwhile. The sheets and rows are
``bot.domain.export``'s; the files ``bot.services.spreadsheets``'s.

A file larger than Telegram's upload limit is written again as several parts, each a whole
file with the same sheets and some of the matters (all of the rows of those matters), and
the scorecard of the whole period.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select

from bot.domain import rules
from bot.domain.errors import NotAllowed
from bot.domain.export import (
    AUDIT,
    AUDIT_SHEET,
    SCORECARD,
    SCORECARD_SHEET,
    Sheet,
    assignment_rows,
    audit_row,
    matter_rows,
    matter_sheet,
    milestones_of,
    scorecard_rows,
)
from bot.domain.fields import Labels
from bot.domain.models import Case, Event, Viewer
from bot.domain.periods import Period
from bot.domain.privacy import Audience, Disclosure, of_kind
from bot.domain.stats import STEP_ACTIONS, AssignmentRow, Calculator, Tally
from bot.services.cases import _EVENTS_WITH_ACTOR, Cases
from bot.services.spreadsheets import BOOKS, XLSX_MAX_ROWS, Book
from bot.storage import schema as t

logger = logging.getLogger(__name__)

CHUNK = 100  # matters per read: each costs the event loop a few milliseconds
# Telegram's limit for a file a bot sends, less room for the request around it.
TELEGRAM_UPLOAD_LIMIT = 50 * 1000 * 1000
FORMATS = ("xlsx", "csv")
_STEP_ACTIONS = frozenset(STEP_ACTIONS)  # the steps the evaluation figures read


@dataclass(frozen=True, slots=True)
class Limits:
    """How big a sheet and a file may be: parameters, so that tests can use small ones."""

    max_rows: int = XLSX_MAX_ROWS  # rows per sheet, its header included
    max_bytes: int = TELEGRAM_UPLOAD_LIMIT  # bytes per file


@dataclass(frozen=True, slots=True)
class Exported:
    """The files written (in order) and how many matters they hold."""

    files: tuple[Path, ...]
    matters: int

    @property
    def parts(self) -> int:
        return len(self.files)


@dataclass(frozen=True, slots=True)
class _Chunk:
    cases: list[Case]
    events: dict[int, list[Event]]
    files: dict[int, int]


class _Parts:
    """Where each matter goes: part ``k`` of ``n`` holds the matters whose place in the
    period's order is in its ``k``-th share. Opens each part's file when its first matter
    comes, and closes the one before."""

    def __init__(
        self,
        directory: Path,
        stem: str,
        fmt: str,
        parts: int,
        total: int,
        sheets: Sequence[tuple[Sheet, str, list[str]]],
        max_rows: int,
        scorecard: list[list[Any]] | None,
    ) -> None:
        self.directory, self.stem, self.fmt = directory, stem, fmt
        self.parts, self.total = parts, max(total, 1)
        self.sheets, self.max_rows = sheets, max_rows
        self.files: list[Path] = []
        self.book: Book | None = None
        self.seen = 0
        # The whole period's scorecard, in every part: known from the first pass when a
        # second one writes parts; else written once the pass has seen every matter.
        self.scorecard = scorecard

    def _open(self) -> Book:
        number = len(self.files) + 1
        suffix = BOOKS[self.fmt].suffix
        name = f"{self.stem}{suffix}" if self.parts == 1 else f"{self.stem}-{number}{suffix}"
        path = self.directory / name
        book = BOOKS[self.fmt](path, self.max_rows)
        for sheet, title, headers in self.sheets:
            book.add_sheet(sheet.key, title, sheet.columns, headers)
        self.files.append(path)
        return book

    def book_for_next(self) -> Book:
        """The book the next matter goes to."""
        wanted = min(self.seen * self.parts // self.total, self.parts - 1) + 1
        self.seen += 1
        while self.book is None or len(self.files) < wanted:
            if self.book is not None:
                self.finish()
            self.book = self._open()
        return self.book

    def finish(self) -> None:
        if self.book is not None:
            self.book.write(SCORECARD, self.scorecard or [])
            self.book.close()
            self.book = None

    def close(self, scorecard: list[list[Any]]) -> None:
        """Every part: the last one finished, and any that got no matter (none in the
        period) written empty, so each part has its sheets and the scorecard."""
        if self.scorecard is None:
            self.scorecard = scorecard
        while len(self.files) < self.parts or self.book is not None:
            if self.book is None:
                self.book = self._open()
            self.finish()


class Exporting(Cases):
    def export_disclosure(self, kind_code: str) -> Disclosure:
        """What the office, reading an export in its private chat, may see of a matter."""
        return of_kind(Audience.MEMBER, self.committee.group_detail, self.kinds, kind_code)

    async def export(
        self,
        viewer: Viewer,
        period: Period,
        fmt: str,
        labels: Labels,
        directory: Path,
        *,
        stem: str = "export",
        limits: Limits | None = None,
    ) -> Exported:
        """Write the period's export to ``directory`` (the caller's temporary folder): one
        file, or several parts when one would be larger than ``limits.max_bytes``."""
        if not rules.is_admin(viewer.member):
            raise NotAllowed("admin_only")
        if fmt not in FORMATS:
            raise ValueError(fmt)
        limits = limits or Limits()
        sheets = self._sheets(labels)
        parts, total, scorecard = 1, 0, None
        while True:
            files, total, scorecard = await self._write(
                period, fmt, labels, directory, stem, sheets, limits, parts, total, scorecard
            )
            largest = max(path.stat().st_size for path in files)
            if largest <= limits.max_bytes:
                break
            if parts >= total:
                # One matter to a part and still too large: nothing smaller can be sent.
                logger.warning("export part of %s bytes exceeds the limit", largest)
                break
            grown = math.ceil(parts * largest / (limits.max_bytes * 0.9))
            for path in files:
                path.unlink()
            parts = min(max(parts + 1, grown), total)
            logger.info("export over %s bytes: writing %s parts", limits.max_bytes, parts)
        logger.info("exported %s matters in %s file(s)", total, len(files))
        return Exported(tuple(files), total)

    def _sheets(self, labels: Labels) -> list[tuple[Sheet, str, list[str]]]:
        sheets = [matter_sheet(kind, self.export_disclosure(kind.code)) for kind in self.kinds]
        sheets += [AUDIT_SHEET, SCORECARD_SHEET]
        return [(s, labels.tr(s.name), [labels.tr(c.title) for c in s.columns]) for s in sheets]

    async def _write(
        self,
        period: Period,
        fmt: str,
        labels: Labels,
        directory: Path,
        stem: str,
        sheets: list[tuple[Sheet, str, list[str]]],
        limits: Limits,
        parts: int,
        total: int,
        known: list[list[Any]] | None,
    ) -> tuple[list[Path], int, list[list[Any]]]:
        """One pass over the period's matters into ``parts`` files; returns the files, how
        many matters there were and the scorecard. ``total`` and ``known`` (the scorecard)
        are the first pass's: they place each matter in its part, and fill every part's
        scorecard."""
        target = _Parts(directory, stem, fmt, parts, total, sheets, limits.max_rows, known)
        calculator = Calculator(self.committee, self.kinds, self.calendar, self.tz, self.today())
        tally = Tally(calculator)
        count = 0
        async for chunk in self._chunks(period):
            count += len(chunk.cases)
            await asyncio.to_thread(self._write_chunk, target, chunk, tally, labels)
        rows = scorecard_rows(tally.card(period), labels)
        await asyncio.to_thread(target.close, rows)
        return target.files, count, rows

    def _write_chunk(
        self,
        target: _Parts,
        chunk: _Chunk,
        tally: Tally,
        labels: Labels,
    ) -> None:
        """Rows of a chunk of matters, into the part each belongs to; the chunk's evaluation
        figures, added to the period's (in a worker thread)."""
        figures_of: list[AssignmentRow] = []
        for case in chunk.cases:
            kind = self.kinds.get(case.kind)
            events = chunk.events.get(case.id, [])
            book = target.book_for_next()
            if kind is None:  # a retired kind: only its audit trail
                disclosure = of_kind(Audience.MEMBER, self.committee.group_detail, self.kinds, None)
            else:
                disclosure = self.export_disclosure(kind.code)
                steps = milestones_of(kind, case, events)
                files = chunk.files.get(case.id, 0)
                rows = matter_rows(kind, case, steps, disclosure, labels, self.tz, files)
                book.write(f"kind:{kind.code}", rows)
            figures_of += assignment_rows(case, events, _STEP_ACTIONS)
            addressees = {a.id: a.addressee for a in case.assignments}
            book.write(
                AUDIT,
                [
                    audit_row(kind, case.number, e, addressees, disclosure, labels, self.tz)
                    for e in events
                ],
            )
        tally.add(figures_of)

    async def _chunks(self, period: Period) -> AsyncIterator[_Chunk]:
        """The period's matters, oldest first, ``CHUNK`` at a time, each chunk with its
        addressees and audit trail: a short read each, never the whole period at once."""
        start, end = period.bounds(self.tz)
        c = t.cases
        raiser = t.users.alias("raiser")
        base = (
            select(c, raiser.c.first_name.label("raiser_name"))
            .select_from(c.outerjoin(raiser, raiser.c.user_id == c.c.raiser_user_id))
            .where(c.c.created_at < end)
            .order_by(c.c.created_at, c.c.id)
            .limit(CHUNK)
        )
        after: tuple[datetime, int] | None = None
        while True:
            # One lower bound, so that the index search starts at the last moment read (with
            # the period's start beside it, or an OR alone, every chunk would scan from there).
            if after is None:
                stmt = base.where(c.c.created_at >= start)
            else:
                at, last = after
                stmt = base.where(
                    c.c.created_at >= at,
                    or_(c.c.created_at > at, and_(c.c.created_at == at, c.c.id > last)),
                )
            async with self.db.read(scan=True) as conn:
                rows = (await conn.execute(stmt)).all()
                ids = [r.id for r in rows]
                assignments = await self._assignments(conn, ids)
                history = (
                    await conn.execute(
                        _EVENTS_WITH_ACTOR.where(t.events.c.case_id.in_(ids)).order_by(
                            t.events.c.case_id, t.events.c.id
                        )
                    )
                ).all()
                files = (
                    await conn.execute(
                        select(t.case_files.c.case_id, func.count())
                        .where(t.case_files.c.case_id.in_(ids))
                        .group_by(t.case_files.c.case_id)
                    )
                ).all()
            events: dict[int, list[Event]] = {}
            for r in history:
                events.setdefault(r.case_id, []).append(self._to_event(r))
            cases = [
                self._case(r, assignments=assignments.get(r.id, ()), raiser_name=r.raiser_name)
                for r in rows
            ]
            if cases:
                yield _Chunk(cases, events, {case_id: n for case_id, n in files})
            if len(rows) < CHUNK:
                return
            after = (rows[-1].created_at, rows[-1].id)
