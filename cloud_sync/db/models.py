"""Cloud database tables (sqlmodel). Times are timezone-aware UTC: sqlmodel's UTCDateTime refuses
naive datetimes on write and returns UTC-aware ones on read, on SQLite and PostgreSQL alike.

Pattern: XBase (shared fields) / X(table=True); an XPublic is added when an API needs one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class StoreBase(SQLModel):
    name: str = Field(max_length=128)
    timezone: str = Field(default="UTC", max_length=64)
    area_m2: float = Field(default=0.0, ge=0)
    opening_hours_per_week: float = Field(default=0.0, ge=0)
    floor_width_m: float = Field(default=0.0, ge=0)
    floor_height_m: float = Field(default=0.0, ge=0)
    floorplan_png: str | None = Field(default=None, description="data: URI or path of the floor-plan image")
    seeded: bool = Field(default=False, description="synthetic demo data")


class Store(StoreBase, table=True):
    store_id: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class DeviceBase(SQLModel):
    store_id: str = Field(foreign_key="store.store_id", index=True, max_length=64)
    name: str = Field(default="", max_length=128)


class Device(DeviceBase, table=True):
    device_id: str = Field(primary_key=True, max_length=64)
    mqtt_username: str = Field(unique=True, max_length=128)
    password_hash: str = Field(max_length=256)
    revoked_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class IngestAccount(SQLModel, table=True):
    """One ingest worker's broker login (the broker uses it as client id, so each worker has its own).
    Only the Mosquitto `$7$` hash is stored, as for devices."""

    username: str = Field(primary_key=True, max_length=128)
    password_hash: str = Field(max_length=256)
    revoked_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class AggregateRecord(SQLModel, table=True):
    """One AggregateWindow as stored; (device_id, camera_id, window_start) is unique."""

    __table_args__ = (
        UniqueConstraint("device_id", "camera_id", "window_start", name="uq_aggregate_key"),
        Index("ix_aggregate_store_time", "store_id", "window_start"),
    )
    id: int | None = Field(default=None, primary_key=True)
    store_id: str = Field(max_length=64)
    device_id: str = Field(max_length=64)
    camera_id: str = Field(max_length=64)
    window_start: datetime
    window_end: datetime
    seq: int = 0
    entries: int = 0
    exits: int = 0
    unique_visitors: int = 0
    visitors_with_age: int = 0
    family_visits: int = 0
    group_visits: int = 0
    occupancy_max: int = 0
    faces_seen: int = 0
    faces_low_quality: int = 0
    frames: int = 0
    gap_seconds: float = 0.0
    age_histogram: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    dwell_seconds_histogram: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    zone_visits: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    heatmap: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    model_versions: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    seeded: bool = False
    received_at: datetime = Field(default_factory=utcnow)
    content_hash: str | None = Field(default=None, max_length=64,
                                     description="SHA-256 of the window's content: same seq, other content is a conflict")


class HealthRecord(SQLModel, table=True):
    """Latest health heartbeat and status per device (one row per device, replaced on each message)."""

    device_id: str = Field(primary_key=True, max_length=64)
    store_id: str = Field(max_length=64, index=True)
    status: str = Field(default="unknown", max_length=16, description="online / offline from the retained status topic")
    status_at: datetime | None = None
    sent_at: datetime | None = None
    received_at: datetime | None = None
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class DeadLetter(SQLModel, table=True):
    """A message ingest refused, with the reason; kept for inspection and replay, never silently dropped.

    `payload` is the message as received, so `storelens cloud deadletters replay` can run it through
    ingest again once its cause is fixed. Only wire messages reach it (anonymous aggregates and
    health, bounded by the wire's size limit); an oversized one keeps only its head. `deadletters
    purge` clears payloads older than cloud.dead_letter_payload_days."""

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, index=True)
    topic: str = Field(max_length=512)
    reason: str = Field(max_length=2000)
    size: int = 0
    payload_head: str = Field(default="", max_length=4096, description="first bytes, for diagnosis")
    payload: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    replayed_at: datetime | None = None
    replay_result: str | None = Field(default=None, max_length=2000)


class User(SQLModel, table=True):
    """Dashboard user. role: manager (own stores), analyst (all stores), technician (devices)."""

    username: str = Field(primary_key=True, max_length=64)
    password_hash: str = Field(max_length=256)
    role: str = Field(max_length=16)
    store_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    language: str | None = Field(default=None, max_length=16,
                                 description="UI language (dashboard.i18n code); None follows the browser")


class PosHour(SQLModel, table=True):
    """Sales of one store in one store-local hour, from its point of sale (POS); imported, never sent by
    devices. (store_id, hour_start) is the key: importing the same hour again replaces it."""

    store_id: str = Field(foreign_key="store.store_id", ondelete="CASCADE", primary_key=True, max_length=64)
    hour_start: datetime = Field(primary_key=True, description="UTC start of a whole store-local hour")
    transactions: int = Field(ge=0)
    revenue: float | None = Field(default=None, sa_column=Column(Numeric(18, 4, asdecimal=False), nullable=True))
    currency: str | None = Field(default=None, max_length=3, description="ISO 4217 code of revenue")
    source: str = Field(default="", max_length=256, description="file name, 'api' or 'dashboard upload'")
    imported_by: str = Field(default="", max_length=64)
    imported_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    """A user's API bearer token. Only the SHA-256 of the token is stored (tokens are 256-bit random,
    so a fast hash is enough); `prefix` lets a person tell tokens apart in `token list`."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(foreign_key="user.username", ondelete="CASCADE", index=True, max_length=64)
    name: str = Field(default="", max_length=128)
    token_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class DashboardSession(SQLModel, table=True):
    """One log-in. The cookie carries a random id whose SHA-256 is the key; deleting the row (log-out,
    password change) ends the session even for someone who kept a copy of the cookie."""

    id_hash: str = Field(primary_key=True, max_length=64)
    username: str = Field(foreign_key="user.username", ondelete="CASCADE", index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    address: str = Field(default="", max_length=64)


class LoginThrottle(SQLModel, table=True):
    """Failed log-ins per user name and per client address, shared by every dashboard worker."""

    key: str = Field(primary_key=True, max_length=200, description="'user:<name>' or 'addr:<ip>'")
    failures: int = 0
    last_failure_at: datetime = Field(default_factory=utcnow)
    blocked_until: datetime | None = None


class AlertState(SQLModel, table=True):
    """One alert condition (a device offline, a camera backlit, ...) as the alert service last saw it."""

    key: str = Field(primary_key=True, max_length=400)
    kind: str = Field(max_length=32)
    store_id: str = Field(default="", max_length=64, index=True)
    device_id: str = Field(default="", max_length=64)
    camera_id: str = Field(default="", max_length=64)
    problem: str = Field(default="", max_length=128)
    active: bool = True
    since: datetime = Field(default_factory=utcnow, description="when it last became active or resolved")
    summary: str = Field(default="", max_length=1000)


class AlertNotice(SQLModel, table=True):
    """What one destination (webhook or e-mail of a route) was last told about one alert, so a
    restart neither repeats a message nor forgets a recovery."""

    key: str = Field(primary_key=True, max_length=400)
    destination: str = Field(primary_key=True, max_length=200)
    sent_state: str = Field(max_length=16, description="firing / resolved")
    sent_at: datetime = Field(default_factory=utcnow)
    fired_at: datetime | None = Field(default=None, description="the last 'firing' message")


class AlertDelivery(SQLModel, table=True):
    """One message that went out: the rate limit counts these per destination."""

    id: int | None = Field(default=None, primary_key=True)
    destination: str = Field(max_length=200, index=True)
    sent_at: datetime = Field(default_factory=utcnow, index=True)
    events: int = 0
