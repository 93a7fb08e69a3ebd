"""Keeping /find's index: a matter's search documents rewritten from what the database holds.

Called inside the transaction of every write that changes what a matter's documents say
(raising it, every action — a resubmission edits the form, notes and outcomes come with
actions), so the index never lags the matters; and by migration 0010_find for the matters
that existed before it. Synchronous on purpose: the migration runs on a plain connection,
the services' reindex of one matter (``reindex_one``) runs the same statements, built once,
through ``bot.storage.db.execute``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.kinds import KindRegistry
from bot.domain.models import Case
from bot.domain.search import SLOTS, Document, Step, doc_id, documents, short_index_text
from bot.storage import schema as t
from bot.storage.db import execute

_BI_DELETE = text(
    "INSERT INTO find_bi(find_bi, rowid, title, body) VALUES ('delete', :id, :title, :body)"
)
_BI_INSERT = text("INSERT INTO find_bi(rowid, title, body) VALUES (:id, :title, :body)")
_TITLE_BI_DELETE = text(
    "INSERT INTO find_title_bi(find_title_bi, rowid, title) VALUES ('delete', :id, :title)"
)
_TITLE_BI_INSERT = text("INSERT INTO find_title_bi(rowid, title) VALUES (:id, :title)")


# One matter's (the services' reindex after every change), built once: no IN lists or ranges
# to build and expand on every update.
_CASE_COLUMNS = (
    t.cases.c.id,
    t.cases.c.number,
    t.cases.c.kind,
    t.cases.c.title,
    t.cases.c.fields,
    t.cases.c.raiser_org,
)
_ADDRESSEE_COLUMNS = (
    t.assignments.c.case_id,
    t.assignments.c.id,
    t.assignments.c.position,
    t.assignments.c.addressee,
)
_STEP_COLUMNS = (
    t.events.c.case_id,
    t.events.c.action,
    t.events.c.detail,
    t.events.c.assignment_id,
)
_ONE_CASE = select(*_CASE_COLUMNS).where(t.cases.c.id == bindparam("case_id"))
_ONE_CASES_ADDRESSEES = (
    select(*_ADDRESSEE_COLUMNS)
    .where(t.assignments.c.case_id == bindparam("case_id"))
    .order_by(t.assignments.c.position)
)
_ONE_CASES_STEPS = (
    select(*_STEP_COLUMNS).where(t.events.c.case_id == bindparam("case_id")).order_by(t.events.c.id)
)
_IN_ONE_CASES_RANGE = and_(
    t.search_docs.c.id >= bindparam("low"), t.search_docs.c.id < bindparam("high")
)
_ONE_CASES_DOCS = select(t.search_docs.c.id, t.search_docs.c.title, t.search_docs.c.body).where(
    _IN_ONE_CASES_RANGE
)
_DELETE_ONE_CASES_DOCS = t.search_docs.delete().where(_IN_ONE_CASES_RANGE)
_DELETE_DOC = t.search_docs.delete().where(t.search_docs.c.id == bindparam("id"))
_INSERT_DOC = t.search_docs.insert().values(
    id=bindparam("id", type_=t.search_docs.c.id.type),
    title=bindparam("title", type_=t.search_docs.c.title.type),
    body=bindparam("body", type_=t.search_docs.c.body.type),
    grams=bindparam("grams", type_=t.search_docs.c.grams.type),
)


def _ranges(case_ids: Sequence[int]) -> Any:
    return or_(
        *(
            and_(t.search_docs.c.id >= doc_id(c), t.search_docs.c.id < doc_id(c) + SLOTS)
            for c in case_ids
        )
    )


def build(conn: Connection, case_ids: Sequence[int], kinds: KindRegistry) -> list[Document]:
    """The documents of these matters, as the database holds them now."""
    if not case_ids:
        return []
    ids = list(case_ids)
    one = {"case_id": ids[0]}
    cases = (
        conn.execute(_ONE_CASE, one)
        if len(ids) == 1
        else conn.execute(select(*_CASE_COLUMNS).where(t.cases.c.id.in_(ids)))
    ).all()
    addressee_rows = (
        conn.execute(_ONE_CASES_ADDRESSEES, one)
        if len(ids) == 1
        else conn.execute(
            select(*_ADDRESSEE_COLUMNS)
            .where(t.assignments.c.case_id.in_(ids))
            .order_by(t.assignments.c.case_id, t.assignments.c.position)
        )
    ).all()
    step_rows = (
        conn.execute(_ONE_CASES_STEPS, one)
        if len(ids) == 1
        else conn.execute(
            select(*_STEP_COLUMNS)
            .where(t.events.c.case_id.in_(ids))
            .order_by(t.events.c.case_id, t.events.c.id)
        )
    ).all()
    return _assemble(kinds, ids, cases, addressee_rows, step_rows)


def _assemble(
    kinds: KindRegistry,
    ids: Sequence[int],
    cases: Iterable[Any],
    addressee_rows: Iterable[Any],
    step_rows: Iterable[Any],
) -> list[Document]:
    """The documents of these matters from their rows (cases, addressees, steps)."""
    addressees: dict[int, dict[int, tuple[int, str]]] = {i: {} for i in ids}
    for a in addressee_rows:
        addressees[a.case_id][a.id] = (a.position, a.addressee)
    steps: dict[int, list[tuple[str, Any, int | None]]] = {i: [] for i in ids}
    for e in step_rows:
        steps[e.case_id].append((e.action, e.detail, e.assignment_id))
    docs: list[Document] = []
    for row in cases:
        kind = kinds.get(row.kind)
        own = addressees[row.id]
        several = kind is not None and kind.several_addressees
        found = [
            Step(
                action,
                dict(detail or {}),
                # An addressee's own step (only a matter with several has them) is its own
                # document; every other step is the matter's.
                own[assignment_id][0] if several and assignment_id in own else 0,
            )
            for action, detail, assignment_id in steps[row.id]
        ]
        docs += documents(
            row.id,
            row.number,
            row.title,
            dict(row.fields or {}),
            row.raiser_org,
            [addressee for _, addressee in own.values()],
            found,
            kind,
        )
    return docs


def reindex(conn: Connection, case_ids: Sequence[int], kinds: KindRegistry) -> int:
    """Rewrite these matters' documents; returns how many there are now."""
    if not case_ids:
        return 0
    sqlite = conn.dialect.name == "sqlite"
    docs = build(conn, case_ids, kinds)
    one = (
        {"low": doc_id(case_ids[0]), "high": doc_id(case_ids[0]) + SLOTS}
        if len(case_ids) == 1
        else None
    )
    old = (
        conn.execute(_ONE_CASES_DOCS, one)
        if one is not None
        else conn.execute(
            select(t.search_docs.c.id, t.search_docs.c.title, t.search_docs.c.body).where(
                _ranges(case_ids)
            )
        )
    ).all()
    if old:
        if sqlite:
            removed = _removals(old)
            conn.execute(_BI_DELETE, removed)
            conn.execute(_TITLE_BI_DELETE, _titles(removed))
        # On SQLite, a trigger removes the row from the trigram indexes.
        if one is not None:  # the matter's range holds exactly ``old``
            conn.execute(_DELETE_ONE_CASES_DOCS, one)
        else:
            conn.execute(t.search_docs.delete().where(t.search_docs.c.id.in_([r.id for r in old])))
    insert(conn, docs)
    return len(docs)


