"""The operations side of a long-lived service: /metrics, /healthz and systemd notifications.

`ServiceOps` is what `edge run`, `sync run` and `cloud ingest` hold for their lifetime:

- GET /metrics: Prometheus exposition of the service's registry (prometheus_client), plus the
  process collectors (CPU, memory, file descriptors, GC).
- GET /healthz: JSON `{"status": "ok"|"failing", "checks": {name: "ok" | problem}}`, 200 or 503.
- systemd: READY=1 once the service runs (Type=notify), STATUS= lines, STOPPING=1, and the
  watchdog fed while every liveness check passes (storelens/systemd.py).

Each side names its own instruments (edge_agent/metrics.py, cloud_sync/metrics.py) and adds
checks here; nothing below knows what a camera or a database is.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from storelens.systemd import Watchdog, notify

log = logging.getLogger(__name__)

Check = Callable[[], str | None]  # None = fine, else the problem in a few words


class ServiceOps:
    """Registry, health checks and liveness of one service; a context manager around its run."""

    def __init__(self, service: str, host: str = "127.0.0.1", port: int = 0) -> None:
        from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

        self.service = service
        self.host, self.port = host, port
        self.registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)
        self._checks: dict[str, Check] = {}
        self._liveness: list[Callable[[], bool]] = []
        self._server: ThreadingHTTPServer | None = None
        self.watchdog = Watchdog(self.alive)

    def add_check(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def add_liveness(self, alive: Callable[[], bool]) -> None:
        """Feed the watchdog only while `alive()` (the service loop is not hung)."""
        self._liveness.append(alive)

    def alive(self) -> bool:
        return all(check() for check in self._liveness)

    def health(self) -> tuple[bool, dict[str, str]]:
        results = {name: _run_check(check) for name, check in self._checks.items()}
        return all(value == "ok" for value in results.values()), results

    def ready(self, status: str = "running") -> None:
        notify("READY=1", f"STATUS={status}")

    def status(self, text: str) -> None:
        notify(f"STATUS={text}")

    @property
    def url(self) -> str | None:
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ServiceOps:
        if self.port:  # 0 in config = no endpoint
            self._serve()
        self.watchdog.start()
        return self

    def start_http(self) -> ServiceOps:
        """Serve even when port is 0 (then on an ephemeral port: tests)."""
        self._serve()
        return self

    def __exit__(self, *_exc) -> None:
        notify("STOPPING=1")
        self.watchdog.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _serve(self) -> None:
        if self._server is not None:
            return
        try:
            self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        except OSError as exc:
            # The service's own job matters more than its metrics: say so once and run without them.
            log.error("%s: cannot serve /metrics and /healthz on %s:%s: %s; running without them (choose another "
                      "port: config `ops`, or --metrics-port)", self.service, self.host, self.port, exc.strerror)
            return
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name=f"{self.service}-ops", daemon=True).start()
        log.info("%s: /metrics and /healthz on %s", self.service, self.url)


def _run_check(check: Check) -> str:
    try:
        problem = check()
    except Exception as exc:  # a failing check reports, it must not break the endpoint
        problem = f"check failed: {exc}"
    return "ok" if problem is None else str(problem)


def metrics_payload(registry, accept: str = "") -> tuple[bytes, str]:
    """The exposition of `registry` in the format the scraper asked for (text or OpenMetrics)."""
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


def _handler(ops: ServiceOps) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "storelens-ops"

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body, content_type = metrics_payload(ops.registry, self.headers.get("Accept", ""))
                self._send(200, body, content_type)
            elif path == "/healthz":
                ok, checks = ops.health()
                body = json.dumps({"service": ops.service, "status": "ok" if ok else "failing", "checks": checks})
                self._send(200 if ok else 503, body.encode() + b"\n", "application/json")
            else:
                self._send(404, b"not found: try /metrics or /healthz\n", "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args) -> None:
            log.debug("ops %s: " + fmt, ops.service, *args)

    return Handler
