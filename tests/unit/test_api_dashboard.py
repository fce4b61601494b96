"""/api/v1: each role, tokens (create/use/revoke, CLI), another store's data refused without leaking
that it exists, CSV equal to JSON and to SQL, POS upload, and the OpenAPI description validated
and compared with the routes Flask actually serves."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session

from cloud_sync.db.engine import init_db, make_engine
from cloud_sync.db.models import AggregateRecord, ApiToken, PosHour, User
from dashboard import auth
from dashboard.api import spec, tokens
from storelens.cli import main
from storelens.config.dashboard import DashboardConfig

A = AggregateRecord.__table__.c
USERS = {"manager": ("mia", ["seed-001"]), "analyst": ("ali", []), "technician": ("ted", [])}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from dashboard.app import create_app
    from devkit.demo.seed import seed_history

    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    seed_history(engine, stores=2, days=10)
    for role, (name, stores) in USERS.items():
        auth.add_user(engine, username=name, password=f"{name}-password", role=role, store_ids=stores)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STORELENS_SESSION_SECRET", "s" * 48)
        app = create_app(engine, DashboardConfig(), development=False)
    keys = {role: tokens.create(engine, name, name="test").token for role, (name, _s) in USERS.items()}
    yield engine, app, keys, url
    engine.dispose()


@pytest.fixture()
def client(site):
    return site[1].server.test_client()


def bearer(site, role: str) -> dict:
    return {"Authorization": f"Bearer {site[2][role]}"}


def last_days(engine, store_id: str, days: int = 7) -> tuple[date, date]:
    with engine.connect() as conn:
        latest = conn.scalar(select(func.max(A.window_start)).where(A.store_id == store_id))
    latest = latest.replace(tzinfo=UTC) if latest.tzinfo is None else latest
    last = latest.astimezone(ZoneInfo("Europe/Berlin")).date()
    return last - timedelta(days=days - 1), last


def q(first: date, last: date, **extra) -> str:
    return "&".join([f"start={first}", f"end={last}", *(f"{k}={v}" for k, v in extra.items())])


STORE_ROUTES = ("counts", "age", "zones", "conversion")


@pytest.mark.parametrize("what", STORE_ROUTES)
@pytest.mark.parametrize(("role", "store", "status"), [
    ("manager", "seed-001", 200), ("manager", "seed-002", 404), ("manager", "no-such-store", 404),
    ("analyst", "seed-002", 200), ("technician", "seed-001", 403), ("technician", "no-such-store", 403),
])
def test_each_role_sees_exactly_its_stores(site, client, what, role, store, status):
    first, last = last_days(site[0], "seed-001")
    response = client.get(f"/api/v1/stores/{store}/{what}?{q(first, last)}", headers=bearer(site, role))
    assert response.status_code == status, response.json
    if status == 404:  # the same answer whether the store exists or not: nothing leaks
        assert response.json == {"error": f"no store {store!r} among your stores"}
    if status == 403:
        assert response.json["error"].startswith("the technician role may not use GET")
    if status == 200:
        assert response.json["meta"]["store_id"] == store and response.json["rows"]


def test_store_list_and_me_follow_the_user(site, client):
    mine = client.get("/api/v1/stores", headers=bearer(site, "manager")).json["rows"]
    assert [s["store_id"] for s in mine] == ["seed-001"]
    every = client.get("/api/v1/stores", headers=bearer(site, "analyst")).json["rows"]
    assert [s["store_id"] for s in every] == ["seed-001", "seed-002"]
    assert client.get("/api/v1/me", headers=bearer(site, "technician")).json == {
        "username": "ted", "role": "technician", "store_ids": []}
    assert client.get("/api/v1/stores", headers=bearer(site, "technician")).status_code == 403


def test_no_or_bad_credentials_get_401_with_a_bearer_challenge(client):
    for headers in ({}, {"Authorization": "Bearer slk_not-a-token"}, {"Authorization": "Basic bWlhOm1pYQ=="}):
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "error" in response.json


def test_token_cli_create_use_list_revoke(site, client, capsys):
    engine, _app, _keys, url = site
    assert main(["dashboard", "--db", url, "token", "create", "mia", "--name", "BI export"]) == 0
    out = capsys.readouterr().out.splitlines()
    token = out[1]
    assert token.startswith("slk_") and len(token) > 40
    with Session(engine) as s:
        row = s.scalars(select(ApiToken).where(ApiToken.name == "BI export")).one()
        assert token not in (row.token_hash, row.prefix) and token.startswith(row.prefix)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json["username"] == "mia"
    assert main(["dashboard", "--db", url, "token", "list", "--user", "mia"]) == 0
    listing = capsys.readouterr().out
    assert row.prefix in listing and token not in listing and "BI export" in listing
    assert main(["dashboard", "--db", url, "token", "revoke", row.prefix]) == 0
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert main(["dashboard", "--db", url, "token", "revoke", row.prefix]) == 4  # already revoked
    assert "no live token" in capsys.readouterr().err


def test_expired_token_and_deleted_user_stop_working(site, client):
    engine = site[0]
    auth.add_user(engine, username="temp", password="temp-password", role="analyst", store_ids=[])
    new = tokens.create(engine, "temp", days=30)
    headers = {"Authorization": f"Bearer {new.token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with engine.begin() as conn:
        conn.execute(update(ApiToken.__table__).where(ApiToken.__table__.c.id == new.id)
                     .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    other = tokens.create(engine, "temp")
    with Session(engine) as s:
        s.delete(s.get(User, "temp"))
        s.commit()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {other.token}"}).status_code == 401


def test_token_create_for_an_unknown_user_is_one_line(site, capsys):
    assert main(["dashboard", "--db", site[3], "token", "create", "nobody"]) == 4
    assert capsys.readouterr().err.strip() == ("storelens: error: no dashboard user 'nobody'; add one with "
                                               "`storelens dashboard user add`")


def _csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(("what", "extra"), [("counts", {"resolution": "hour"}), ("counts", {"resolution": "day"}),
                                             ("conversion", {"resolution": "day"}), ("age", {"banding": "coarse"}),
                                             ("zones", {})])
def test_csv_carries_exactly_the_json_values(site, client, what, extra):
    first, last = last_days(site[0], "seed-001")
    path = f"/api/v1/stores/seed-001/{what}?{q(first, last, **extra)}"
    as_json = client.get(path, headers=bearer(site, "manager")).json["rows"]
    by_param = client.get(path + "&format=csv", headers=bearer(site, "manager"))
    by_accept = client.get(path, headers={**bearer(site, "manager"), "Accept": "text/csv"})
    assert by_param.mimetype == by_accept.mimetype == "text/csv" and by_param.data == by_accept.data
    assert "attachment; filename=\"storelens-seed-001-" in by_param.headers["Content-Disposition"]
    rows = _csv_rows(by_param.get_data(as_text=True))
    expected = [{k: "" if v is None else str(v) for k, v in r.items()} for r in as_json]
    assert rows == expected and rows


def test_counts_equal_the_database(site, client):
    engine = site[0]
    first, last = last_days(engine, "seed-001")
    zone = ZoneInfo("Europe/Berlin")
    days = client.get(f"/api/v1/stores/seed-001/counts?{q(first, last)}", headers=bearer(site, "analyst")).json
    assert days["meta"]["timezone"] == "Europe/Berlin"
    for row in days["rows"]:
        day = date.fromisoformat(row["period_start"])
        start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
        with engine.connect() as conn:
            sql = conn.execute(select(func.sum(A.entries), func.sum(A.unique_visitors), func.max(A.occupancy_max))
                               .where(A.store_id == "seed-001", A.window_start >= start, A.window_start < end)).one()
        assert (row["entries"], row["unique_visitors"], row["occupancy_max"]) == tuple(sql)
    hours = client.get(f"/api/v1/stores/seed-001/counts?{q(first, last, resolution='hour')}",
                       headers=bearer(site, "analyst")).json["rows"]
    assert sum(h["entries"] for h in hours) == sum(d["entries"] for d in days["rows"])
    assert all(datetime.fromisoformat(h["period_start"]).minute == 0 for h in hours)
    assert all(datetime.fromisoformat(h["period_start"]).utcoffset() is not None for h in hours)


@pytest.mark.parametrize(("query", "message"), [
    ("start=2026-01-05&end=2026-01-01", "end is before start"),
    ("start=2026-01-01&end=2026-01-02&resolution=minute", "resolution"),
    ("start=2026-01-01&end=2026-01-02&colour=red", "colour: Extra inputs are not permitted"),
    ("start=2026-01-01", "end"),
    ("start=2024-01-01&end=2026-01-01", "at most 366 days"),
])
def test_bad_queries_are_400_with_the_reason(site, client, query, message):
    response = client.get(f"/api/v1/stores/seed-001/counts?{query}", headers=bearer(site, "manager"))
    assert response.status_code == 400 and message in response.json["error"]


def test_unknown_api_routes_are_json_404_not_the_dash_page(site, client):
    response = client.get("/api/v1/stores/seed-001/nothing", headers=bearer(site, "manager"))
    assert response.status_code == 404 and response.is_json


def test_the_session_cookie_reads_but_cannot_post(site, client):
    client.post("/login", data={"username": "mia", "password": "mia-password"})
    assert client.get("/api/v1/me").json["username"] == "mia"
    response = client.post("/api/v1/pos", data="store_id,hour_start,transactions\n", content_type="text/csv")
    assert response.status_code == 401  # a cross-site form must not import data with the user's cookie


POS = "store_id,hour_start,transactions,revenue,currency\n"


def _pos_count(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(PosHour.__table__))


def test_pos_upload_by_api_csv_json_and_file(site, client):
    engine = site[0]
    first, last = last_days(engine, "seed-001")
    before = _pos_count(engine)
    body = POS + "".join(f"seed-001,{last} {h:02d}:00,{h},{h * 10}.25,EUR\n" for h in range(9, 12))
    answer = client.post("/api/v1/pos", data=body, content_type="text/csv", headers=bearer(site, "manager"))
    assert answer.status_code == 200 and answer.json["hours"] == 3 and answer.json["stores"] == ["seed-001"]
    rows = {"rows": [{"store_id": "seed-001", "hour_start": f"{last}T12:00:00+01:00", "transactions": 4}]}
    assert client.post("/api/v1/pos", json=rows, headers=bearer(site, "manager")).json["hours"] == 1
    upload = {"file": (io.BytesIO(body.encode()), "till.csv")}
    again = client.post("/api/v1/pos", data=upload, content_type="multipart/form-data",
                        headers=bearer(site, "analyst"))
    assert again.json["replaced"] == 3
    assert _pos_count(engine) == before + 4
    conv = client.get(f"/api/v1/stores/seed-001/conversion?{q(last, last)}", headers=bearer(site, "manager")).json
    day = conv["rows"][0]
    assert day["transactions"] == 9 + 10 + 11 + 4 and day["revenue"] == pytest.approx(90.25 + 100.25 + 110.25)
    assert day["conversion"] == pytest.approx(day["transactions"] / day["entries_with_pos"], abs=1e-6)


@pytest.mark.parametrize(("role", "body", "status", "where"), [
    ("manager", POS + "seed-001,2026-01-01 09:00,1,,\nseed-002,2026-01-01 09:00,1,,\n", 422, "line 3"),
    ("manager", POS + "seed-001,2026-01-01 09:00,1,,\nseed-001,2026-01-01 10:00,lots,,\n", 422, "line 3"),
    ("analyst", POS + "seed-001,2026-01-01 09:00,1,,\nmissing-store,2026-01-01 09:00,1,,\n", 422, "line 3"),
    ("technician", POS + "seed-001,2026-01-01 09:00,1,,\n", 403, None),
])
def test_pos_upload_refusals_import_nothing(site, client, role, body, status, where):
    engine = site[0]
    before = _pos_count(engine)
    answer = client.post("/api/v1/pos", data=body, content_type="text/csv", headers=bearer(site, role))
    assert answer.status_code == status
    if where:
        assert answer.json["problems"][0]["where"] == where and "nothing imported" in answer.json["error"]
    assert _pos_count(engine) == before


def test_openapi_is_valid_and_describes_exactly_the_served_routes(site, client):
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").json  # public: no token needed
    validate(document)
    assert document == spec()
    described = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    served = set()
    for rule in site[1].server.url_map.iter_rules():
        path = rule.rule.removeprefix("/api/v1")
        if rule.rule.startswith("/api/v1/") and path not in ("/openapi.json", "/<path:_rest>"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((path.replace("<", "{").replace(">", "}"), method))
    assert described == served
    assert {"/stores/{store_id}/counts", "/stores/{store_id}/age", "/stores/{store_id}/zones",
            "/stores/{store_id}/conversion", "/pos"} <= set(document["paths"])


@pytest.mark.parametrize("what", STORE_ROUTES)
def test_responses_match_their_openapi_schema(site, client, what):
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    document = spec()
    registry = Registry().with_resource("urn:api", DRAFT202012.create_resource(document))
    first, last = last_days(site[0], "seed-001")
    operation = document["paths"][f"/stores/{{store_id}}/{what}"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    body = client.get(f"/api/v1/stores/seed-001/{what}?{q(first, last)}", headers=bearer(site, "analyst")).json
    refs = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    validator = Draft202012Validator(_resolve(refs), registry=registry)
    assert list(validator.iter_errors(body)) == []
    error = operation["responses"]["404"]["content"]["application/json"]["schema"]
    missing = client.get(f"/api/v1/stores/nope/{what}?{q(first, last)}", headers=bearer(site, "analyst")).json
    assert list(Draft202012Validator(_resolve(error), registry=registry).iter_errors(missing)) == []
    params = {p["name"] for p in operation["parameters"]}
    assert {"store_id", "start", "end", "format"} <= params


def _resolve(schema):
    """Point local '#/components/...' references at the registered document."""
    if isinstance(schema, dict):
        return {k: (f"urn:api{v}" if k == "$ref" else _resolve(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_resolve(v) for v in schema]
    return schema


@pytest.mark.parametrize("path", ["/api/v1/stores/seed-001/nothing", "/api/v2/stores", "/api/v1"])
def test_unknown_paths_near_the_api_never_serve_the_page_without_a_log_in(site, path):
    response = site[1].server.test_client().get(path)
    assert response.status_code in (302, 401, 404)
    assert b"_dash-config" not in response.data  # not Dash's index page
