"""Log-in throttling with exponential backoff, per user name and per client address.

Each attempt counts under three keys: the name from this address (5 free failures), the name from
anywhere (20: guessing one account from many addresses) and the address for any name (20:
spraying many accounts; an office or a proxy shares one address). Past its free failures, each
further failure of a key doubles its waiting time (1 s, 2 s, 4 s ... capped at 15 minutes), during
which log-ins under that key are refused without looking at the password. The counters live in the
database, so every dashboard worker (gunicorn runs several) sees the same ones, and they survive a
restart. A success clears the name's counters, never the address's (an attacker's own account must
not reset their guessing budget). A counter forgets failures older than a day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from cloud_sync.db.models import LoginThrottle, utcnow

log = logging.getLogger(__name__)

T = LoginThrottle.__table__
FORGET_AFTER = timedelta(days=1)
MAX_WAIT_S = 15 * 60
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@dataclass(frozen=True)
class Rule:
    prefix: str
    free_failures: int


NAME_HERE = Rule("user-addr", 5)
USER = Rule("user", 20)
ADDRESS = Rule("addr", 20)


def keys(username: str, address: str | None) -> dict[str, Rule]:
    """The throttle keys of one attempt (the name as typed, case-folded); the name's keys come first."""
    name, address = username.strip().lower()[:64], (address or "unknown")[:64]
    return {f"user:{name}@{address}": NAME_HERE, f"user:{name}": USER, f"addr:{address}": ADDRESS}


def name_keys(attempt: dict[str, Rule]) -> list[str]:
    """The keys a successful log-in clears: the name's, not the address's."""
    return [key for key, rule in attempt.items() if rule is not ADDRESS]


def wait_s(failures: int, rule: Rule) -> float:
    """Seconds to refuse log-ins after `failures` consecutive failures under `rule`."""
    over = failures - rule.free_failures
    return 0.0 if over <= 0 else float(min(2 ** (over - 1), MAX_WAIT_S))


def blocked_for(engine: Engine, attempt: dict[str, Rule], now: datetime | None = None) -> float:
    """Seconds until this attempt may be tried (0: go ahead)."""
    now = now or utcnow()
    with engine.connect() as conn:
        until = conn.scalars(select(T.c.blocked_until).where(T.c.key.in_(list(attempt)),
                                                            T.c.blocked_until > now)).all()
    return max(((u - now).total_seconds() for u in until), default=0.0)


def record_failure(engine: Engine, attempt: dict[str, Rule], now: datetime | None = None) -> float:
    """Count a failed log-in under every key (atomically, in the database); returns the new wait."""
    now = now or utcnow()
    insert = _INSERTS[engine.dialect.name]
    longest = 0.0
    with engine.begin() as conn:
        conn.execute(delete(T).where(T.c.last_failure_at < now - FORGET_AFTER))
        for key, rule in attempt.items():
            stmt = insert(T).values(key=key, failures=1, last_failure_at=now, blocked_until=None)
            conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={
                "failures": case((T.c.last_failure_at < now - FORGET_AFTER, 1), else_=T.c.failures + 1),
                "last_failure_at": now}))
            failures = conn.scalar(select(T.c.failures).where(T.c.key == key))
            wait = wait_s(failures, rule)
            if wait:
                conn.execute(update(T).where(T.c.key == key).values(blocked_until=now + timedelta(seconds=wait)))
                log.warning("log-in throttled for %s after %d failures: %g s", key, failures, wait)
            longest = max(longest, wait)
    return longest


def clear(engine: Engine, keys_: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(delete(T).where(T.c.key.in_(keys_)))
