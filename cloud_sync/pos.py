"""Point-of-sale (POS) data: transactions, and optionally revenue, per store and store-local hour.

They come in as CSV (dashboard upload, `storelens cloud pos import FILE`, `POST /api/v1/pos`) or as
JSON rows (the API). The CSV format, UTF-8 (a BOM is fine), one header row, comma- or
semicolon-separated:

    store_id,hour_start,transactions,revenue,currency
    store-001,2026-03-29T09:00:00+02:00,42,1234.50,EUR
    store-001,2026-03-29 10:00,37,,

- `store_id`: a registered store the importing user may see.
- `hour_start`: the start of a whole hour of the store's local day. Either ISO-8601 with a UTC offset
  (`2026-03-29T09:00:00+02:00`, `...Z`), which is unambiguous and always accepted, or store-local wall
  time without an offset (`2026-03-29 09:00`, as most tills export it), read in the store's time
  zone. A local time that does not exist (the spring-forward gap) or exists twice (the autumn
  fold) is refused for that row: give it with its offset. Hours that have not started yet are refused.
- `transactions`: receipts in that hour, a whole number >= 0.
- `revenue` (optional): a decimal number (net of returns, so it may be negative), at most 4 decimals;
  with `;` as the separator a decimal comma is accepted (`1234,50`). `currency` (ISO 4217, such as
  EUR) is then required, and one file uses one currency per store.

The whole input is checked first. Any bad row refuses all of it: nothing is imported, and every
problem is reported with its line number and reason. A good input is stored in one transaction.
Importing an hour that is already stored replaces it, so re-importing a corrected export is safe
and idempotent; hours not in the input are left as they are.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud_sync.db.models import PosHour, Store, utcnow
from storelens.errors import InputError

log = logging.getLogger(__name__)

REQUIRED = ("store_id", "hour_start", "transactions")
OPTIONAL = ("revenue", "currency")
MAX_ROWS = 200_000  # a year of hours for 20 stores; split bigger exports
MAX_BYTES = 20 * 1024 * 1024
MAX_TRANSACTIONS = 1_000_000
MAX_REPORTED = 25
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@dataclass(frozen=True)
class PosRow:
    where: str  # "line 7" or "rows[3]", for messages
    store_id: str
    hour_start: datetime  # aware UTC
    transactions: int
    revenue: float | None
    currency: str | None


@dataclass(frozen=True)
class ImportSummary:
    hours: int
    replaced: int
    stores: tuple[str, ...]
    first: datetime | None
    last: datetime | None


class PosImportError(InputError):
    """The input was refused as a whole; `problems` holds (where, reason) for every bad row."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source, self.problems = source, problems
        shown = "; ".join(f"{where}: {reason}" for where, reason in problems[:MAX_REPORTED])
        more = f"; ... and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
        super().__init__(f"{source}: nothing imported, {len(problems)} problem(s): {shown}{more}")


def store_zones(engine: Engine, allowed: Collection[str] | None = None) -> dict[str, str]:
    """store_id -> IANA time zone of the stores an import may write (None: every store)."""
    query = select(Store.__table__.c.store_id, Store.__table__.c.timezone)
    if allowed is not None:
        query = query.where(Store.__table__.c.store_id.in_(list(allowed)))
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


