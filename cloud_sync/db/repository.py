"""Repository functions: keyword-only arguments, a caller-owned `session`, no commits inside.

The caller commits once per unit of work (ingest commits once per batch), so a crash between two
commits loses nothing that was acknowledged: ingest acknowledges MQTT messages after the commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import or_, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, func, select

from cloud_sync.db.models import AggregateRecord, DeadLetter, Device, HealthRecord, utcnow
from storelens.wire import MAX_PAYLOAD_BYTES, TOPIC_ROOT, AggregateWindow, HealthMessage

log = logging.getLogger(__name__)

_KEY = ("device_id", "camera_id", "window_start")
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def content_hash(window: AggregateWindow) -> str:
    """SHA-256 of what the window says (every wire field, keys sorted): two versions of one key with
    the same seq and different content are told apart by it."""
    canonical = json.dumps(window.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def window_row(window: AggregateWindow, received_at: datetime) -> dict:
    row = window.model_dump(mode="python", exclude={"schema_version"})  # nested models become dicts
    row["received_at"] = received_at
    row["content_hash"] = content_hash(window)
    return row


@dataclass
class StoreResult:
    """What one batch of windows became. `committed`: the database now holds this version or a newer
    one (the device may forget it). `conflicts`: the stored row has the same key and seq but other
    content; the first version is kept and this one must be dead-lettered."""

    written: int = 0
    committed: list[AggregateWindow] = field(default_factory=list)
    conflicts: list[AggregateWindow] = field(default_factory=list)


def upsert_windows(session: Session, *, windows: Iterable[AggregateWindow]) -> int:
    """Store windows (see store_windows); returns the number of distinct keys offered."""
    return store_windows(session, windows=list(windows)).written


def store_windows(session: Session, *, windows: list[AggregateWindow]) -> StoreResult:
    """INSERT ... ON CONFLICT (device_id, camera_id, window_start): a key stored twice is stored once.

    A row is replaced only by a higher `seq` (an old replay cannot undo a newer correction). The same
    seq with the same content is a harmless redelivery; the same seq with other content is a
    conflict: the first version stays. Each window is classified against the row as it stands after
    the write, in the same transaction, so two workers racing on one key are classified right too.
    """
    unique: dict[tuple, AggregateWindow] = {}
    for window in windows:  # PostgreSQL refuses to update one row twice in one statement
        old = unique.get(window.key)
        if old is None or window.seq > old.seq:
            unique[window.key] = window
    if not unique:
        return StoreResult()
    _upsert(session, list(unique.values()))
    stored = _stored_versions(session, list(unique))
    result = StoreResult(written=len(unique))
    for window in windows:
        seq, digest = stored.get(window.key, (-1, None))
        if seq > window.seq or (seq == window.seq and digest == content_hash(window)):
            result.committed.append(window)
        elif seq == window.seq:
            result.conflicts.append(window)
        else:  # cannot happen after the upsert above; never acknowledge what is not stored
            log.error("window %s seq %d not stored (row has seq %d)", window.key, window.seq, seq)
    return result


def _upsert(session: Session, windows: list[AggregateWindow]) -> None:
    insert = _INSERTS.get(session.get_bind().dialect.name)
    if insert is None:
        raise RuntimeError(f"unsupported database dialect {session.get_bind().dialect.name!r}")
    table = AggregateRecord.__table__
    stmt = insert(table)
    updated = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in (*_KEY, "id")}
    # Rows from before content hashes existed take a same-seq redelivery and gain its hash.
    newer = or_(table.c.seq < stmt.excluded.seq, (table.c.seq == stmt.excluded.seq) & table.c.content_hash.is_(None))
    stmt = stmt.on_conflict_do_update(index_elements=list(_KEY), set_=updated, where=newer)
    now = utcnow()
    # executemany on the Core connection: one cached statement, batched by the driver ("insertmanyvalues")
    session.connection().execute(stmt, [window_row(w, now) for w in windows])


def _stored_versions(session: Session, keys: list[tuple]) -> dict[tuple, tuple[int, str | None]]:
    table = AggregateRecord.__table__
    key_cols = tuple_(*(table.c[name] for name in _KEY))
    out = {}
    for start in range(0, len(keys), 500):
        rows = session.connection().execute(
            select(*(table.c[name] for name in _KEY), table.c.seq, table.c.content_hash)
            .where(key_cols.in_(keys[start:start + 500])))
        for device_id, camera_id, window_start, seq, digest in rows:
            out[(device_id, camera_id, _utc(window_start))] = (seq, digest)
    return out


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def add_dead_letter(session: Session, *, topic: str, reason: str, payload: bytes) -> DeadLetter:
    # PostgreSQL text cannot hold NUL; the head is only for a human diagnosing the sender.
    head = payload[:1024].decode("utf-8", errors="replace").replace("\x00", "\\0")
    # The whole message, for a replay once its cause is fixed; not when it broke the wire's size limit.
    kept = bytes(payload) if len(payload) <= MAX_PAYLOAD_BYTES else None
    letter = DeadLetter(topic=topic[:512], reason=reason[:2000], size=len(payload), payload_head=head, payload=kept)
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


def dead_letters(session: Session, *, limit: int = 100, reason: str | None = None, store_id: str | None = None,
                 pending: bool = False, ids: Iterable[int] | None = None) -> list[DeadLetter]:
    """Newest first. `reason`: its leading words ('unauthorised'); `pending`: never replayed successfully."""
    query = select(DeadLetter)
    if ids is not None:
        query = query.where(DeadLetter.id.in_(list(ids)))
    if reason:
        query = query.where(DeadLetter.reason.startswith(reason))
    if store_id:
        query = query.where(DeadLetter.topic.startswith(f"{TOPIC_ROOT}/{store_id}/"))
    if pending:
        query = query.where(or_(DeadLetter.replay_result.is_(None), ~DeadLetter.replay_result.startswith("stored")))
    return list(session.exec(query.order_by(DeadLetter.id.desc()).limit(limit)))


def purge_dead_letter_payloads(session: Session, *, before: datetime) -> int:
    """Clear the kept payload of letters received before `before` (the reason and head stay)."""
    letters = session.exec(select(DeadLetter).where(DeadLetter.received_at < before, DeadLetter.payload.is_not(None)))
    count = 0
    for letter in letters:
        letter.payload = None
        session.add(letter)
        count += 1
    return count
