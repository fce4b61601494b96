"""Wire schema v1: what leaves a store. AggregateWindow (off-peak) and Health (live).

Every field is a count, a time, a short identifier or a small number. No field can carry an
image, a crop, an embedding or a track id: strings are short and pattern-checked, unknown keys
are refused, and tests/unit/test_privacy_schema.py proves it.

Which window carries what: a visitor counts in `unique_visitors` of the window in which the edge
first decided they are a new visitor (so today's numbers rise during the day with the entries);
their age (`age_histogram`, `visitors_with_age`), dwell (`dwell_seconds_histogram`), zone visits and
group/family membership are added to the window in which the visit closes. Entries, exits,
occupancy, faces and heatmap cells count in the window in which they happened. Someone found to be
staff after being counted is taken back out while that window is still open; after it has closed
they stay counted there (counts never go negative), and their visit adds no dwell, age, zones or group.

Count fields are declared once, here: `Summed` counts add up when two halves of one window are
merged or windows are totalled; `Peak` counts take the maximum. `SUMMED_FIELDS`, `PEAK_FIELDS` and
`COUNT_FIELDS` are derived from the model, so nothing else spells the list out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = 1
AGE_BINS = 91  # one bin per year 0..89, last bin is 90+
DWELL_EDGES_S: tuple[int, ...] = (0, 10, 30, 60, 120, 300, 600, 900, 1800, 3600)  # last bin open-ended
MAX_PAYLOAD_BYTES = 256 * 1024

# Ids stay ASCII (topics, keys, file names); labels people read (zones, lines, bands) are Unicode
# words, so a Chinese store can name its till 收银台. Still short and without control characters.
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
LABEL_PATTERN = r"^[\w .:+()&'/-]{1,64}$"
Label = Annotated[str, StringConstraints(pattern=LABEL_PATTERN)]
Count = Annotated[int, Field(ge=0, le=10_000_000)]


@dataclass(frozen=True)
class MergeRule:
    """How a count field combines across two halves of one window or across windows."""

    how: Literal["sum", "max"]


Summed = Annotated[Count, MergeRule("sum")]
Peak = Annotated[Count, MergeRule("max")]
# Heatmap bounds a real store needs: 250 x 250 m at 0.5 m cells, or 100 x 100 m at 0.2 m.
MAX_HEAT_SIDE_CELLS = 500
MAX_HEAT_CELLS = 250_000
MAX_HEAT_LIST = 100_000  # sparse cells listed per band; the 256 KiB payload cap bites far earlier
MIN_HEAT_CELL_M = 0.1
TOPIC_ROOT = "storelens/v1"
# Ingest workers ping here once subscribed; devices drain only while they hear it. Outside
# TOPIC_ROOT so ingest's own wildcard subscription never receives it.
INGEST_ALIVE_TOPIC = "storelens/cloud/ingest/alive"
# Window times the cloud accepts: no storelens box stamped anything before EARLIEST_WINDOW, and a
# window ending more than MAX_CLOCK_LEAD after it reached the cloud came from a clock set wrong.
EARLIEST_WINDOW = datetime(2025, 1, 1, tzinfo=UTC)
MAX_CLOCK_LEAD = timedelta(days=1)


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
    cell_m: float = Field(0.5, ge=MIN_HEAT_CELL_M, le=100)
    width_cells: int = Field(0, ge=0, le=MAX_HEAT_SIDE_CELLS)
    height_cells: int = Field(0, ge=0, le=MAX_HEAT_SIDE_CELLS)
    cells: list[HeatCell] = Field(default_factory=list, max_length=MAX_HEAT_LIST)
    by_band: dict[Label, Annotated[list[HeatCell], Field(max_length=MAX_HEAT_LIST)]] = Field(
        default_factory=dict, max_length=32)

    @model_validator(mode="after")
    def _inside_grid(self) -> Heatmap:
        if self.width_cells * self.height_cells > MAX_HEAT_CELLS:
            raise ValueError(f"heatmap grid {self.width_cells}x{self.height_cells} exceeds {MAX_HEAT_CELLS} cells")
        for band, cells in [("(all)", self.cells), *self.by_band.items()]:
            for col, row, _n in cells:
                if col >= self.width_cells or row >= self.height_cells:
                    raise ValueError(f"heatmap cell ({col}, {row}) of band {band} lies outside the "
                                     f"{self.width_cells}x{self.height_cells} grid")
        return self


class AggregateWindow(WireModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    store_id: Ident
    device_id: Ident
    camera_id: Ident
    window_start: datetime
    window_end: datetime
    seq: int = Field(0, ge=0, le=2**31 - 1)  # fits the database INTEGER column
    entries: Summed = 0
    exits: Summed = 0
    unique_visitors: Summed = 0  # first decided in this window
    visitors_with_age: Summed = 0  # visits closed in this window with a voted age
    family_visits: Summed = 0
    group_visits: Summed = 0
    occupancy_max: Peak = 0
    faces_seen: Summed = 0
    faces_low_quality: Summed = 0
    frames: Summed = 0
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
        if self.visitors_with_age > sum(self.age_histogram):
            raise ValueError("visitors_with_age exceeds the visitors in age_histogram")
        return self

    @property
    def key(self) -> tuple[str, str, datetime]:
        """Idempotency key: the same key stored twice is stored once."""
        return (self.device_id, self.camera_id, self.window_start)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def _fields_merged(how: str) -> tuple[str, ...]:
    return tuple(name for name, info in AggregateWindow.model_fields.items()
                 if any(isinstance(m, MergeRule) and m.how == how for m in info.metadata))


SUMMED_FIELDS: tuple[str, ...] = _fields_merged("sum")
PEAK_FIELDS: tuple[str, ...] = _fields_merged("max")
COUNT_FIELDS: tuple[str, ...] = tuple(n for n in AggregateWindow.model_fields if n in {*SUMMED_FIELDS, *PEAK_FIELDS})


class CameraHealth(WireModel):
    camera_id: Ident
    up: bool
    fps: float = Field(0.0, ge=0, le=1000)
    last_frame_at: datetime | None = None
    faces_seen: Count = 0
    median_face_px: float = Field(0.0, ge=0, le=10_000)
    backlight_score: float = Field(0.0, ge=-10, le=10)  # stops the faces sit under the background
    small_face_fraction: float = Field(0.0, ge=0, le=1)
    stage_errors: Count = 0  # pipeline stage failures since the edge app started (each one rebuilt the pipeline)
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


DEVICE_KINDS = ("aggregates", "status", "health")  # what a device publishes
TopicKind = Literal["aggregates", "status", "health", "receipts"]


def topic(store_id: str, device_id: str, kind: TopicKind) -> str:
    return f"{TOPIC_ROOT}/{store_id}/{device_id}/{kind}"


def parse_topic(name: str) -> tuple[str, str, str]:
    """(store_id, device_id, kind) from a device's topic; ValueError when it is not one."""
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT or parts[4] not in DEVICE_KINDS:
        raise ValueError(f"not a storelens v1 device topic: {name!r}")
    return parts[2], parts[3], parts[4]


