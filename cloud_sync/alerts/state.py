"""The alert service's memory in the database: conditions, what each destination was told, and
which messages went out (for the hourly rate limit). A restarted service reads it back, so it
neither repeats a message nor forgets to send a recovery.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlmodel import Session

from cloud_sync.alerts.conditions import Condition
from cloud_sync.db.models import AlertDelivery, AlertNotice, AlertState

log = logging.getLogger(__name__)

KEEP_RESOLVED = timedelta(days=7)
KEEP_DELIVERIES = timedelta(days=2)


def sync_states(session: Session, conditions: Mapping[str, Condition], now: datetime) -> list[AlertState]:
    """Store what holds now: new conditions become active, vanished ones resolved; returns every row."""
    rows = {s.key: s for s in session.scalars(select(AlertState))}
    for key, cond in conditions.items():
        row = rows.get(key)
        if row is None:
            row = rows[key] = AlertState(key=key, kind=cond.kind, store_id=cond.store_id, device_id=cond.device_id,
                                         camera_id=cond.camera_id, problem=cond.problem, active=False, since=now)
        if not row.active:
            row.active, row.since = True, now
            log.info("alert firing: %s", cond.summary)
        row.summary = cond.summary[:1000]
        session.add(row)
    for key, row in rows.items():
        if row.active and key not in conditions:
            row.active, row.since = False, now
            log.info("alert resolved: %s", row.summary)
            session.add(row)
    return list(rows.values())


def notices(session: Session, destination: str) -> dict[str, AlertNotice]:
    query = select(AlertNotice).where(AlertNotice.destination == destination)
    return {n.key: n for n in session.scalars(query)}


def record_sent(session: Session, destination: str, events: list[tuple[str, AlertState]], now: datetime) -> None:
    """Remember what `destination` was just told, and count the message for the rate limit."""
    known = notices(session, destination)
    for event, state in events:
        notice = known.get(state.key) or AlertNotice(key=state.key, destination=destination, sent_state=event)
        notice.sent_state = "resolved" if event == "resolved" else "firing"
        notice.sent_at = now
        if event == "firing":
            notice.fired_at = now
        session.add(notice)
    session.add(AlertDelivery(destination=destination, sent_at=now, events=len(events)))


def sent_last_hour(session: Session, destination: str, now: datetime) -> int:
    D = AlertDelivery.__table__.c
    return int(session.scalar(select(func.count()).where(D.destination == destination,
                                                          D.sent_at > now - timedelta(hours=1))) or 0)


def prune(session: Session, now: datetime) -> None:
    """Forget long-resolved alerts nobody still has to hear about, and old delivery counts."""
    S, N = AlertState.__table__.c, AlertNotice.__table__.c
    owed = select(N.key).where(N.sent_state == "firing")
    old = select(S.key).where(S.active.is_(False), S.since < now - KEEP_RESOLVED, S.key.not_in(owed))
    stale = list(session.scalars(old))
    if stale:
        session.execute(delete(AlertNotice.__table__).where(N.key.in_(stale)))
        session.execute(delete(AlertState.__table__).where(S.key.in_(stale)))
    session.execute(delete(AlertDelivery.__table__).where(AlertDelivery.__table__.c.sent_at < now - KEEP_DELIVERIES))


def current_states(engine) -> list[AlertState]:
    with Session(engine) as session:
        return list(session.scalars(select(AlertState).order_by(AlertState.active.desc(), AlertState.since.desc())))
