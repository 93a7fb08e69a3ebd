"""Database tables (SQLAlchemy Core); the Alembic migrations beside this module create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out — also on SQLite, which stores no zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


users = Table(
    "users",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("first_name", String(128), nullable=False, server_default=""),
    Column("username", String(64), nullable=True),
    # NULL until the user picks a language with /lang or is offered English (the default is
    # then stored, so the offer is made once): they read the default language meanwhile.
    Column("lang", String(8), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("org_code", String(24), nullable=False),
    Column("role", String(24), nullable=False),
    Column("display_name", String(128), nullable=False),
    Column("joined_at", UTCDateTime, nullable=False),
    Column("invited_by", BigInteger, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_by", BigInteger, nullable=True),
    # One active membership per Telegram user.
    Index(
        "ux_members_active_user",
        "user_id",
        unique=True,
        sqlite_where=text("revoked_at IS NULL"),
        postgresql_where=text("revoked_at IS NULL"),
    ),
    Index("ix_members_org_role", "org_code", "role"),
)

invites = Table(
    "invites",
    metadata,
    Column("id", Integer, primary_key=True),
    # SHA-256 (hex) of the link's token: the token is handed out, never kept, so a copy of
    # the database opens no door.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("org_code", String(24), nullable=False),
    Column("role", String(24), nullable=False),
    Column("created_by", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_by", BigInteger, nullable=True),
    Column("used_at", UTCDateTime, nullable=True),
    # Withdrawn by the office, or together with its creator's membership.
    Column("withdrawn_at", UTCDateTime, nullable=True),
    Column("withdrawn_by", BigInteger, nullable=True),
    # The office's role menu the link was made from: pressing it twice makes one link.
    Column("menu_message_id", BigInteger, nullable=True),
    UniqueConstraint("created_by", "menu_message_id"),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("kind", String(32), nullable=False),
    Column("year", Integer, nullable=False),
    Column("value", Integer, nullable=False),
    PrimaryKeyConstraint("kind", "year"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(64), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("year", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    # The matter's status: its one addressee's state, or (several addressees) open / closed.
    Column("status", String(24), nullable=False),
    Column("title", String(200), nullable=False),
    Column("raiser_user_id", BigInteger, nullable=False),
    Column("raiser_org", String(24), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("submit_token", String(32), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "year", "seq"),
    Index("ix_cases_raiser_status", "raiser_user_id", "status"),
    # /my: an organisation's open matters, newest first, from the index alone.
    Index("ix_cases_raiser_org_status_created", "raiser_org", "status", "created_at"),
    # The digest's matters raised in a week, read from the index alone (a row holds the form).
    Index("ix_cases_created_number", "created_at", "number", "title", "raiser_org"),
    # /my: open matters newest first, five at a time, without sorting every open matter.
    Index("ix_cases_status_created", "status", "created_at"),
)

# The partial index's condition; a query uses that index only if it says the same.
SHARED_OPEN = "matter_status = 'open'"
# The partial index of running deadlines by raiser; a query uses it only if it says the same.
DUE_RUNNING = "due IS NOT NULL"
# The partial index of paused clocks by raiser, likewise.
WAITING = "paused_since IS NOT NULL"

# One addressee of a matter (a court or center, or each of several agencies) and where it
# stands: state, running deadline, handler, the latest answers. Deadlines are local dates
# counted in working days; a deadline is overdue after the end of its due day.
assignments = Table(
    "assignments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("addressee", String(24), nullable=False),
    Column("state", String(24), nullable=False),
    Column("handler_user_id", BigInteger, nullable=True),
    Column("acted_by", BigInteger, nullable=True),
    Column("acted_at", UTCDateTime, nullable=True),
    Column("outcome", String(32), nullable=True),
    Column("note", Text, nullable=True),
    # The deadline running now (none while the clock is paused) and every deadline computed.
    Column("stage", String(24), nullable=True),
    Column("due", Date, nullable=True),
    Column("dues", JSON, nullable=False),
    Column("clock_started_at", UTCDateTime, nullable=False),
    Column("paused_since", Date, nullable=True),
    Column("paused_days", Integer, nullable=False, server_default="0"),
    Column("round", Integer, nullable=False, server_default="0"),
    Column("last_open_state", String(24), nullable=True),
    Column("answers", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The matter's status (``cases.status``), written with it: /my finds the shared matters
    # still open that an organisation is addressed in through its own rows (migration 0013).
    Column("matter_status", String(24), nullable=False, server_default=""),
    # The matter's raiser (``cases.raiser_org``, never changed): /my reads an organisation's
    # raised matters in deadline order from its running deadlines' index (migration 0014).
    Column("raiser_org", String(24), nullable=False, server_default=""),
    UniqueConstraint("case_id", "position"),
    # /my's matters addressed to an organisation, and the scan's running deadlines (also
    # the office's /my, in order): both answered from the index alone (migrations 0008, 0009).
    Index(
        "ix_assignments_addressee_state_case_due",
        "addressee",
        "state",
        "case_id",
        "due",
        "paused_since",
        "handler_user_id",
    ),
    Index(
        "ix_assignments_due_case",
        "due",
        "case_id",
        "stage",
        "addressee",
        "round",
        "handler_user_id",
    ),
    Index("ix_assignments_handler", "handler_user_id"),
    # /my: a raised matter's nearest deadline and whether it waits for the raiser, from the
    # index alone (migration 0013).
    Index("ix_assignments_case_due_paused", "case_id", "due", "paused_since"),
    # /my: the open shared matters an organisation is addressed in (migration 0013).
    Index(
        "ix_assignments_shared_open",
        "addressee",
        "case_id",
        sqlite_where=text(SHARED_OPEN),
        postgresql_where=text(SHARED_OPEN),
    ),
    # /my: an organisation's raised matters nearest deadline first, a page at a time
    # (migration 0014).
    Index(
        "ix_assignments_raiser_due",
        "raiser_org",
        "due",
        "case_id",
        sqlite_where=text(DUE_RUNNING),
        postgresql_where=text(DUE_RUNNING),
    ),
    # /my's to-do list: the matters an organisation raised that wait for its more
    # (migration 0014).
    Index(
        "ix_assignments_raiser_paused",
        "raiser_org",
        "case_id",
        sqlite_where=text(WAITING),
        postgresql_where=text(WAITING),
    ),
    # /my: the running deadlines by addressee, read a court's page in deadline order, and
    # the open matters' rows by addressee, counted for its total (migration 0015).
    Index(
        "ix_assignments_addressee_due",
        "addressee",
        "due",
        "case_id",
        "state",
        "matter_status",
        "raiser_org",
        "paused_since",
        "handler_user_id",
        sqlite_where=text(DUE_RUNNING),
        postgresql_where=text(DUE_RUNNING),
    ),
    Index(
        "ix_assignments_addressee_open",
        "addressee",
        "matter_status",
        "case_id",
        "raiser_org",
        "state",
        "due",
        "paused_since",
        "handler_user_id",
    ),
)

case_files = Table(
    "case_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("media", String(16), nullable=False),
    Column("file_id", String(256), nullable=False),
    Column("file_unique_id", String(64), nullable=False),
    Column("file_name", String(256), nullable=True),
    Column("file_size", Integer, nullable=True),
    Index("ix_case_files_case", "case_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=True),
    Column("actor_user_id", BigInteger, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_status", String(24), nullable=True),
    Column("to_status", String(24), nullable=True),
    Column("detail", JSON, nullable=True),
    Column("assignment_id", Integer, nullable=True),
    Index("ix_events_case", "case_id", "id"),
    # The digest's answers in a week, with the matter and addressee they concern.
    Index("ix_events_action_at_case", "action", "at", "case_id", "assignment_id"),
)

drafts = Table(
    "drafts",
    metadata,
    Column("user_id", BigInteger, nullable=False),
    Column("flow", String(32), nullable=False),
    Column("state", String(48), nullable=False),
    Column("data", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("user_id", "flow"),
)

# A message the bot decided to send on its own. The unique key makes "send X about Y at
# threshold Z" happen once, across crashes and restarts; the courier delivers pending rows.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("kind", String(48), nullable=False),
    Column("payload", JSON, nullable=False),
    # pending → sending → sent; or → retry (backoff) → ...; or → failed (permanent)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("uncertain", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("message_id", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

meetings = Table(
    "meetings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("place", String(300), nullable=False),
    Column("status", String(16), nullable=False),  # scheduled | cancelled
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_by", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_meetings_status_start", "status", "starts_at"),
)

meeting_orgs = Table(
    "meeting_orgs",
    metadata,
    Column("meeting_id", Integer, ForeignKey("meetings.id", ondelete="CASCADE"), nullable=False),
    Column("org_code", String(24), nullable=False),
    Column("rsvp", String(16), nullable=True),  # attend | deputy | absent
    Column("rsvp_by", BigInteger, nullable=True),
    Column("rsvp_at", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("meeting_id", "org_code"),
)

meeting_agenda = Table(
    "meeting_agenda",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("meeting_id", Integer, ForeignKey("meetings.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="SET NULL"), nullable=True),
    Column("text", String(300), nullable=False),
    Index("ix_meeting_agenda_meeting", "meeting_id", "position"),
)

# Update ids already handled: Telegram may deliver an update again (for example after a
# connection drop); it is processed once. Pruned after a week.
seen_updates = Table(
    "seen_updates",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("seen_at", UTCDateTime, nullable=False),
    Index("ix_seen_updates_seen_at", "seen_at"),
)

# /find's documents (``bot.domain.search``): one per matter, and one per addressee of a matter
# with several whose own notes only some may see. The id says which (case id << 10 | slot).
# On SQLite FTS5 tables index them (migration 0010_find): ``find_tri`` (trigram, external
# content: this table, kept by triggers) and ``find_bi`` (bigrams, contentless, kept by
# ``bot.storage.search``), and the same two over the titles alone; on PostgreSQL, pg_trgm
# indexes on ``title``/``body`` and a full-text index on ``grams``.
search_docs = Table(
    "search_docs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    # PostgreSQL only: the short-word index's text (bigrams); SQLite keeps it in find_bi.
    Column("grams", Text, nullable=True),
)

# A /find query, so its page buttons can carry a short id instead of the words.
searches = Table(
    "searches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("query", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_searches_user", "user_id", "id"),
)

# A year's holidays as the office confirmed them from the State Council's notice (/calendar):
# it overrides the ``holidays`` package and the committee file's ``[calendar.YYYY]`` for that
# year. ``holidays``: the notice's items, ``[{"names": [...], "first": ISO, "last": ISO,
# "extra": [ISO...]}]``; ``workdays``: the make-up working days (ISO). Either may hold days of
# the previous December (a New Year holiday that starts there).
calendar_years = Table(
    "calendar_years",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("holidays", JSON, nullable=False),
    Column("workdays", JSON, nullable=False),
    Column("confirmed_by", BigInteger, nullable=False),
    Column("confirmed_at", UTCDateTime, nullable=False),
    # SHA-256 (hex) of the notice's text as pasted: which text this year was read from.
    Column("source_sha256", String(64), nullable=False),
)

# What the database holds that no Table above declares (created by migration 0010_find):
# SQLite's FTS5 indexes of /find and their shadow tables; PostgreSQL's trigram and full-text
# indexes of ``search_docs`` (expression and operator-class indexes Core does not model).
UNDECLARED_PREFIXES = ("find_tri", "find_bi", "find_title_tri", "find_title_bi")
UNDECLARED_INDEXES = frozenset(
    {"ix_search_docs_title_trgm", "ix_search_docs_body_trgm", "ix_search_docs_grams"}
)


def declared(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's ``include_name``: compare only what this module declares."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(UNDECLARED_PREFIXES)
    return not (type_ == "index" and name in UNDECLARED_INDEXES)
