"""Serving the dashboard: a threaded WSGI server object the CLI, the demo and the tests can stop.

Werkzeug's server is enough for a store chain's handful of concurrent dashboard users on loopback
or behind a reverse proxy; for more, run `gunicorn 'dashboard.app:server'` instead.
"""

from __future__ import annotations

import logging
import socket
import threading

from werkzeug.serving import make_server

from storelens.errors import ConfigError

log = logging.getLogger(__name__)


class DashboardServer:
    """One listening socket serving one Dash app; port 0 picks a free port."""

    def __init__(self, app, host: str, port: int) -> None:
        _check_bindable(host, port)
        self._server = make_server(host, port, app.server, threaded=True)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}/"

    def start(self) -> DashboardServer:
        """Serve in a background thread (demo, tests)."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="dashboard", daemon=True)
        self._thread.start()
        log.info("dashboard listening on %s", self.url)
        return self

    def serve_forever(self) -> None:
        log.info("dashboard listening on %s", self.url)
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _check_bindable(host: str, port: int) -> None:
    """One clear line for a taken port or a foreign address (werkzeug would print and exit instead)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"dashboard cannot listen on {host}:{port}: {exc.strerror}; choose another "
                          "--port / dashboard.port") from None
