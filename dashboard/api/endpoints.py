"""The /api/v1 routes: who may call each, what it takes, what it returns, and the handlers.

Store data (counts, age, zones, conversion) is for managers (their stores) and analysts (every
store); technicians get 403 for those routes whatever the store. A store the caller may not see
answers 404 exactly as a store that does not exist, so the API does not reveal which ids exist.
"""

from __future__ import annotations

import json
import logging

import flask

from cloud_sync import pos
from dashboard import data, metrics
from dashboard.api import tables
from dashboard.api.registry import ApiError, Call, Route, Table
from dashboard.api.schema import (
    AgeQuery,
    AgeRow,
    ConversionQuery,
    ConversionRow,
    CountRow,
    CountsQuery,
    ImportResult,
    MeRow,
    PeriodQuery,
    PosBody,
    Query,
    StoreRow,
    ZoneRow,
    ZonesQuery,
)

log = logging.getLogger(__name__)

READERS = ("manager", "analyst")
EVERYONE = ("manager", "analyst", "technician")
IMPORTERS = ("manager", "analyst")
STORE_ERRORS = (400, 401, 403, 404)


def _engine():
    return flask.current_app.extensions["storelens"].engine


def _store(call: Call):
    """The store row when the caller may see it; 404 otherwise (same answer as for no such store)."""
    store_id = call.path["store_id"]
    found = data.stores(_engine(), call.principal, [store_id])
    if found.empty:
        raise ApiError(404, f"no store {store_id!r} among your stores")
    return found.iloc[0]


def _period(call: Call, row) -> data.Period:
    query: PeriodQuery = call.query
    return data.Period.local_days(query.start, query.end, row["timezone"])


def _meta(call: Call, row, **extra) -> dict:
    query: PeriodQuery = call.query
    return {"store_id": row["store_id"], "timezone": row["timezone"], "start": query.start.isoformat(),
            "end": query.end.isoformat(), **extra}


def _filename(row, what: str, call: Call) -> str:
    query: PeriodQuery = call.query
    return f"storelens-{row['store_id']}-{what}-{query.start.isoformat()}-{query.end.isoformat()}.csv"


def me(call: Call) -> MeRow:
    p = call.principal
    return MeRow(username=p.username, role=p.role, store_ids=list(p.store_ids))


def list_stores(call: Call) -> Table:
    frame = data.stores(_engine(), call.principal)
    rows = [StoreRow(store_id=r.store_id, name=r.name, timezone=r.timezone, area_m2=float(r.area_m2),
                     opening_hours_per_week=float(r.opening_hours_per_week), seeded=bool(r.seeded))
            for r in frame.itertuples()]
    return Table(rows, {"count": len(rows)}, "storelens-stores.csv")


def counts(call: Call) -> Table:
    row = _store(call)
    query: CountsQuery = call.query
    rows = tables.counts(_engine(), call.principal, row["store_id"], row["timezone"], _period(call, row),
                         query.resolution, query.seeded)
    return Table(rows, _meta(call, row, resolution=query.resolution), _filename(row, f"counts-{query.resolution}", call))


def age(call: Call) -> Table:
    row = _store(call)
    query: AgeQuery = call.query
    try:
        spec = metrics.parse_custom_bands(query.bands or "") if query.banding == "custom" else query.banding
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    rows = tables.age(_engine(), call.principal, row["store_id"], _period(call, row), spec, query.seeded)
    return Table(rows, _meta(call, row, banding=query.banding), _filename(row, "age", call))


def zones(call: Call) -> Table:
    row = _store(call)
    query: ZonesQuery = call.query
    rows = tables.zones(_engine(), call.principal, row["store_id"], _period(call, row), query.seeded)
    return Table(rows, _meta(call, row), _filename(row, "zones", call))


def conversion(call: Call) -> Table:
    row = _store(call)
    query: ConversionQuery = call.query
    frame = tables.conversion_frame(_engine(), call.principal, row["store_id"], row["timezone"],
                                    _period(call, row), query.resolution, query.seeded)
    rows = tables.conversion_rows(frame, row["timezone"], query.resolution)
    return Table(rows, _meta(call, row, resolution=query.resolution),
                 _filename(row, f"conversion-{query.resolution}", call))


