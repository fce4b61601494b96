"""Wire schema v1: what leaves a store. AggregateWindow (off-peak) and Health (live).

Every field is a count, a time, a short identifier or a small number. No field can carry an
image, a crop, an embedding or a track id: strings are short and pattern-checked, unknown keys
are refused, and tests/unit/test_privacy_schema.py proves it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

SCHEMA_VERSION = 1
AGE_BINS = 91  # one bin per year 0..89, last bin is 90+
DWELL_EDGES_S: tuple[int, ...] = (0, 10, 30, 60, 120, 300, 600, 900, 1800, 3600)  # last bin open-ended
MAX_PAYLOAD_BYTES = 256 * 1024

Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Label = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 _+.:-]{1,64}$")]
Count = Annotated[int, Field(ge=0, le=10_000_000)]
TOPIC_ROOT = "storelens/v1"
# Ingest workers ping here once subscribed; devices drain only while they hear it. Outside
# TOPIC_ROOT so ingest's own wildcard subscription never receives it.
INGEST_ALIVE_TOPIC = "storelens/cloud/ingest/alive"


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DwellHistogram(WireModel):
    edges_s: list[Annotated[int, Field(ge=0, le=7 * 86_400)]] = Field(default_factory=lambda: list(DWELL_EDGES_S), max_length=32)
    counts: list[Count] = Field(default_factory=lambda: [0] * len(DWELL_EDGES_S), max_length=32)

    @model_validator(mode="after")
    def _same_length(self) -> DwellHistogram:
        if len(self.edges_s) != len(self.counts):
            raise ValueError("dwell histogram edges_s and counts differ in length")
        return self


class ZoneStats(WireModel):
    visits: Count = 0
    mean_dwell_s: float = Field(0.0, ge=0, le=86_400)


# A heatmap cell: [column, row, count] on the floor grid.
HeatCell = Annotated[list[Annotated[int, Field(ge=0, le=100_000_000)]], Field(min_length=3, max_length=3)]


class Heatmap(WireModel):
    cell_m: float = Field(0.5, gt=0, le=100)
    width_cells: int = Field(0, ge=0, le=10_000)
    height_cells: int = Field(0, ge=0, le=10_000)
    cells: list[HeatCell] = Field(default_factory=list, max_length=100_000)
    by_band: dict[Label, Annotated[list[HeatCell], Field(max_length=100_000)]] = Field(default_factory=dict, max_length=32)


class AggregateWindow(WireModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    store_id: Ident
    device_id: Ident
    camera_id: Ident
    window_start: datetime
    window_end: datetime
    seq: int = Field(0, ge=0, le=2**31 - 1)  # fits the database INTEGER column
    entries: Count = 0
    exits: Count = 0
    unique_visitors: Count = 0
    visitors_with_age: Count = 0
    family_visits: Count = 0
    group_visits: Count = 0
    occupancy_max: Count = 0
    faces_seen: Count = 0
    faces_low_quality: Count = 0
    frames: Count = 0
    gap_seconds: float = Field(0.0, ge=0, le=86_400)
    age_histogram: list[Count] = Field(default_factory=lambda: [0] * AGE_BINS, min_length=AGE_BINS, max_length=AGE_BINS)
    dwell_seconds_histogram: DwellHistogram = Field(default_factory=DwellHistogram)
    zone_visits: dict[Label, ZoneStats] = Field(default_factory=dict, max_length=256)
    heatmap: Heatmap = Field(default_factory=Heatmap)
    model_versions: dict[Ident, Label] = Field(default_factory=dict, max_length=16)
    seeded: bool = False  # synthetic history for demos, never set by a real device

    @field_validator("window_start", "window_end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a UTC offset (ISO-8601 with Z or +00:00)")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _window_order(self) -> AggregateWindow:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        if self.visitors_with_age > max(self.unique_visitors, sum(self.age_histogram)):
            raise ValueError("visitors_with_age exceeds visitors")
        return self

    @property
    def key(self) -> tuple[str, str, datetime]:
        """Idempotency key: the same key stored twice is stored once."""
        return (self.device_id, self.camera_id, self.window_start)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class CameraHealth(WireModel):
    camera_id: Ident
    up: bool
    fps: float = Field(0.0, ge=0, le=1000)
    last_frame_at: datetime | None = None
    faces_seen: Count = 0
    median_face_px: float = Field(0.0, ge=0, le=10_000)
    backlight_score: float = Field(0.0, ge=-10, le=10)  # stops the faces sit under the background
    small_face_fraction: float = Field(0.0, ge=0, le=1)
    problem: Label | None = None


class HealthMessage(WireModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    store_id: Ident
    device_id: Ident
    sent_at: datetime
    software_version: Label
    model_versions: dict[Ident, Label] = Field(default_factory=dict, max_length=16)
    cameras: list[CameraHealth] = Field(default_factory=list, max_length=64)
    buffer_depth: Count = 0
    buffer_oldest_age_s: float = Field(0.0, ge=0, le=1e10)
    buffer_dropped: Count = 0
    last_ack_window: datetime | None = None
    uptime_s: float = Field(0.0, ge=0, le=1e10)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def topic(store_id: str, device_id: str, kind: Literal["aggregates", "status", "health"]) -> str:
    return f"{TOPIC_ROOT}/{store_id}/{device_id}/{kind}"


def parse_topic(name: str) -> tuple[str, str, str]:
    """(store_id, device_id, kind) from a topic; ValueError when it is not a storelens v1 topic."""
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT or parts[4] not in ("aggregates", "status", "health"):
        raise ValueError(f"not a storelens v1 topic: {name!r}")
    return parts[2], parts[3], parts[4]


def window_from_payload(payload: bytes) -> AggregateWindow:
    """Parse and validate one AggregateWindow; raises ValueError with the reason."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    return AggregateWindow.model_validate(raw)