class WindowRef(WireModel):
    """One window's key and version, as a receipt names it."""

    camera_id: Ident
    window_start: datetime
    seq: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("window_start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a UTC offset (ISO-8601 with Z or +00:00)")
        return value.astimezone(UTC)


# Why ingest refused a window for good (the dead-letter table holds the full text). A short code,
# so a receipt carries nothing but keys, versions and these words.
RefusalReason = Literal["malformed", "conflict", "clock", "seeded", "misaddressed"]


class RefusedRef(WindowRef):
    reason: RefusalReason


class Receipt(WireModel):
    """Ingest -> one device (QoS 1), after its database commit: the windows now stored, and those
    refused for good (dead-lettered), so the device may delete both from its buffer. A broker's
    PUBACK says only that the broker has a message; this says the cloud has the window."""

    schema_version: Literal[1] = SCHEMA_VERSION
    store_id: Ident
    device_id: Ident
    sent_at: datetime
    committed: list[WindowRef] = Field(default_factory=list, max_length=10_000)
    refused: list[RefusedRef] = Field(default_factory=list, max_length=10_000)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def window_ref(window: AggregateWindow) -> WindowRef:
    return WindowRef(camera_id=window.camera_id, window_start=window.window_start, seq=window.seq)


def window_from_payload(payload: bytes) -> AggregateWindow:
    """Parse and validate one AggregateWindow; raises ValueError with the reason.

    Parsed by pydantic's own JSON parser, which has a nesting limit: a small array nested a
    thousand deep is a ValidationError here, where json.loads would raise RecursionError."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return AggregateWindow.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise ValueError(f"not JSON: {first['msg'].removeprefix('Invalid JSON: ')}") from None
        raise
