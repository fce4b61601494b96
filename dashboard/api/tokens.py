"""Per-user API tokens: created by `storelens dashboard token create USER`, shown once, stored hashed.

A token is `slk_` plus 43 characters of URL-safe randomness (256 bits). The database keeps only its
SHA-256 (guessing is hopeless at 256 bits, so a slow password hash would only slow every request)
and the first characters as a `prefix`, so `token list` can show which is which. A token acts as
its user with the user's current role and stores, read on every request; revoking it, deleting
the user or passing its expiry date ends it at once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud_sync.db.models import ApiToken, User, utcnow
from dashboard.auth import ROLES, Principal
from storelens.errors import InputError

log = logging.getLogger(__name__)

PREFIX = "slk_"
SHOWN_CHARS = 10  # "slk_" + 6: enough to tell tokens apart, far too little to guess the rest
TOUCH_EVERY = timedelta(minutes=5)  # last_used_at is a hint; do not write on every request
T = ApiToken.__table__.c
U = User.__table__.c


@dataclass(frozen=True)
class NewToken:
    token: str  # shown once, never stored
    id: int
    username: str
    name: str
    expires_at: datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(engine: Engine, username: str, *, name: str = "", days: float | None = None) -> NewToken:
    """A new token for an existing user; InputError when there is no such user."""
    token = PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=days) if days else None
    with Session(engine) as session:
        if session.get(User, username) is None:
            raise InputError(f"no dashboard user {username!r}; add one with `storelens dashboard user add`")
        row = ApiToken(username=username, name=name[:128], token_hash=_hash(token), prefix=token[:SHOWN_CHARS],
                       expires_at=expires)
        session.add(row)
        session.commit()
        session.refresh(row)
    log.info("API token %d (%s...) created for %s", row.id, row.prefix, username)
    return NewToken(token, row.id, username, row.name, expires)


def list_tokens(engine: Engine, username: str | None = None) -> list[ApiToken]:
    with Session(engine) as session:
        query = select(ApiToken).order_by(ApiToken.id)
        if username:
            query = query.where(ApiToken.username == username)
        return list(session.scalars(query))


def revoke(engine: Engine, ident: str) -> ApiToken:
    """Revoke by id or by the prefix `token list` shows; InputError when it matches no live token."""
    with Session(engine) as session:
        query = select(ApiToken).where(ApiToken.revoked_at.is_(None))
        query = query.where(ApiToken.id == int(ident)) if ident.isdigit() else query.where(ApiToken.prefix == ident)
        found = list(session.scalars(query))
        if len(found) != 1:
            what = "no live token" if not found else f"{len(found)} tokens"
            raise InputError(f"token {ident!r}: {what} with that id or prefix (see `storelens dashboard token list`)")
        found[0].revoked_at = utcnow()
        session.commit()
        session.refresh(found[0])
    log.info("API token %d (%s...) of %s revoked", found[0].id, found[0].prefix, found[0].username)
    return found[0]


def principal_for(engine: Engine, token: str, now: datetime | None = None) -> Principal | None:
    """The live token's user as a Principal (role and stores as they are now), else None."""
    if not token.startswith(PREFIX):
        return None
    now = now or utcnow()
    query = (select(T.id, T.last_used_at, T.expires_at, U.username, U.role, U.store_ids)
             .join_from(ApiToken.__table__, User.__table__, T.username == U.username)
             .where(T.token_hash == _hash(token), T.revoked_at.is_(None)))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or row.role not in ROLES or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        with engine.begin() as conn:
            conn.execute(update(ApiToken.__table__).where(T.id == row.id).values(last_used_at=now))
    return Principal(row.username, row.role, tuple(row.store_ids))
