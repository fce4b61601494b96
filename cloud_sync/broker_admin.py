"""Keep the broker's password file and ACL in step with the registry (after add, revoke, rotate)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cloud_sync.broker import (
    BrokerFiles,
    files_from_config,
    reload_broker,
    settings_from_config,
    write_broker_files,
)
from cloud_sync.broker_control import sync_running_broker
from cloud_sync.registry import BrokerUser
from storelens.errors import ConfigError, UnavailableError

log = logging.getLogger(__name__)


@dataclass
class BrokerRefresh:
    files: BrokerFiles
    changed: list[str] = field(default_factory=list)
    reloaded: bool = False  # a running broker re-read its password file and took the ACL changes
    warning: str = ""  # set when a running broker could not be brought in line


def refresh_broker(cfg, users: list[BrokerUser], *, hosts: list[str] | None = None,
                   live: bool = True) -> BrokerRefresh:
    """Rewrite the broker files for `users`; with `live`, also update a broker running on this host."""
    cloud = cfg.cloud
    files, settings = files_from_config(cloud), settings_from_config(cloud)
    if cfg.mode == "production" and not hosts and not files.tls.server_cert.is_file():
        raise ConfigError("cloud broker: production needs real certificates in "
                          f"{files.tls.server_cert.parent} (or --host NAME for a generated one)")
    files, changed = write_broker_files(files, users=users, settings=settings, hosts=hosts)
    result = BrokerRefresh(files, changed)
    if live and reload_broker(files):
        try:
            sync_running_broker(files, settings)
            result.reloaded = True
        except UnavailableError as exc:
            result.warning = f"{exc}; restart the broker to apply the new ACL"
            log.warning("broker ACL not updated live: %s", result.warning)
        if files.conf.name in changed:  # listener, plugin and queue options are read only at start-up
            result.warning = result.warning or f"{files.conf} changed: restart the broker to apply it"
    return result