async def reindex_one(
    conn: AsyncConnection, case_id: int, kinds: KindRegistry, case: Case | None = None
) -> int:
    """``reindex`` of one matter, in the services' transaction that changed it: statements
    built once, through ``bot.storage.db.execute`` (on SQLite straight to the driver,
    without SQLAlchemy's per-execution machinery). ``case``: the matter with its addressees
    as that transaction has just read it after its writes (not read again)."""
    sqlite = conn.dialect.name == "sqlite"
    one = {"case_id": case_id}
    cases: Sequence[Any]
    addressee_rows: Sequence[Any]
    if case is not None and case.id == case_id:
        # The same attributes as the rows read below (assignments ordered by position).
        cases, addressee_rows = [case], case.assignments
    else:
        cases = (await execute(conn, _ONE_CASE, one)).all()
        addressee_rows = (await execute(conn, _ONE_CASES_ADDRESSEES, one)).all()
    step_rows = (await execute(conn, _ONE_CASES_STEPS, one)).all()
    docs = _assemble(kinds, [case_id], cases, addressee_rows, step_rows)
    span = {"low": doc_id(case_id), "high": doc_id(case_id) + SLOTS}
    old = (await execute(conn, _ONE_CASES_DOCS, span)).all()
    # Most steps leave most documents as they were (an acknowledgement adds no searchable
    # words): only the documents whose text changed are rewritten, as their indexes' rows.
    kept = {(r.id, r.title, r.body) for r in old} & {(d.id, d.title, d.body) for d in docs}
    gone = [r for r in old if (r.id, r.title, r.body) not in kept]
    docs = [d for d in docs if (d.id, d.title, d.body) not in kept]
    if gone:
        if sqlite:
            removed = _removals(gone)
            await execute(conn, _BI_DELETE, removed)
            await execute(conn, _TITLE_BI_DELETE, _titles(removed))
        # On SQLite, a trigger removes the row from the trigram indexes.
        if len(gone) == len(old):  # the matter's range holds exactly ``old``
            await execute(conn, _DELETE_ONE_CASES_DOCS, span)
        else:
            await execute(conn, _DELETE_DOC, [{"id": r.id} for r in gone])
    if docs:
        rows, grams = _rows(docs, sqlite)
        await execute(conn, _INSERT_DOC, rows)
        if grams:
            await execute(conn, _BI_INSERT, grams)
            await execute(conn, _TITLE_BI_INSERT, _titles(grams))
    return len(kept) + len(docs)


