"""mosquitto on loopback with the product's generated config, for tests, benchmarks and the demo."""

from __future__ import annotations

import logging
import os
import pwd
import signal
import subprocess
from pathlib import Path

from cloud_sync.broker import BrokerFiles, write_broker_files
from cloud_sync.registry import BrokerUser
from devkit.servers.process import free_port, stop_process, wait_for_port

log = logging.getLogger(__name__)


class MosquittoServer:
    """mosquitto on 127.0.0.1 with the generated files; reload() re-reads passwd and ACL (SIGHUP)."""

    def __init__(self, directory: Path, *, users: list[BrokerUser], ingest: BrokerUser,
                 port: int | None = None) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.ingest = ingest
        self.files = self._write(users)
        self.proc: subprocess.Popen | None = None

    def _write(self, users: list[BrokerUser]) -> BrokerFiles:
        run_as = pwd.getpwuid(os.geteuid()).pw_name
        return write_broker_files(self.directory, users=users, ingest=self.ingest, port=self.port, run_as=run_as)

    def start(self) -> MosquittoServer:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.files.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc, self.files.log)
        log.info("mosquitto on 127.0.0.1:%s (TLS) in %s", self.port, self.directory)
        return self

    def update_users(self, users: list[BrokerUser]) -> None:
        self.files = self._write(users)
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def __enter__(self) -> MosquittoServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
