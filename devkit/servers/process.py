"""Helpers to run a real server (Redis, Mosquitto, PostgreSQL) as a child process on loopback.

Used by the tests, the benchmarks and `storelens demo`: each server gets a temp dir, a random
free port on 127.0.0.1, and is stopped (and waited for) on exit.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from pathlib import Path

from storelens.errors import UnavailableError

log = logging.getLogger(__name__)

# Each server starts in its own session (start_new_session=True). Ctrl-C in a terminal signals the
# whole foreground process group: the servers would die at once, before the services using them
# had stopped (the demo then logged "broker unavailable" for every client while shutting down).
# Their owner stops them, in reverse order, after those services.


class ServerError(UnavailableError):
    """A local server could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log_file: Path, timeout_s: float = 20.0) -> None:
    """Return when 127.0.0.1:port accepts; ServerError quoting the server's log if it died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"{proc.args[0]} exited with {proc.returncode}: {_tail(log_file)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerError(f"{proc.args[0]} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s: {_tail(log_file)}")


def stop_process(proc: subprocess.Popen | None, timeout_s: float = 15.0) -> None:
    """SIGTERM, wait, then SIGKILL: a test must never leave a server behind."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
