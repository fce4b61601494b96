"""The dashboard's /metrics and /healthz, served by its own Flask server beside the pages.

- /metrics: requests by endpoint and status, their latency, and failed log-ins (Prometheus text);
  only for clients in `dashboard.metrics_networks` (loopback by default), 404 for everyone else.
  Under gunicorn with several workers, set $PROMETHEUS_MULTIPROC_DIR (the Ansible unit does) so
  the numbers of every worker are summed (prometheus_client's multiprocess mode).
- /healthz: 200 `{"status": "ok"}` when the database answers, else 503. Open to all: it says
  nothing but ok or failing.
- `gunicorn_watchdog(bind)`: for gunicorn.conf.py's `when_ready`, feeds systemd's watchdog while
  /healthz answers through the real socket.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import time
import urllib.error
import urllib.request

log = logging.getLogger(__name__)

OPEN_PATHS = ("/healthz", "/metrics")  # the log-in guard lets these through; /metrics checks networks itself


class DashboardMetrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        if multiprocess:
            from prometheus_client import multiprocess as mp

            mp.MultiProcessCollector(self.registry)
        own = None if multiprocess else self.registry  # multiprocess: values go to the shared files
        self.requests = Counter("storelens_dashboard_requests", "HTTP requests answered",
                                ["endpoint", "status"], registry=own)
        self.latency = Histogram("storelens_dashboard_request_seconds", "Time to answer a request",
                                 ["endpoint"], registry=own)


def install(server, networks: list[str]) -> DashboardMetrics:
    """Time every request, and add /metrics and /healthz to the Flask `server`."""
    import flask

    metrics = DashboardMetrics()
    allowed = [ipaddress.ip_network(n, strict=False) for n in networks]

    @server.before_request
    def _start() -> None:
        flask.g.storelens_t0 = time.perf_counter()

    @server.after_request
    def _count(response: flask.Response) -> flask.Response:
        t0 = getattr(flask.g, "storelens_t0", None)
        # The rule, not the path: /api/v1/stores/<id> is one series, not one per store.
        endpoint = flask.request.url_rule.rule if flask.request.url_rule else "(unmatched)"
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        if t0 is not None:
            metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)
        return response

    server.add_url_rule("/metrics", "storelens_metrics", lambda: _metrics(metrics, allowed))
    server.add_url_rule("/healthz", "storelens_healthz", _healthz)
    return metrics


def _client_allowed(allowed: list) -> bool:
    import flask

    try:
        address = ipaddress.ip_address(flask.request.remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in allowed)


def _metrics(metrics: DashboardMetrics, allowed: list):
    import flask

    from storelens.ops import metrics_payload

    if not _client_allowed(allowed):
        return flask.Response("not found\n", status=404, mimetype="text/plain")
    body, content_type = metrics_payload(metrics.registry, flask.request.headers.get("Accept", ""))
    return flask.Response(body, status=200, content_type=content_type)


def _healthz():
    import flask
    from sqlalchemy import text

    engine = flask.current_app.extensions["storelens"].engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        body, code = {"status": "ok", "checks": {"database": "ok"}}, 200
    except Exception as exc:  # any driver error means the same to a health check
        body, code = {"status": "failing", "checks": {"database": str(exc).splitlines()[0][:200]}}, 503
    return flask.Response(json.dumps(body) + "\n", status=code, mimetype="application/json")


def gunicorn_watchdog(bind: str):
    """Start feeding systemd's watchdog from gunicorn's master while /healthz answers on `bind`."""
    from storelens.systemd import Watchdog

    host, _, port = bind.rpartition(":")
    url = f"http://{host or '127.0.0.1'}:{port}/healthz"

    def answering() -> bool:
        # Any HTTP answer, 503 included, means the workers serve: a database outage is not cured by
        # restarting the dashboard, a hung or dead worker pool is.
        try:
            with urllib.request.urlopen(url, timeout=10):  # noqa: S310 (our own socket)
                return True
        except urllib.error.HTTPError:
            return True
        except OSError as exc:
            log.warning("dashboard does not answer %s: %s", url, exc)
            return False

    return Watchdog(answering).start()
