"""Repository functions: keyword-only arguments, a caller-owned `session`, no commits inside.

The caller commits once per unit of work (ingest commits once per batch), so a crash between two
commits loses nothing that was acknowledged: ingest acknowledges MQTT messages after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, func, select

from cloud_sync.db.models import AggregateRecord, DeadLetter, Device, HealthRecord, utcnow
from storelens.wire import AggregateWindow, HealthMessage

log = logging.getLogger(__name__)

_KEY = ("device_id", "camera_id", "window_start")
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def window_row(window: AggregateWindow, received_at: datetime) -> dict:
    row = window.model_dump(mode="python", exclude={"schema_version"})  # nested models become dicts
    row["received_at"] = received_at
    return row


def upsert_windows(session: Session, *, windows: Iterable[AggregateWindow]) -> int:
    """INSERT ... ON CONFLICT (device_id, camera_id, window_start): a key stored twice is stored once.

    A re-delivery with a lower `seq` than the stored row never overwrites it (an old replay cannot
    undo a newer correction). Returns the number of distinct keys written.
    """
    now = utcnow()
    unique = {}
    for window in windows:  # PostgreSQL refuses to update one row twice in one statement
        old = unique.get(window.key)
        if old is None or window.seq >= old.seq:
            unique[window.key] = window
    if not unique:
        return 0
    insert = _INSERTS.get(session.get_bind().dialect.name)
    if insert is None:
        raise RuntimeError(f"unsupported database dialect {session.get_bind().dialect.name!r}")
    table = AggregateRecord.__table__
    stmt = insert(table)
    updated = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in (*_KEY, "id")}
    stmt = stmt.on_conflict_do_update(index_elements=list(_KEY), set_=updated, where=table.c.seq <= stmt.excluded.seq)
    # executemany on the Core connection: one cached statement, batched by the driver ("insertmanyvalues")
    session.connection().execute(stmt, [window_row(w, now) for w in unique.values()])
    return len(unique)


def add_dead_letter(session: Session, *, topic: str, reason: str, payload: bytes) -> DeadLetter:
    # PostgreSQL text cannot hold NUL; the head is only for a human diagnosing the sender.
    head = payload[:1024].decode("utf-8", errors="replace").replace("\x00", "\\0")
    letter = DeadLetter(topic=topic[:512], reason=reason[:2000], size=len(payload), payload_head=head)
    session.add(letter)
    return letter


def active_devices(session: Session, *, device_ids: Iterable[str]) -> dict[str, Device]:
    """Registered, non-revoked devices among `device_ids`, by id."""
    ids = set(device_ids)
    if not ids:
        return {}
    rows = session.exec(select(Device).where(Device.device_id.in_(ids), Device.revoked_at.is_(None)))
    return {d.device_id: d for d in rows}


def record_health(session: Session, *, store_id: str, device_id: str, health: HealthMessage) -> None:
    row = _health_row(session, store_id, device_id)
    row.sent_at = health.sent_at
    row.received_at = utcnow()
    row.payload = health.model_dump(mode="json")


def record_status(session: Session, *, store_id: str, device_id: str, status: str) -> None:
    row = _health_row(session, store_id, device_id)
    row.status = status
    row.status_at = utcnow()


def _health_row(session: Session, store_id: str, device_id: str) -> HealthRecord:
    row = session.get(HealthRecord, device_id)
    if row is None:
        row = HealthRecord(device_id=device_id, store_id=store_id)
        session.add(row)
    return row


def count_windows(session: Session, *, device_id: str | None = None) -> int:
    query = select(func.count()).select_from(AggregateRecord)
    if device_id:
        query = query.where(AggregateRecord.device_id == device_id)
    return session.exec(query).one()


def dead_letters(session: Session, *, limit: int = 100) -> list[DeadLetter]:
    return list(session.exec(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)))
