"""Launch a throwaway PostgreSQL server (initdb + postgres) for tests and benchmarks.

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as the
unprivileged `nobody` user (subprocess user=/group=) in a temp dir chowned to it. The temp dir is made
directly under the system temp dir because pytest's own temp dirs are 0700 root-owned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from devkit.servers.process import ServerError, free_port, stop_process, wait_for_port

log = logging.getLogger(__name__)

PG_BIN_DIRS = [Path("/usr/lib/postgresql/15/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
DB_USER = "storelens"


def pg_bin(name: str) -> str:
    for directory in PG_BIN_DIRS:
        if (directory / name).is_file():
            return str(directory / name)
    found = shutil.which(name)
    if not found:
        raise ServerError(f"PostgreSQL binary {name!r} not found (install Debian's postgresql)")
    return found


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged user PostgreSQL runs as when we are root (it refuses root); None otherwise."""
    return pwd.getpwnam("nobody") if os.geteuid() == 0 else None


def _as_user() -> dict:
    """Popen arguments that run the child as that user (no wrapper process, so signals reach
    PostgreSQL itself); nothing when we are not root."""
    user = _run_as()
    return {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


class PostgresServer:
    """A PostgreSQL cluster in a temp dir on a random loopback port, trust auth, stopped on exit."""

    def __init__(self) -> None:
        self.root: Path | None = None
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{DB_USER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        self.root = Path(tempfile.mkdtemp(prefix="storelens-pg-"))
        self.root.chmod(0o755)
        data = self.root / "data"
        data.mkdir(mode=0o700)
        user = _run_as()
        if user is not None:
            for path in (self.root, data):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run([pg_bin("initdb"), "-D", str(data), "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-sync"])
        return self._launch()

    def _launch(self) -> PostgresServer:
        data = self.root / "data"
        log_file = self.root / "postgres.log"
        cmd = [pg_bin("postgres"), "-D", str(data), "-p", str(self.port), "-h", "127.0.0.1",
               "-k", str(self.root), "-c", "fsync=off", "-c", "max_connections=50"]
        with open(log_file, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                         **_as_user())
        wait_for_port(self.port, self.proc, log_file, timeout_s=30)
        self._wait_ready()
        log.info("postgres on 127.0.0.1:%s in %s", self.port, self.root)
        return self

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        """The port opens before recovery ends ("the database system is starting up"): wait it out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready = subprocess.run([pg_bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False)
            if ready.returncode == 0:
                return
            time.sleep(0.1)

    def _run(self, cmd: list[str]) -> None:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.root, **_as_user())
        if done.returncode != 0:
            raise ServerError(f"{Path(cmd[0]).name} failed: {done.stderr.strip()[-300:]}")

    def _shutdown(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") waits for every client to leave.
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(15)
        stop_process(self.proc)
        self.proc = None

    def pause(self) -> None:
        """Stop the server but keep its data (a database outage); resume() brings it back."""
        self._shutdown()

    def resume(self) -> PostgresServer:
        return self._launch()

    def stop(self) -> None:
        self._shutdown()
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
