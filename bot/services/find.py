"""/find: the matters a member may see whose number, title, answers, parties or notes hold
some words, best matches first.

Rank: the matter whose number the words are (in any form ``/case`` reads), then matters
with every word in the title, then those with every word elsewhere; the newest first within
a rank. Each rank is read newest first from the full-text index itself (documents are
numbered as matters are, see ``bot.domain.search``) and stops after ``LIMIT`` matches, so a
word in every matter costs no more than a rare one: the list is capped, and says so.

Who may see what is ``/case``'s and ``/my``'s rule: the office and observers see every
matter; anyone else the matters their organisation raised or answers for
(``rules.can_view``, in SQL over the same columns and ``_answering_addressees`` as ``/my``),
and of a matter with several addressees only the notes of the addressees they see
(``rules.addressees_seen``). Each matter shown is checked once more with ``rules.can_view``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    column,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import rules
from bot.domain.committee import GroupDetail
from bot.domain.errors import NotAllowed
from bot.domain.models import Case, Member, Role, Viewer
from bot.domain.privacy import audience_of, disclosure
from bot.domain.search import (
    PERSONAL_SLOT,
    SLOT_BITS,
    SLOTS,
    Query,
    bigram_match,
    bigram_phrase,
    case_of,
    org_mark,
    org_token,
    parse_query,
    trigram_match,
)
from bot.services.cases import Cases
from bot.storage import schema as t

logger = logging.getLogger(__name__)

LIMIT = 100  # matches listed at most (twenty pages of five)
KEPT_SEARCHES = 20  # a member's latest queries kept for their page buttons

NUMBER, TITLE, OTHER = 0, 1, 2  # ranks

_tri = table("find_tri", column("rowid", BigInteger), column("find_tri"))
_bi = table("find_bi", column("rowid", BigInteger), column("find_bi"))
_title_tri = table("find_title_tri", column("rowid", BigInteger), column("find_title_tri"))
_title_bi = table("find_title_bi", column("rowid", BigInteger), column("find_title_bi"))


@dataclass(frozen=True, slots=True)
class Hit:
    case: Case
    rank: int


@dataclass(frozen=True, slots=True)
class Found:
    """One page of a search: its matters, how many matched (at most ``LIMIT``), and
    whether more did than are listed."""

    query: Query
    hits: list[Hit]
    total: int
    more: bool


class Finding(Cases):
    async def find(self, viewer: Viewer, text: str, offset: int, limit: int) -> Found:
        """A page of the matters the viewer may see that match ``text``; raises
        ``QueryProblem`` for a query that cannot be searched."""
        member = viewer.member
        if member is None or not member.active:
            raise NotAllowed("not_member")
        query = parse_query(text, self.committee)
        async with self.db.read() as conn:
            ranked, more = await self._ranked(conn, member, query)
            page = ranked[offset : offset + limit]
            ids = [case_id for case_id, _ in page]
            rows = {
                r.id: r
                for r in (await conn.execute(select(t.cases).where(t.cases.c.id.in_(ids)))).all()
            }
            assignments = await self._assignments(conn, ids)
        hits: list[Hit] = []
        for case_id, rank in page:
            if case_id not in rows:
                continue
            case = self._case(rows[case_id], assignments=assignments[case_id])
            if not rules.can_view(member, case, self.committee):
                # The SQL bound and the rule disagree: show nothing the rule refuses.
                logger.error("search offered case %s its rule refuses", case_id)
                continue
            hits.append(Hit(case, rank))
        return Found(query, hits, len(ranked), more)

    async def _ranked(
        self, conn: AsyncConnection, member: Member, query: Query
    ) -> tuple[list[tuple[int, int]], bool]:
        """(case id, rank) of every match listed, best first; and whether there were more."""
        ranked: dict[int, int] = {}
        parsed = rules.parse_number(query.text, self.kinds)
        if parsed is not None:
            kind, year, seq = parsed
            found = (
                await conn.execute(
                    select(t.cases.c.id).where(
                        t.cases.c.kind == kind, t.cases.c.year == year, t.cases.c.seq == seq
                    )
                )
            ).scalar_one_or_none()
            if found is not None and await self._visible_case(conn, member, found):
                ranked[found] = NUMBER
        more = False
        for rank in (TITLE, OTHER):
            docs = await self._docs(conn, member, query, title_only=rank == TITLE)
            more = more or len(docs) >= LIMIT
            for doc in docs:
                ranked.setdefault(case_of(doc), rank)
        listed = list(ranked.items())[:LIMIT]
        return listed, more or len(ranked) > LIMIT

    async def _visible_case(self, conn: AsyncConnection, member: Member, case_id: int) -> bool:
        visible = self._visible(member, literal((case_id << SLOT_BITS), BigInteger))
        return bool((await conn.execute(select(visible))).scalar())

    def _visible(self, member: Member, doc: Any) -> ColumnElement[bool]:
        """Whether the viewer may search the document ``doc`` (an id expression): the rule
        of ``rules.can_view`` and ``rules.addressees_seen``, checked per document found
        through primary keys (the matter; its addressee at a position), so a search costs
        what it reads of the index, never a list of everything a court answers for; and a
        matter's personal data only for those ``privacy`` lets see it."""
        slot = doc.op("&")(literal(SLOTS - 1, BigInteger))
        personal = disclosure(audience_of(member), GroupDetail.FULL).personal
        seen = self._searchable(member, doc, slot)
        return seen if personal else and_(seen, slot != PERSONAL_SLOT)

    def _searchable(self, member: Member, doc: Any, slot: Any) -> ColumnElement[bool]:
        """``_visible`` but for personal data."""
        if member.role in (Role.OFFICE, Role.OBSERVER):
            return true()
        # PostgreSQL shifts a bigint by an integer (``bigint >> bigint`` does not exist).
        case_id = doc.op(">>")(literal(SLOT_BITS, Integer))
        orgs = self._answering_addressees(member.org_code)
        a = t.assignments
        raised = select(t.cases.c.id).where(
            t.cases.c.id == case_id, t.cases.c.raiser_org == member.org_code
        )
        addressed = select(a.c.id).where(a.c.case_id == case_id, a.c.addressee.in_(orgs))
        own_slot = select(a.c.id).where(
            a.c.case_id == case_id, a.c.position == slot, a.c.addressee.in_(orgs)
        )
        return or_(
            raised.exists(),
            and_(addressed.exists(), or_(slot.in_((0, PERSONAL_SLOT)), own_slot.exists())),
        )

    async def _docs(
        self, conn: AsyncConnection, member: Member, query: Query, *, title_only: bool
    ) -> list[int]:
        """The ids of the matching documents the viewer may search, newest first."""
        stmt = self.docs_statement(member, query, title_only=title_only, dialect=conn.dialect.name)
        return list((await conn.execute(stmt)).scalars())

    def docs_statement(
        self, member: Member, query: Query, *, title_only: bool, dialect: str = "sqlite"
    ) -> Select[Any]:
        """The query for ``_docs`` on this database (also what the benchmark explains).

        SQLite: the trigram index when every word has three or more characters, else the
        bigram index for them all; for the title matches, the indexes of the titles alone.
        PostgreSQL: the same words through its own indexes (``_pg_words``)."""
        if dialect == "postgresql":
            d = t.search_docs
            stmt = select(d.c.id).where(*_pg_words(query, title_only=title_only))
            doc: Any = d.c.id
        else:
            tri, bi = (_title_tri, _title_bi) if title_only else (_tri, _bi)
            short_match = bigram_match(query, title_only=title_only)
            if short_match is None:
                long_match = trigram_match(query, title_only=title_only)
                assert long_match is not None  # a query has at least one word
                doc = tri.c.rowid
                stmt = select(doc).where(tri.c[tri.name].op("MATCH")(long_match))
            else:
                doc = bi.c.rowid
                stmt = select(doc).where(bi.c[bi.name].op("MATCH")(short_match))
        return stmt.where(self._visible(member, doc)).order_by(doc.desc()).limit(LIMIT)

    # ------------------------------------------------------------------ page buttons

    async def save_search(self, viewer: Viewer, text: str) -> int:
        """Keep a query for its page buttons (a member's latest ``KEPT_SEARCHES``)."""
        async with self.db.write() as conn:
            search_id = (
                await conn.execute(
                    t.searches.insert()
                    .values(user_id=viewer.user_id, query=text[:200], created_at=self.clock.now())
                    .returning(t.searches.c.id)
                )
            ).scalar_one()
            # The oldest kept: the member's KEPT_SEARCHES-th latest; older ones go.
            oldest = (
                await conn.execute(
                    select(t.searches.c.id)
                    .where(t.searches.c.user_id == viewer.user_id)
                    .order_by(t.searches.c.id.desc())
                    .offset(KEPT_SEARCHES - 1)
                    .limit(1)
                )
            ).scalar_one_or_none()
            if oldest is not None:
                await conn.execute(
                    delete(t.searches).where(
                        t.searches.c.user_id == viewer.user_id, t.searches.c.id < oldest
                    )
                )
        return int(search_id)

    async def saved_search(self, viewer: Viewer, search_id: int) -> str | None:
        """A query the viewer kept (None: not theirs, or dropped since)."""
        async with self.db.read() as conn:
            return (
                await conn.execute(
                    select(t.searches.c.query).where(
                        t.searches.c.id == search_id, t.searches.c.user_id == viewer.user_id
                    )
                )
            ).scalar_one_or_none()


