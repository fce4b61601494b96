"""Keep the broker's password file and ACL in step with the registry (after add, revoke, rotate)."""

from __future__ import annotations

import logging

from sqlmodel import Session

from cloud_sync.broker import BrokerFiles, ingest_hash_from, reload_broker, write_broker_files
from cloud_sync.registry import BrokerUser, broker_users, hash_password
from storelens.errors import ConfigError
from storelens.secrets import ingest_password

log = logging.getLogger(__name__)


def ingest_user(cfg, *, rehash: bool) -> BrokerUser:
    cloud = cfg.cloud
    existing = None if rehash else ingest_hash_from(cloud.broker_dir / "passwd", cloud.ingest_username)
    if existing:
        return BrokerUser(cloud.ingest_username, existing, None, None)
    return BrokerUser(cloud.ingest_username, hash_password(ingest_password(cfg)), None, None)


def refresh_broker(cfg, session: Session, *, rehash_ingest: bool = False,
                   hosts: list[str] | None = None) -> tuple[BrokerFiles, bool]:
    """Rewrite the broker files from the registry; returns (files, whether a running broker reloaded)."""
    cloud = cfg.cloud
    if cfg.mode == "production" and not hosts and not (cloud.broker_dir / "tls" / "server.crt").is_file():
        raise ConfigError("cloud broker: production needs real certificates in "
                          f"{cloud.broker_dir / 'tls'} (or --host NAME for a generated one)")
    files = write_broker_files(cloud.broker_dir, users=broker_users(session),
                               ingest=ingest_user(cfg, rehash=rehash_ingest),
                               port=cloud.broker_port, bind=cloud.broker_bind, hosts=hosts)
    return files, reload_broker(files)
