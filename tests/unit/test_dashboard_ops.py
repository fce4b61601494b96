"""The dashboard's /metrics (allowed networks only) and /healthz (database reachable), without a log-in."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloud_sync.db.engine import init_db, make_engine
from storelens.config.dashboard import DashboardConfig


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from dashboard.app import create_app

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('ops') / 'cloud.db'}")
    init_db(engine)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STORELENS_SESSION_SECRET", "s" * 48)
        app = create_app(engine, DashboardConfig(), development=False)
    yield app, engine
    engine.dispose()


def _samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_requests_by_route_and_status(app) -> None:
    client = app[0].server.test_client()
    for _ in range(3):
        assert client.get("/store").status_code == 302  # to the log-in
    assert client.get("/login").status_code == 200
    reply = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/plain")
    samples = _samples(reply.get_data(as_text=True))
    assert samples[("storelens_dashboard_requests_total", (("endpoint", "/login"), ("status", "200")))] >= 1
    redirected = {dict(k[1])["endpoint"]: v for k, v in samples.items()
                  if k[0] == "storelens_dashboard_requests_total" and dict(k[1])["status"] == "302"}
    assert redirected == {"/<path:path>": 3}  # Dash's page route: one series, whatever the page
    assert any(k[0] == "storelens_dashboard_request_seconds_count" for k in samples)


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.7", "2001:db8::1"])
def test_metrics_are_hidden_from_other_networks(app, address: str) -> None:
    reply = app[0].server.test_client().get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert reply.status_code == 404 and b"storelens_" not in reply.data


def test_healthz_needs_no_login_and_checks_the_database(app, monkeypatch) -> None:
    client = app[0].server.test_client()
    reply = client.get("/healthz", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert reply.status_code == 200 and reply.get_json() == {"status": "ok", "checks": {"database": "ok"}}

    engine = app[1]

    def refuse(*_a, **_k):
        raise OSError("connection refused")

    monkeypatch.setattr(engine, "connect", refuse)
    reply = client.get("/healthz")
    assert reply.status_code == 503 and reply.get_json()["checks"]["database"] == "connection refused"
