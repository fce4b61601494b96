"""Server-side log-in sessions: the signed cookie carries a random session id, the database decides.

A session is valid while its row exists and has not expired. Log-out deletes the row, a password
change deletes all of the user's rows, so a copied or stolen cookie stops working at once, in every
dashboard worker (the rows live in the shared database, not in a worker's memory). Only the
SHA-256 of the id is stored: a database dump does not yield live cookies.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from cloud_sync.db.models import DashboardSession, User, utcnow

log = logging.getLogger(__name__)

S = DashboardSession.__table__.c
U = User.__table__.c


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(engine: Engine, username: str, *, hours: float, address: str = "") -> str:
    """A new session for `username`; returns the id for the cookie (never stored as such)."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(delete(DashboardSession.__table__).where(S.expires_at < now))  # tidy as we go
        conn.execute(DashboardSession.__table__.insert().values(
            id_hash=_hash(session_id), username=username, created_at=now,
            expires_at=now + timedelta(hours=hours), address=address[:64]))
    return session_id


def user_of(engine: Engine, session_id: str, username: str, now: datetime | None = None):
    """The user row (role, stores) of a live session of `username`, else None."""
    query = (select(U.username, U.role, U.store_ids).join_from(DashboardSession.__table__, User.__table__,
                                                               S.username == U.username)
             .where(S.id_hash == _hash(session_id), S.username == username, S.expires_at > (now or utcnow())))
    with engine.connect() as conn:
        return conn.execute(query).first()


def end(engine: Engine, session_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(DashboardSession.__table__).where(S.id_hash == _hash(session_id)))


def end_all(engine: Engine, username: str) -> int:
    """End every session of the user (password change); returns how many there were."""
    with engine.begin() as conn:
        ended = conn.execute(delete(DashboardSession.__table__).where(S.username == username)).rowcount
    if ended:
        log.info("dashboard user %s: %d session(s) ended", username, ended)
    return ended
