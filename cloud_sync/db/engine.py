"""Database engine and schema set-up.

`init_db` brings the schema to the latest version. Production databases are migrated with Alembic
(see cloud_sync/db/migrations); `create_all` is only the fallback for throwaway databases.
"""

from __future__ import annotations

import logging

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from cloud_sync.db import models  # noqa: F401  (registers the tables on SQLModel.metadata)

log = logging.getLogger(__name__)


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for `url`; SQLite gets WAL and a busy timeout so ingest and dashboard can share it."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def init_db(engine: Engine) -> None:
    """Create missing tables (replaced by an Alembic upgrade once migrations exist)."""
    SQLModel.metadata.create_all(engine)
