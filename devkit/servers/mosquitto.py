"""mosquitto on loopback with the product's generated config, for tests, benchmarks and the demo.

The files come from cloud_sync.broker.write_broker_files, the renderer a fleet's broker (and the
Ansible broker role) uses; only port, paths and the `user` line differ. Tuning (a finite queue for a
failure test, a slower autosave) is passed through as BrokerSettings fields.
"""

from __future__ import annotations

import logging
import os
import pwd
import signal
import subprocess
from dataclasses import replace
from pathlib import Path

from cloud_sync.broker import BrokerFiles, BrokerSettings, broker_files, write_broker_files
from cloud_sync.broker_control import sync_running_broker
from cloud_sync.registry import BrokerUser
from devkit.servers.process import free_port, stop_process, wait_for_port

log = logging.getLogger(__name__)


class MosquittoServer:
    """mosquitto on 127.0.0.1 with the generated files; update_users() applies a registry change live."""

    def __init__(self, directory: Path, *, users: list[BrokerUser], port: int | None = None, **tuning) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        # mosquitto started as root drops to the `mosquitto` user, which cannot read a root-owned temp
        # dir: the launcher names the current user explicitly.
        run_as = pwd.getpwuid(os.geteuid()).pw_name
        self.settings = replace(BrokerSettings(port=self.port, run_as=run_as), **tuning)
        self.files = self._write(users)
        self.proc: subprocess.Popen | None = None

    def _write(self, users: list[BrokerUser]) -> BrokerFiles:
        files, _changed = write_broker_files(broker_files(self.directory), users=users, settings=self.settings)
        return files

    def start(self) -> MosquittoServer:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.files.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_for_port(self.port, self.proc, self.files.log)
        log.info("mosquitto on 127.0.0.1:%s (TLS) in %s", self.port, self.directory)
        return self

    def update_users(self, users: list[BrokerUser]) -> None:
        """Rewrite the files; a running broker re-reads passwords (SIGHUP) and gets the ACL changes."""
        self.files = self._write(users)
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)
            sync_running_broker(self.files, self.settings)

    def restart(self) -> MosquittoServer:
        """Stop (the broker saves its queues) and start again on the same port and data."""
        self.stop()
        return self.start()

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def __enter__(self) -> MosquittoServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
