"""Database engine and schema set-up.

`init_db` brings the schema to the latest version by running `alembic upgrade head` in-process
(cloud_sync/db/migrations), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine

from cloud_sync.db import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storelens.errors import ConfigError

log = logging.getLogger(__name__)


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for `url`; SQLite gets WAL and a busy timeout so ingest and dashboard can share it."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)  # the default lives in $STORELENS_HOME
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def database_engine(cfg) -> Engine:
    """Engine for cloud.database_url; a PostgreSQL password comes from $STORELENS_DB_PASSWORD."""
    url = make_url(cfg.cloud.database_url)
    if url.password:
        raise ConfigError("cloud.database_url: put the password in $STORELENS_DB_PASSWORD, not in the config")
    password = os.environ.get("STORELENS_DB_PASSWORD")
    if password and not url.drivername.startswith("sqlite"):
        url = url.set(password=password)
    return make_engine(url.render_as_string(hide_password=False))


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Alembic keeps its migration context in module globals: two threads migrating at once collide.
_MIGRATING = threading.Lock()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def init_db(engine: Engine) -> None:
    """Migrate the schema to the newest revision (`alembic upgrade head`), in this process."""
    cfg = alembic_config()
    quiet = logging.getLogger("alembic")
    if quiet.level == logging.NOTSET:  # its per-plugin INFO lines drown the service's own log
        quiet.setLevel(logging.WARNING)
    with _MIGRATING, engine.begin() as conn:
        cfg.attributes["connection"] = conn
        if _created_without_alembic(conn):
            # A database made by create_all: adopt it as 0001 (made before migrations existed), or as
            # the newest revision when create_all already made every table the models have now.
            adopted = "head" if _has_every_table(conn) else "0001"
            log.warning("database has tables but no alembic_version: stamping it as %s", adopted)
            command.stamp(cfg, adopted)
        command.upgrade(cfg, "head")


def _created_without_alembic(conn) -> bool:
    tables = set(inspect(conn).get_table_names())
    return "aggregaterecord" in tables and "alembic_version" not in tables


def _has_every_table(conn) -> bool:
    from sqlmodel import SQLModel

    return set(SQLModel.metadata.tables) <= set(inspect(conn).get_table_names())