def _removals(old: Iterable[Any]) -> list[dict[str, Any]]:
    """The trigram indexes' rows of documents about to be removed (SQLite)."""
    removed = []
    for r in old:
        title, body = short_index_text(r.title, r.body)
        removed.append({"id": r.id, "title": title, "body": body})
    return removed


def _titles(grams: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": g["id"], "title": g["title"]} for g in grams]


def _rows(
    docs: Sequence[Document], sqlite: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """New documents' rows, and on SQLite their trigram indexes' rows."""
    rows: list[dict[str, Any]] = []
    grams: list[dict[str, Any]] = []
    for d in docs:
        title, body = short_index_text(d.title, d.body)
        row: dict[str, Any] = {"id": d.id, "title": d.title, "body": d.body, "grams": None}
        if sqlite:
            grams.append({"id": d.id, "title": title, "body": body})
        else:
            row["grams"] = f"{title} {body}"
        rows.append(row)
    return rows, grams


def reindex_kinds(
    conn: Connection, kinds: KindRegistry, codes: Sequence[str], batch: int = 2000
) -> int:
    """Rewrite the documents of every matter of these kinds, a batch of matters at a time
    (a migration, when what the documents hold changes); returns how many there are now."""
    written = 0
    after = 0
    while True:
        ids = list(
            conn.execute(
                select(t.cases.c.id)
                .where(t.cases.c.kind.in_(sorted(codes)), t.cases.c.id > after)
                .order_by(t.cases.c.id)
                .limit(batch)
            ).scalars()
        )
        if not ids:
            return written
        written += reindex(conn, ids, kinds)
        after = ids[-1]


def drop_slot(conn: Connection, slot: int) -> int:
    """Remove every matter's document in ``slot`` from the table and both indexes (undoing a
    migration that introduced the slot); returns how many were removed."""
    old = conn.execute(
        select(t.search_docs.c.id, t.search_docs.c.title, t.search_docs.c.body).where(
            t.search_docs.c.id.op("%")(SLOTS) == slot
        )
    ).all()
    if not old:
        return 0
    if conn.dialect.name == "sqlite":
        removed = _removals(old)
        conn.execute(_BI_DELETE, removed)
        conn.execute(_TITLE_BI_DELETE, _titles(removed))
    conn.execute(t.search_docs.delete().where(t.search_docs.c.id.in_([r.id for r in old])))
    return len(old)


def insert(conn: Connection, docs: Sequence[Document]) -> None:
    """Add new documents (their ids must be free) to the table and both indexes."""
    if not docs:
        return
    rows, grams = _rows(docs, conn.dialect.name == "sqlite")
    conn.execute(t.search_docs.insert(), rows)
    if grams:
        conn.execute(_BI_INSERT, grams)
        conn.execute(_TITLE_BI_INSERT, _titles(grams))


def index_all(conn: Connection, kinds: KindRegistry, batch: int = 2000) -> int:
    """Index every matter that has no documents yet (migration 0010_find; the benchmark's
    seeded databases), a batch of matters at a time; returns how many documents."""
    written = 0
    after = 0
    while True:
        ids = list(
            conn.execute(
                select(t.cases.c.id).where(t.cases.c.id > after).order_by(t.cases.c.id).limit(batch)
            ).scalars()
        )
        if not ids:
            return written
        docs = build(conn, ids, kinds)
        insert(conn, docs)
        written += len(docs)
        after = ids[-1]
