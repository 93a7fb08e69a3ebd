"""Taking a test's database to a given schema revision inside a connection's transaction."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from sqlalchemy import Connection

from bot.storage.db import alembic_config


def migrate_to(url: str, revision: str) -> Callable[[Connection], None]:
    """What ``AsyncConnection.run_sync`` runs to take the database at ``url`` up to
    ``"head"`` or down to ``revision``, on the connection it is given (so that rows written
    before, in the same test, are migrated as a committee's would be)."""

    def run(sync_conn: Connection) -> None:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = sync_conn
        if revision == "head":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)

    return run
