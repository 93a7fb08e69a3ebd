"""/find: search documents, their full-text indexes, and the matters already there indexed

Revision ID: 0010_find
Revises: 0009_notices
Create Date: 2026-11-30

- ``search_docs`` holds each matter's search documents (``bot.domain.search``);
- SQLite: ``find_tri``, an FTS5 trigram index over it (external content, kept by triggers),
  and ``find_bi``, a contentless FTS5 index of the documents' bigrams (two-character words,
  which the trigram index cannot find), kept by ``bot.storage.search``; and the same two over
  the titles alone (``find_title_tri``, ``find_title_bi``), which rank title matches first;
- PostgreSQL: pg_trgm GIN indexes on the title and body, and a full-text GIN index on the
  bigrams (``grams``);
- ``searches`` keeps a query for its page buttons;
- every existing matter is indexed here, with the code's own document builder.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_find"
down_revision: str | None = "0009_notices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE = (
    "CREATE VIRTUAL TABLE find_tri USING fts5(title, body, content='search_docs', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE VIRTUAL TABLE find_bi USING fts5(title, body, content='', "
    "tokenize='unicode61 remove_diacritics 0')",
    # The titles alone: a word found in every matter's text but in no title must not cost a
    # walk through every matter to rank the title matches.
    "CREATE VIRTUAL TABLE find_title_tri USING fts5(title, content='search_docs', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE VIRTUAL TABLE find_title_bi USING fts5(title, content='', "
    "tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN "
    "INSERT INTO find_tri(rowid, title, body) VALUES (new.id, new.title, new.body); "
    "INSERT INTO find_title_tri(rowid, title) VALUES (new.id, new.title); END",
    "CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN "
    "INSERT INTO find_tri(find_tri, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO find_title_tri(find_title_tri, rowid, title) "
    "VALUES ('delete', old.id, old.title); END",
    "CREATE TRIGGER search_docs_au AFTER UPDATE ON search_docs BEGIN "
    "INSERT INTO find_tri(find_tri, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO find_title_tri(find_title_tri, rowid, title) "
    "VALUES ('delete', old.id, old.title); "
    "INSERT INTO find_tri(rowid, title, body) VALUES (new.id, new.title, new.body); "
    "INSERT INTO find_title_tri(rowid, title) VALUES (new.id, new.title); END",
)
_POSTGRESQL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_search_docs_title_trgm ON search_docs USING gin (title gin_trgm_ops)",
    "CREATE INDEX ix_search_docs_body_trgm ON search_docs USING gin (body gin_trgm_ops)",
    "CREATE INDEX ix_search_docs_grams ON search_docs "
    "USING gin (to_tsvector('simple', coalesce(grams, '')))",
)


def upgrade() -> None:
    op.create_table(
        "search_docs",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("grams", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_docs")),
    )
    op.create_table(
        "searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("query", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_searches")),
    )
    op.create_index("ix_searches_user", "searches", ["user_id", "id"])
    bind = op.get_bind()
    for statement in _SQLITE if bind.dialect.name == "sqlite" else _POSTGRESQL:
        op.execute(statement)

    from bot.domain.mechanisms import default_registry
    from bot.storage.search import index_all

    index_all(bind, default_registry())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("search_docs_ai", "search_docs_ad", "search_docs_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        for name in ("find_tri", "find_bi", "find_title_tri", "find_title_bi"):
            op.execute(f"DROP TABLE IF EXISTS {name}")
    op.drop_index("ix_searches_user", table_name="searches")
    op.drop_table("searches")
    op.drop_table("search_docs")
