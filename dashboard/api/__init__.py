"""The dashboard's REST API under /api/v1: JSON and CSV, per-user bearer tokens, the pages' access rules.

Authentication: `Authorization: Bearer <token>` (tokens from `storelens dashboard token create USER`),
or, for GET only, the dashboard's own log-in session, which is what the pages' download links use.
A POST needs a token, so another site cannot make a logged-in browser import data. The caller's
Principal is set on flask.g exactly as for the pages, and every query goes through dashboard.data,
which filters by it in SQL: one place decides who sees which store. The OpenAPI 3.1 description at
/api/v1/openapi.json is generated from the same route declarations (dashboard.api.endpoints).
"""

from __future__ import annotations

import logging

import flask

from dashboard import auth
from dashboard.api import tokens
from dashboard.api.endpoints import ROUTES
from dashboard.api.registry import BASE, ApiError, Route, bind, error_response, openapi

log = logging.getLogger(__name__)

TITLE = "storelens dashboard API"
VERSION = "1.0.0"
DESCRIPTION = ("Visitor counts, age mix, zones and conversion per store, and POS import. Days and hours are "
               "store-local. Managers see their stores, analysts every store; technicians only /me.")


def install(server: flask.Flask) -> None:
    """Register /api/v1 on the dashboard's Flask server."""
    blueprint = flask.Blueprint("storelens_api", __name__, url_prefix=BASE)
    for route in ROUTES:
        bind(blueprint, route, authenticate)
    blueprint.add_url_rule("/openapi.json", "openapi", _openapi, methods=["GET"])
    # without this, Dash's catch-all page route would answer unknown /api/v1/... paths with its index page
    blueprint.add_url_rule("/<path:_rest>", "unknown", _unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    blueprint.register_error_handler(405, lambda _e: error_response(ApiError(405, "method not allowed")))
    server.register_blueprint(blueprint)


def spec() -> dict:
    return openapi(ROUTES, title=TITLE, version=VERSION, description=DESCRIPTION)


def _unknown(_rest: str) -> flask.Response:
    return error_response(ApiError(404, "no such API route (see /api/v1/openapi.json)"))


def _openapi() -> flask.Response:
    return flask.jsonify(spec())  # public: it describes the API, it holds no data


def authenticate(route: Route):
    """The request's Principal from its bearer token, else (GET only) from the log-in session."""
    header = flask.request.headers.get("Authorization", "")
    engine = flask.current_app.extensions["storelens"].engine
    if header:
        scheme, _space, token = header.partition(" ")
        principal = tokens.principal_for(engine, token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            log.warning("API request with an invalid token from %s", flask.request.remote_addr)
            raise ApiError(401, "invalid, revoked or expired token",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        flask.g.principal = principal  # what auth.current_principal() and the pages' helpers read
        return principal
    principal = auth.current_principal() if route.method == "GET" else None
    if principal is None:
        raise ApiError(401, "send Authorization: Bearer <token> (storelens dashboard token create USER)",
                       headers={"WWW-Authenticate": "Bearer"})
    return principal
