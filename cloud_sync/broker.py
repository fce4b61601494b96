"""Mosquitto for the cloud side: generated config, password file and ACL.

The config has one TLS listener, no anonymous access, a password file and an ACL in which a
device may publish only under storelens/v1/<its store>/<its device>/# and the ingest user may read
everything. The same files serve a production broker (`storelens cloud broker config`), the tests
and `storelens demo` (devkit/servers/mosquitto.py runs mosquitto on loopback on a random port).
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from cloud_sync.registry import BrokerUser
from cloud_sync.tls import TlsFiles, make_dev_tls
from storelens.wire import INGEST_ALIVE_TOPIC, MAX_PAYLOAD_BYTES, TOPIC_ROOT

log = logging.getLogger(__name__)

# The broker passes oversized payloads up to this size so ingest can dead-letter them with a
# reason; beyond it the broker itself drops the connection's message.
BROKER_MESSAGE_LIMIT = 4 * MAX_PAYLOAD_BYTES


@dataclass(frozen=True)
class BrokerFiles:
    conf: Path
    passwd: Path
    acl: Path
    tls: TlsFiles
    log: Path
    pid: Path


def render_conf(*, port: int, bind: str, files: BrokerFiles, data_dir: Path, run_as: str | None = None) -> str:
    # mosquitto started as root drops to the `mosquitto` user, which cannot read a root-owned temp
    # dir: the launcher names the user explicitly; a packaged broker keeps Debian's default.
    head = [f"user {run_as}"] if run_as else []
    return "\n".join([
        *head,
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {files.passwd}",
        f"acl_file {files.acl}",
        "persistence true",
        f"persistence_location {data_dir}/",
        "autosave_interval 30",
        # A drained fleet backlog queues many messages for a briefly absent ingest worker.
        "max_queued_messages 0",
        "max_inflight_messages 1000",
        f"max_packet_size {BROKER_MESSAGE_LIMIT}",
        f"pid_file {files.pid}",
        f"log_dest file {files.log}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        f"listener {port} {bind}",
        f"cafile {files.tls.ca_cert}",
        f"certfile {files.tls.server_cert}",
        f"keyfile {files.tls.server_key}",
        "tls_version tlsv1.2",
        "",
    ])


def render_acl(users: list[BrokerUser], ingest_user: str) -> str:
    lines = [f"user {ingest_user}", f"topic read {TOPIC_ROOT}/#", f"topic write {INGEST_ALIVE_TOPIC}", ""]
    for user in users:
        lines += [f"user {user.username}", f"topic write {TOPIC_ROOT}/{user.store_id}/{user.device_id}/#",
                  f"topic read {INGEST_ALIVE_TOPIC}", ""]
    return "\n".join(lines)


def render_passwd(users: list[BrokerUser]) -> str:
    return "".join(f"{u.username}:{u.password_hash}\n" for u in users)


def write_broker_files(directory: Path, *, users: list[BrokerUser], ingest: BrokerUser,
                       port: int, bind: str = "127.0.0.1", hosts: list[str] | None = None,
                       run_as: str | None = None) -> BrokerFiles:
    """(Re)write mosquitto.conf, passwd and acl from the registry; make dev TLS files if missing."""
    directory = Path(directory).resolve()
    data_dir = directory / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    files = BrokerFiles(directory / "mosquitto.conf", directory / "passwd", directory / "acl",
                        make_dev_tls(directory / "tls", hosts=hosts), directory / "mosquitto.log",
                        directory / "mosquitto.pid")
    _write_private(files.passwd, render_passwd([ingest, *users]))
    _write_private(files.acl, render_acl(users, ingest.username))
    files.conf.write_text(render_conf(port=port, bind=bind, files=files, data_dir=data_dir, run_as=run_as))
    log.info("broker files for %d device(s) written to %s", len(users), directory)
    return files


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(text)
    os.replace(tmp, path)  # mosquitto never reads a half-written file on SIGHUP


def ingest_hash_from(passwd: Path, username: str) -> str | None:
    """The ingest user's hash already in a password file, so a device change needs no ingest secret."""
    if not passwd.is_file():
        return None
    for line in passwd.read_text().splitlines():
        name, _, stored = line.partition(":")
        if name == username:
            return stored
    return None


def reload_broker(files: BrokerFiles) -> bool:
    """SIGHUP the broker that wrote files.pid so it re-reads passwd and ACL; False if none runs."""
    try:
        pid = int(files.pid.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        return False
    log.info("broker (pid %s) reloaded its password file and ACL", pid)
    return True