# The bigram index's expression exactly as migration 0010_find declares it, written out (not
# bound parameters): a prepared statement's generic plan only uses an expression index whose
# expression it repeats literally.
_GRAMS: ColumnElement[Any] = literal_column(
    "to_tsvector('simple', coalesce(search_docs.grams, ''))"
)


def _pg_grams(word: str) -> ColumnElement[bool]:
    """The bigram index holds these tokens as a phrase (``bigram_phrase``: consecutive)."""
    return _GRAMS.op("@@")(func.phraseto_tsquery(literal_column("'simple'"), word))


def _pg_words(query: Query, *, title_only: bool) -> list[ColumnElement[bool]]:
    """One condition per word on PostgreSQL, as SQLite's indexes answer them: a word of
    three or more characters is a substring (``ILIKE``, which pg_trgm's GIN indexes serve), of
    the title, the body, or an organisation's mark it names; a two-character word — too short
    for a trigram — a phrase of the bigram index, or an organisation's token there. Title
    matches of a short word are checked in the title but found through the bigram index
    (which holds the title's bigrams too), as a two-character ``ILIKE`` would read every row.
    The words are runs of letters and digits: no ``%``, ``_`` or escape reaches a pattern."""
    d = t.search_docs
    conditions: list[ColumnElement[bool]] = []
    for i, word in enumerate(query.words):
        pattern = f"%{word}%"
        short = i in query.short_words
        found: ColumnElement[bool]
        if title_only:
            found = d.c.title.ilike(pattern)
            if short:
                found = and_(_pg_grams(bigram_phrase(word)), found)
        elif short:
            found = or_(
                _pg_grams(bigram_phrase(word)), *(_pg_grams(org_token(c)) for c in query.orgs[i])
            )
        else:
            found = or_(
                d.c.title.ilike(pattern),
                d.c.body.ilike(pattern),
                *(d.c.body.ilike(f"%{org_mark(c)}%") for c in query.orgs[i]),
            )
        conditions.append(found)
    return conditions
