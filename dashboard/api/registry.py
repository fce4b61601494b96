"""Route declarations -> Flask views and the OpenAPI 3.1 description, from the same objects.

A `Route` names its path, roles, query model, row model and handler. `bind` turns each into a Flask
view that authenticates, checks the role, validates the query, calls the handler and renders JSON
or CSV; `openapi` writes the description from the same declarations, so a route cannot exist
without being described, nor be described with parameters it does not take.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import flask
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from dashboard.api.schema import Error, Query, Row

log = logging.getLogger(__name__)

BASE = "/api/v1"
REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{(\w+)\}")


class ApiError(Exception):
    """An answer other than 200: status, one readable line, and per-row problems where there are any."""

    def __init__(self, status: int, message: str, problems: list[tuple[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.problems, self.headers = status, message, problems, headers or {}


@dataclass(frozen=True)
class Table:
    """A handler's tabular result: rows of the route's row model, plus metadata for JSON."""

    rows: Sequence[Row]
    meta: dict[str, Any]
    filename: str


@dataclass(frozen=True)
class Call:
    """What a handler gets: who asks, the validated query, the path parameters, the request."""

    principal: Any
    query: Query | None
    path: dict[str, str]
    request: flask.Request


@dataclass(frozen=True)
class Route:
    path: str  # below BASE, with {name} parameters
    method: str
    operation_id: str
    summary: str
    handler: Callable[[Call], Table | BaseModel]
    roles: tuple[str, ...]
    query: type[Query] | None = None
    row: type[Row] | None = None  # a table result (JSON rows and CSV)
    result: type[BaseModel] | None = None  # a single JSON object
    body: dict[str, dict] = field(default_factory=dict)  # request content type -> schema
    errors: tuple[int, ...] = (400, 401, 403)
    description: str = ""
    tag: str = "data"

    @property
    def flask_rule(self) -> str:
        return BASE + _PATH_PARAM.sub(r"<\1>", self.path)


def bind(blueprint: flask.Blueprint, route: Route, authenticate: Callable[[Route], Any]) -> None:
    def view(**path: str) -> flask.Response:
        try:
            principal = authenticate(route)
            if principal.role not in route.roles:
                raise ApiError(403, f"the {principal.role} role may not use {route.method} {route.path}")
            query = _parse_query(route.query)
            result = route.handler(Call(principal, query, path, flask.request))
            return render(result, route, query)
        except ApiError as exc:
            return error_response(exc)

    blueprint.add_url_rule(route.flask_rule.removeprefix(BASE), route.operation_id, view, methods=[route.method])


def _parse_query(model: type[Query] | None) -> Query | None:
    if model is None:
        if flask.request.args:
            raise ApiError(400, f"this route takes no query parameters, got {', '.join(flask.request.args)}")
        return None
    raw = {k: v for k, v in flask.request.args.items()}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in e["loc"]) or "query", e["msg"]) for e in exc.errors()]
        raise ApiError(400, "bad query parameters: " + "; ".join(f"{w}: {r}" for w, r in problems),
                       problems) from None


def wants_csv(query: Query | None) -> bool:
    if query is not None and query.format is not None:
        return query.format == "csv"
    return flask.request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


def render(result: Table | BaseModel, route: Route, query: Query | None) -> flask.Response:
    if isinstance(result, Table):
        if route.row is not None and wants_csv(query):
            return csv_response(result, route.row)
        body = {"meta": result.meta, "rows": [r.model_dump(mode="json") for r in result.rows]}
        return flask.jsonify(body)
    return flask.jsonify(result.model_dump(mode="json"))


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def csv_text(rows: Sequence[Row], row_model: type[Row]) -> str:
    """Header = the row model's fields in order; values exactly as the JSON carries them."""
    columns = list(row_model.model_fields)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        dumped = row.model_dump(mode="json")
        writer.writerow([csv_cell(dumped[c]) for c in columns])
    return out.getvalue()


def csv_response(table: Table, row_model: type[Row]) -> flask.Response:
    response = flask.Response(csv_text(table.rows, row_model), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{table.filename}"'
    return response


def error_response(exc: ApiError) -> flask.Response:
    body = Error(error=exc.message, problems=[{"where": w, "reason": r} for w, r in exc.problems]
                 if exc.problems else None)
    response = flask.jsonify(body.model_dump(mode="json", exclude_none=True))
    response.status_code = exc.status
    response.headers.update(exc.headers)
    return response


# --- OpenAPI -----------------------------------------------------------------------------------------

_STATUS_TEXT = {400: "Bad query parameters or body", 401: "No valid token or session",
                403: "The user's role may not use this route", 404: "No such store among the user's stores",
                413: "Body too large", 415: "Unsupported body type",
                422: "The input was refused as a whole; every bad row is listed"}


def openapi(routes: Sequence[Route], *, title: str, version: str, description: str) -> dict:
    """The OpenAPI 3.1 document of `routes`."""
    models = {m for r in routes for m in (r.row, r.result) if m is not None} | {Error}  # queries: inline
    models |= {m for r in routes for m in _body_models(r)}
    _keys, defs = models_json_schema([(m, "serialization") for m in sorted(models, key=lambda m: m.__name__)],
                                     ref_template=REF)
    paths: dict[str, dict] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": BASE}],
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}), "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer",
                           "description": "A token from `storelens dashboard token create USER`."},
            "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session",
                           "description": "The dashboard's log-in session (GET only; what the pages' downloads use)."},
        }},
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
    }


def _body_models(route: Route) -> list[type[BaseModel]]:
    return [m for m in route.body.values() if isinstance(m, type) and issubclass(m, BaseModel)]


def _operation(route: Route) -> dict:
    op: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "tags": [route.tag],
                          "parameters": _path_parameters(route) + _query_parameters(route.query),
                          "responses": {"200": _success(route)}}
    if route.description:
        op["description"] = route.description
    if route.body:
        op["requestBody"] = {"required": True, "content": {
            kind: {"schema": _schema_of(schema)} for kind, schema in route.body.items()}}
        op["security"] = [{"bearerAuth": []}]
    for status in route.errors:
        op["responses"][str(status)] = {"description": _STATUS_TEXT[status], "content": {
            "application/json": {"schema": {"$ref": REF.format(model="Error")}}}}
    return op


def _schema_of(schema: dict | type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=schema.__name__)} if isinstance(schema, type) else schema


def _path_parameters(route: Route) -> list[dict]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"},
             "description": "A store id (GET /stores lists them)." if name == "store_id" else name}
            for name in _PATH_PARAM.findall(route.path)]


def _query_parameters(model: type[Query] | None) -> list[dict]:
    if model is None:
        return []
    properties = model.model_json_schema(ref_template=REF)["properties"]
    out = []
    for name, info in model.model_fields.items():
        schema = dict(properties[name])
        schema.pop("title", None)
        description = schema.pop("description", info.description or "")
        out.append({"name": name, "in": "query", "required": info.is_required(), "description": description,
                    "schema": schema})
    return out


def _success(route: Route) -> dict:
    if route.row is not None:
        table = {"type": "object", "required": ["meta", "rows"], "properties": {
            "meta": {"type": "object", "description": "What was asked: store, time zone, period, resolution."},
            "rows": {"type": "array", "items": {"$ref": REF.format(model=route.row.__name__)}}}}
        return {"description": "A table; CSV with the same columns with format=csv or Accept: text/csv",
                "content": {"application/json": {"schema": table}, "text/csv": {"schema": {"type": "string"}}}}
    return {"description": "OK", "content": {"application/json": {
        "schema": {"$ref": REF.format(model=route.result.__name__)}}}}
