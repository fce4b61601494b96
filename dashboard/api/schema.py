"""The API's query parameters and result rows, as pydantic models.

The same classes validate each request, shape each row (JSON and CSV alike) and produce the
OpenAPI description, so the description cannot drift from what the routes do.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_DAYS = 366


class Query(BaseModel):
    """Query parameters; unknown ones are refused (a typo must not silently mean the default)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "csv"] | None = Field(
        None, description="Response format. Default: text/csv when the Accept header prefers it, else JSON.")


class PeriodQuery(Query):
    start: date = Field(description="First day, inclusive, in the store's local calendar (YYYY-MM-DD).")
    end: date = Field(description="Last day, inclusive, in the store's local calendar (YYYY-MM-DD).")

    @model_validator(mode="after")
    def _ordered(self) -> PeriodQuery:
        if self.end < self.start:
            raise ValueError("end is before start")
        if (self.end - self.start).days >= MAX_DAYS:
            raise ValueError(f"at most {MAX_DAYS} days per request")
        return self


class CountsQuery(PeriodQuery):
    resolution: Literal["hour", "day"] = Field("day", description="Store-local hours or days.")
    seeded: bool = Field(True, description="Include synthetic demo (seeded) windows.")


class AgeQuery(PeriodQuery):
    banding: Literal["fine", "coarse", "custom"] = Field("fine", description="Age bands: the dashboard's fine or "
                                                         "coarse set, or custom lower bounds in `bands`.")
    bands: str | None = Field(None, description="Custom lower bounds in years, comma-separated, e.g. 0,18,25,40 "
                              "(with banding=custom).")
    seeded: bool = Field(True, description="Include synthetic demo (seeded) windows.")


class ZonesQuery(PeriodQuery):
    seeded: bool = Field(True, description="Include synthetic demo (seeded) windows.")


class ConversionQuery(PeriodQuery):
    resolution: Literal["hour", "day"] = Field("day", description="Store-local hours or days.")
    seeded: bool = Field(True, description="Include synthetic demo (seeded) windows.")


class Row(BaseModel):
    """One row of a result table: a JSON object in `rows`, a line in CSV (columns in this order)."""


class MeRow(Row):
    username: str
    role: Literal["manager", "analyst", "technician"]
    store_ids: list[str] = Field(description="Stores a manager may see; empty for analysts (all stores).")


class StoreRow(Row):
    store_id: str
    name: str
    timezone: str = Field(description="IANA time zone; every day and hour of this store's data is in it.")
    area_m2: float
    opening_hours_per_week: float
    seeded: bool = Field(description="A synthetic demo store.")


class CountRow(Row):
    store_id: str
    period_start: str = Field(description="Hour: ISO-8601 local start with UTC offset; day: local date.")
    entries: int
    exits: int
    unique_visitors: int = Field(description="Counted in the window where each visitor was first seen.")
    visitors_with_age: int
    family_visits: int
    group_visits: int
    occupancy_max: int = Field(description="Most people in view of one camera at once.")


class AgeRow(Row):
    store_id: str
    band: str = Field(description="Age band such as 18-24, or 65+.")
    visitors: int
    share: float = Field(description="Share of visitors with an age estimate, 0..1.")


class ZoneRow(Row):
    store_id: str
    zone: str
    visits: int
    mean_dwell_s: float


class ConversionRow(Row):
    store_id: str
    period_start: str = Field(description="Hour: ISO-8601 local start with UTC offset; day: local date.")
    entries: int = Field(description="All entries in the period.")
    entries_with_pos: int = Field(description="Entries in the hours that have POS data (the denominator).")
    transactions: int
    conversion: float | None = Field(description="transactions / entries_with_pos; null without POS data or "
                                     "entries.")
    revenue: float | None = Field(description="Sum of revenue; null when none was imported.")
    currency: str | None = Field(description="ISO 4217 code of revenue.")


class ImportResult(BaseModel):
    hours: int = Field(description="Store-hours written.")
    replaced: int = Field(description="Of those, hours that replaced earlier imports.")
    stores: list[str]
    first: str | None = Field(description="UTC start of the earliest hour written.")
    last: str | None = Field(description="UTC start of the latest hour written.")


class Problem(BaseModel):
    where: str = Field(description="'line 7' of a CSV, or 'rows[3]' of a JSON body.")
    reason: str


class Error(BaseModel):
    error: str
    problems: list[Problem] | None = None


class PosRecord(BaseModel):
    store_id: str
    hour_start: str = Field(description="ISO-8601 with UTC offset, or store-local wall time without one.")
    transactions: int = Field(ge=0)
    revenue: float | None = None
    currency: str | None = Field(None, description="ISO 4217, required with revenue.")


class PosBody(BaseModel):
    rows: list[PosRecord]