def import_pos(call: Call) -> ImportResult:
    """POS rows as CSV (text/csv body or a multipart `file`) or JSON {"rows": [...]}; all or nothing."""
    engine = _engine()
    zones_ = pos.store_zones(engine, data.visible_store_ids(engine, call.principal))
    source = "api"
    try:
        rows = _pos_rows(call.request, zones_)
        summary = pos.import_rows(engine, rows, source=source, imported_by=call.principal.username)
    except pos.PosImportError as exc:
        raise ApiError(422, str(exc), exc.problems) from None
    return ImportResult(hours=summary.hours, replaced=summary.replaced, stores=list(summary.stores),
                        first=summary.first.isoformat() if summary.first else None,
                        last=summary.last.isoformat() if summary.last else None)


def _pos_rows(request: flask.Request, zones_: dict[str, str]) -> list[pos.PosRow]:
    if request.content_length is not None and request.content_length > pos.MAX_BYTES:
        raise ApiError(413, f"body larger than {pos.MAX_BYTES // 2**20} MB; split it")
    if request.mimetype == "application/json":
        try:
            body = json.loads(request.get_data(as_text=True) or "null")
        except (ValueError, RecursionError):
            raise ApiError(400, "the body is not valid JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
            raise ApiError(400, 'expected a JSON object {"rows": [...]}')
        return pos.parse_records(body["rows"], zones_, source="request")
    if request.mimetype == "multipart/form-data" and "file" in request.files:
        upload = request.files["file"]
        return pos.parse_csv(_text(upload.read()), zones_, source=upload.filename or "upload")
    if request.mimetype in ("text/csv", "text/plain"):
        return pos.parse_csv(_text(request.get_data()), zones_, source="request")
    raise ApiError(415, "send text/csv, application/json or a multipart form with a 'file' field")


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "the CSV is not UTF-8 text") from None


ROUTES = (
    Route("/me", "GET", "me", "Who the token or session belongs to", me, EVERYONE, query=Query, result=MeRow,
          tag="account", errors=(400, 401)),
    Route("/stores", "GET", "listStores", "The stores you may see", list_stores, READERS, query=Query,
          row=StoreRow),
    Route("/stores/{store_id}/counts", "GET", "storeCounts", "Visitor counts per store-local hour or day",
          counts, READERS, query=CountsQuery, row=CountRow, errors=STORE_ERRORS),
    Route("/stores/{store_id}/age", "GET", "storeAge", "Age mix of the visitors with an age estimate",
          age, READERS, query=AgeQuery, row=AgeRow, errors=STORE_ERRORS),
    Route("/stores/{store_id}/zones", "GET", "storeZones", "Visits and mean dwell per zone", zones, READERS,
          query=ZonesQuery, row=ZoneRow, errors=STORE_ERRORS),
    Route("/stores/{store_id}/conversion", "GET", "storeConversion",
          "Conversion: POS transactions / entries, per store-local hour or day", conversion, READERS,
          query=ConversionQuery, row=ConversionRow, errors=STORE_ERRORS,
          description="Only hours with POS data count: conversion = transactions / entries_with_pos."),
    Route("/pos", "POST", "importPos", "Import POS transactions (and revenue) per store and hour", import_pos,
          IMPORTERS, result=ImportResult, errors=(400, 401, 403, 413, 415, 422), tag="sales",
          body={"text/csv": {"type": "string", "description": "The POS CSV (see cloud_sync/pos.py)."},
                "application/json": PosBody,
                "multipart/form-data": {"type": "object", "properties": {
                    "file": {"type": "string", "contentMediaType": "text/csv"}}}},
          description="Checked as a whole: a bad row refuses everything (422 lists each problem with its "
                      "line). Re-importing an hour replaces it. Managers may import only their stores."),
)
