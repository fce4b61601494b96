"""Cloud database tables (sqlmodel). Times are timezone-aware UTC: sqlmodel's UTCDateTime refuses
naive datetimes on write and returns UTC-aware ones on read, on SQLite and PostgreSQL alike.

Pattern: XBase (shared fields) / X(table=True) / XPublic (what the API or dashboard may show).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
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


class StorePublic(StoreBase):
    store_id: str


class DeviceBase(SQLModel):
    store_id: str = Field(foreign_key="store.store_id", index=True, max_length=64)
    name: str = Field(default="", max_length=128)


class Device(DeviceBase, table=True):
    device_id: str = Field(primary_key=True, max_length=64)
    mqtt_username: str = Field(unique=True, max_length=128)
    password_hash: str = Field(max_length=256)
    revoked_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class DevicePublic(DeviceBase):
    device_id: str
    revoked_at: datetime | None = None


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
    """A message ingest refused, with the reason; kept for inspection, never silently dropped."""

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, index=True)
    topic: str = Field(max_length=512)
    reason: str = Field(max_length=2000)
    size: int = 0
    payload_head: str = Field(default="", max_length=4096, description="first bytes, for diagnosis")


class User(SQLModel, table=True):
    """Dashboard user. role: manager (own stores), analyst (all stores), technician (devices)."""

    username: str = Field(primary_key=True, max_length=64)
    password_hash: str = Field(max_length=256)
    role: str = Field(max_length=16)
    store_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