def parse_csv(text: str, zones: Mapping[str, str], *, source: str = "CSV", now: datetime | None = None
              ) -> list[PosRow]:
    """Every row of a POS CSV, checked; PosImportError listing all problems when any row is bad."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise PosImportError(source, [("file", f"larger than {MAX_BYTES // 2**20} MB; split it")])
    text = text.lstrip("\ufeff")
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    columns = _columns(header, source)
    records = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank lines (a trailing newline in Excel exports)
        where = f"line {reader.line_num}"
        if len(row) != len(columns):
            records.append((where, f"{len(row)} fields, the header has {len(columns)}"))
            continue
        records.append((where, dict(zip(columns, (c.strip() for c in row), strict=True))))
    return _check_all(records, zones, source, now, decimal_comma=delimiter == ";")


def parse_records(records: Iterable[Mapping], zones: Mapping[str, str], *, source: str = "request",
                  now: datetime | None = None) -> list[PosRow]:
    """JSON rows ({store_id, hour_start, transactions, revenue?, currency?}), checked like CSV rows."""
    items = []
    for index, record in enumerate(records):
        where = f"rows[{index}]"
        if not isinstance(record, Mapping):
            items.append((where, "not an object"))
            continue
        unknown = sorted(set(record) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            items.append((where, f"unknown field(s) {', '.join(unknown)}"))
            continue
        items.append((where, {k: "" if v is None else str(v) for k, v in record.items()}))
    return _check_all(items, zones, source, now, decimal_comma=False)


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    return ";" if first.count(";") > first.count(",") else ","


def _columns(header: list[str] | None, source: str) -> list[str]:
    if header is None:
        raise PosImportError(source, [("line 1", "the file is empty; expected a header row "
                                                 f"{','.join(REQUIRED + OPTIONAL)}")])
    columns = [h.strip().lower() for h in header]
    problems = [f"missing column {c!r}" for c in REQUIRED if c not in columns]
    problems += [f"unknown column {c!r} (allowed: {', '.join(REQUIRED + OPTIONAL)})"
                 for c in columns if c not in REQUIRED + OPTIONAL]
    problems += [f"column {c!r} appears twice" for c in sorted({c for c in columns if columns.count(c) > 1})]
    if problems:
        raise PosImportError(source, [("line 1", p) for p in problems])
    return columns


def _check_all(records: list[tuple[str, dict | str]], zones: Mapping[str, str], source: str,
               now: datetime | None, *, decimal_comma: bool) -> list[PosRow]:
    """Rows from (where, fields) pairs; all problems are collected before anything is refused."""
    now = now or utcnow()
    problems: list[tuple[str, str]] = []
    if len(records) > MAX_ROWS:
        raise PosImportError(source, [("file", f"{len(records)} rows, more than {MAX_ROWS}; split it")])
    if not records:
        raise PosImportError(source, [("file", "no data rows")])
    rows, seen, currencies = [], {}, {}
    for where, fields in records:
        try:
            if isinstance(fields, str):
                raise ValueError(fields)
            row = _row(where, fields, zones, now, decimal_comma)
            _unique(row, seen, currencies)
            rows.append(row)
        except ValueError as exc:
            problems.append((where, str(exc)))
    if problems:
        raise PosImportError(source, problems)
    return rows


def _row(where: str, fields: dict, zones: Mapping[str, str], now: datetime, decimal_comma: bool) -> PosRow:
    store_id = fields.get("store_id", "")
    if store_id not in zones:
        raise ValueError(f"store_id {store_id!r} is not a store you may import into")
    revenue, currency = _revenue(fields.get("revenue", ""), fields.get("currency", ""), decimal_comma)
    return PosRow(where, store_id, _hour(fields.get("hour_start", ""), zones[store_id], now),
                  _transactions(fields.get("transactions", "")), revenue, currency)


def _unique(row: PosRow, seen: dict, currencies: dict) -> None:
    key = (row.store_id, row.hour_start)
    if key in seen:
        raise ValueError(f"hour {row.hour_start.isoformat()} of store {row.store_id} already given on {seen[key]}")
    seen[key] = row.where
    if row.currency is not None:
        first = currencies.setdefault(row.store_id, (row.currency, row.where))
        if first[0] != row.currency:
            raise ValueError(f"currency {row.currency} differs from {first[0]} on {first[1]} for store {row.store_id}")


def _hour(text: str, tz: str, now: datetime) -> datetime:
    """The UTC start of a whole store-local hour, from ISO-8601 with offset or local wall time."""
    if not text:
        raise ValueError("hour_start is empty")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"hour_start {text!r} is not a date and time such as 2026-03-29T09:00:00+02:00 "
                         "or 2026-03-29 09:00") from None
    zone = ZoneInfo(tz)
    local = moment.astimezone(zone) if moment.tzinfo is not None else _local(moment, zone, text, tz)
    if (local.minute, local.second, local.microsecond) != (0, 0, 0):
        raise ValueError(f"hour_start {text!r} is not the start of an hour in the store's time zone {tz}")
    utc = local.astimezone(UTC)
    if utc > now:
        raise ValueError(f"hour_start {text!r} has not started yet")
    if utc < EARLIEST:
        raise ValueError(f"hour_start {text!r} is before {EARLIEST.year}")
    return utc


def _local(naive: datetime, zone: ZoneInfo, text: str, tz: str) -> datetime:
    """A wall-clock time in `zone`, refused when DST makes it ambiguous or impossible."""
    early, late = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        roundtrip = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        what = "does not exist (clocks jump forward)" if roundtrip != naive else "happens twice (clocks go back)"
        raise ValueError(f"hour_start {text!r} {what} in {tz}; give it with its UTC offset")
    return early


def _transactions(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"transactions {text!r} is not a whole number") from None
    if not 0 <= value <= MAX_TRANSACTIONS:
        raise ValueError(f"transactions {value} is outside 0..{MAX_TRANSACTIONS}")
    return value


def _revenue(text: str, currency: str, decimal_comma: bool) -> tuple[float | None, str | None]:
    currency = currency.strip().upper()
    if not text:
        if currency:
            raise ValueError(f"currency {currency} given without revenue")
        return None, None
    try:
        value = Decimal(text.replace(",", ".") if decimal_comma else text)
    except InvalidOperation:
        raise ValueError(f"revenue {text!r} is not a number such as 1234.50") from None
    if not value.is_finite() or abs(value) >= Decimal(10) ** 13 or -value.as_tuple().exponent > 4:
        raise ValueError(f"revenue {text!r}: use at most 13 digits before and 4 after the decimal point")
    if not _CURRENCY.match(currency):
        raise ValueError(f"currency {currency!r} is not an ISO 4217 code such as EUR (needed with revenue)")
    return float(value), currency


def save(session: Session, *, rows: list[PosRow], source: str, imported_by: str) -> ImportSummary:
    """Upsert the rows (same store and hour: replaced); the caller commits."""
    table = PosHour.__table__
    keys = {(r.store_id, r.hour_start) for r in rows}
    stores = sorted({r.store_id for r in rows})
    first, last = min(r.hour_start for r in rows), max(r.hour_start for r in rows)
    existing = session.connection().execute(
        select(table.c.store_id, table.c.hour_start).where(
            table.c.store_id.in_(stores), table.c.hour_start >= first, table.c.hour_start <= last)).all()
    replaced = sum(1 for store_id, hour in existing if (store_id, _aware(hour)) in keys)
    insert = _INSERTS[session.get_bind().dialect.name]
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=["store_id", "hour_start"], set_={
        c: stmt.excluded[c] for c in ("transactions", "revenue", "currency", "source", "imported_by", "imported_at")})
    now = utcnow()
    session.connection().execute(stmt, [
        {"store_id": r.store_id, "hour_start": r.hour_start, "transactions": r.transactions, "revenue": r.revenue,
         "currency": r.currency, "source": source[:256], "imported_by": imported_by[:64], "imported_at": now}
        for r in rows])
    return ImportSummary(len(rows), replaced, tuple(stores), first, last)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def import_rows(engine: Engine, rows: list[PosRow], *, source: str, imported_by: str) -> ImportSummary:
    """Store checked rows in one transaction (all or nothing)."""
    with Session(engine) as session:
        summary = save(session, rows=rows, source=source, imported_by=imported_by)
        session.commit()
    log.info("POS import from %s by %s: %d hours for %s (%d replaced)", source, imported_by or "admin",
             summary.hours, ", ".join(summary.stores), summary.replaced)
    return summary


def import_csv(engine: Engine, text: str, *, allowed_stores: Collection[str] | None, source: str,
               imported_by: str = "") -> ImportSummary:
    """Check then store a POS CSV; `allowed_stores` None means every store (administrators)."""
    rows = parse_csv(text, store_zones(engine, allowed_stores), source=source)
    return import_rows(engine, rows, source=source, imported_by=imported_by)
