"""Mosquitto for the cloud side: the one renderer of its config, password file and ACL.

`storelens cloud broker config`, the Ansible broker role (which runs that command on the broker
host), `storelens demo` and the tests (devkit/servers/mosquitto.py) all write their broker through
`write_broker_files`, so a fleet runs exactly the broker the tests ran.

- Authentication: a password file of `$7$` hashes (the registry's own), re-read on SIGHUP, so a
  revoked or rotated device is refused, and thrown off, at once.
- Authorisation: mosquitto's dynamic-security plugin, not `acl_file`. Mosquitto 2.0's acl_file checks
  only deliveries and grants every SUBSCRIBE, so a device could join ingest's shared subscription
  (`$share/ingest/...`) and the broker would route a share of the fleet's windows to it, then drop them
  at the delivery check. The plugin refuses such a SUBSCRIBE with "Not authorized". Its ACL file names
  accounts and roles only, no passwords; a running broker is brought in line over `$CONTROL`
  (cloud_sync/broker_control.py), because the plugin does not re-read its file on SIGHUP.
- `use_username_as_clientid`: a client id is the login, so a box logging in with another's client id
  cannot throw that box off or take over an ingest worker's persistent session.
- Persistence with a short autosave, bounded per-client queues and a packet cap (see BrokerSettings).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import pwd
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path

from cloud_sync.registry import ADMIN_USERNAME, BrokerUser, hash_password, verify_password
from cloud_sync.tls import TlsFiles, make_dev_tls
from storelens.errors import ConfigError, UnavailableError
from storelens.wire import DEVICE_KINDS, INGEST_ALIVE_TOPIC, MAX_PAYLOAD_BYTES, TOPIC_ROOT, topic

log = logging.getLogger(__name__)

# The broker passes oversized payloads up to this size so ingest can dead-letter them with a
# reason; beyond it the broker disconnects the sender ("Packet too large") and routes nothing.
BROKER_MESSAGE_LIMIT = 4 * MAX_PAYLOAD_BYTES
ACL_PLUGIN = "mosquitto_dynamic_security.so"
ACL_PLUGIN_DIRS = ("/usr/lib/*-linux-gnu", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/usr/local/lib/*-linux-gnu")
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
CONTROL_RESPONSE = f"{CONTROL_TOPIC}/response"


@dataclass(frozen=True)
class BrokerSettings:
    """What a fleet tunes (mirrored by the cloud config's broker_* fields, see storelens/config/cloud.py)."""

    port: int
    bind: str = "127.0.0.1"
    share_group: str = "ingest"
    run_as: str | None = None  # `user` line: the account mosquitto drops to when started as root
    autosave_interval_s: int = 10
    max_queued_messages: int = 100_000  # per client; 0 = unlimited
    max_inflight_messages: int = 1000
    session_expiry_days: float = 14.0
    acl_plugin: Path | None = None  # None: find_acl_plugin()


@dataclass(frozen=True)
class BrokerFiles:
    conf: Path
    passwd: Path
    acl: Path  # the dynamic-security plugin's JSON (accounts and roles, no passwords)
    tls: TlsFiles
    log: Path
    pid: Path
    data_dir: Path
    admin_secret: Path  # password of the local admin account that updates a running broker's ACL


def broker_files(directory: Path, *, data_dir: Path | None = None, log_file: Path | None = None,
                 pid_file: Path | None = None) -> BrokerFiles:
    """The layout under `directory`; a packaged broker moves data, log and pid to /var/lib, /var/log, /run."""
    directory = Path(directory).resolve()
    data = Path(data_dir).resolve() if data_dir else directory / "data"
    tls = directory / "tls"
    return BrokerFiles(directory / "mosquitto.conf", directory / "passwd", data / "dynamic-security.json",
                       TlsFiles(tls / "ca.crt", tls / "server.crt", tls / "server.key"),
                       Path(log_file) if log_file else directory / "mosquitto.log",
                       Path(pid_file) if pid_file else directory / "mosquitto.pid", data, directory / "admin.secret")


def settings_from_config(cloud) -> BrokerSettings:
    return BrokerSettings(port=cloud.broker_port, bind=cloud.broker_bind, share_group=cloud.share_group,
                          run_as=cloud.broker_run_as, autosave_interval_s=cloud.broker_autosave_interval_s,
                          max_queued_messages=cloud.broker_max_queued_messages,
                          max_inflight_messages=cloud.broker_max_inflight_messages,
                          session_expiry_days=cloud.broker_session_expiry_days, acl_plugin=cloud.broker_acl_plugin)


def files_from_config(cloud) -> BrokerFiles:
    return broker_files(cloud.broker_dir, data_dir=cloud.broker_data_dir, log_file=cloud.broker_log_file,
                        pid_file=cloud.broker_pid_file)


def find_acl_plugin() -> Path:
    for pattern in ACL_PLUGIN_DIRS:
        for found in sorted(glob.glob(f"{pattern}/{ACL_PLUGIN}")):
            return Path(found)
    raise UnavailableError(f"broker: mosquitto's dynamic-security plugin ({ACL_PLUGIN}) not found in "
                           f"{', '.join(ACL_PLUGIN_DIRS)}; install mosquitto 2.x or set cloud.broker_acl_plugin")


def render_conf(settings: BrokerSettings, files: BrokerFiles, plugin: Path) -> str:
    head = [f"user {settings.run_as}"] if settings.run_as else []
    return "\n".join([
        "# Rendered by storelens (cloud_sync/broker.py): change the cloud config and re-run",
        "# `storelens cloud broker config`, not this file.",
        *head,
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {files.passwd}",
        # Checks SUBSCRIBE as well as delivery: no $share, no other store's or device's topics.
        f"plugin {plugin}",
        f"plugin_opt_config_file {files.acl}",
        "persistence true",
        f"persistence_location {files.data_dir}/",
        f"autosave_interval {settings.autosave_interval_s}",
        f"max_queued_messages {settings.max_queued_messages}",
        f"max_inflight_messages {settings.max_inflight_messages}",
        f"max_packet_size {BROKER_MESSAGE_LIMIT}",
        f"persistent_client_expiration {max(1, round(settings.session_expiry_days * 24))}h",
        f"pid_file {files.pid}",
        f"log_dest file {files.log}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        f"listener {settings.port} {settings.bind}",
        # A listener option: placed before `listener` it would open a default listener on 1883.
        "use_username_as_clientid true",
        f"cafile {files.tls.ca_cert}",
        f"certfile {files.tls.server_cert}",
        f"keyfile {files.tls.server_key}",
        "tls_version tlsv1.2",
        "",
    ])


def _acl(kind: str, topic_name: str) -> dict:
    return {"acltype": kind, "topic": topic_name, "allow": True}


def _reads(*topics: str) -> list[dict]:
    """Subscribe to exactly these filters and receive what they match."""
    return [_acl(kind, t) for t in topics for kind in ("subscribeLiteral", "publishClientReceive")]


def device_acls(user: BrokerUser) -> list[dict]:
    """Publish its own aggregates/status/health; read its own receipts and ingest's alive ping. Nothing else."""
    sends = [_acl("publishClientSend", topic(user.store_id, user.device_id, kind)) for kind in DEVICE_KINDS]
    return sends + _reads(topic(user.store_id, user.device_id, "receipts"), INGEST_ALIVE_TOPIC)


def ingest_acls(share_group: str) -> list[dict]:
    """Read what devices send (shared, or plain for a monitor), write receipts and the alive ping."""
    kinds = [f"{TOPIC_ROOT}/+/+/{kind}" for kind in DEVICE_KINDS]
    subs = [f"$share/{share_group}/{k}" for k in kinds] + kinds
    acls = [_acl("subscribeLiteral", s) for s in subs] + [_acl("publishClientReceive", k) for k in kinds]
    return acls + [_acl("publishClientSend", f"{TOPIC_ROOT}/+/+/receipts"), _acl("publishClientSend", INGEST_ALIVE_TOPIC)]


def admin_acls() -> list[dict]:
    return [_acl("publishClientSend", CONTROL_TOPIC), *_reads(CONTROL_RESPONSE)]


def role_name(user: BrokerUser) -> str:
    return {"device": f"device:{user.username}", "ingest": "ingest", "admin": "broker-admin"}[user.kind]


def acl_state(users: list[BrokerUser], share_group: str) -> dict:
    """The dynamic-security document: every account with its role; deny whatever no role allows."""
    roles: dict[str, list[dict]] = {}
    for user in users:
        acls = {"device": lambda u=user: device_acls(u), "ingest": lambda: ingest_acls(share_group),
                "admin": admin_acls}[user.kind]()
        roles[role_name(user)] = acls
    return {
        "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": False,
                             "subscribe": False, "unsubscribe": True},
        "clients": [{"username": u.username, "roles": [{"rolename": role_name(u)}]}
                    for u in sorted(users, key=lambda u: u.username)],
        "groups": [],
        "roles": [{"rolename": name, "acls": acls} for name, acls in sorted(roles.items())],
    }


def render_acl(users: list[BrokerUser], share_group: str) -> str:
    return json.dumps(acl_state(users, share_group), indent=2) + "\n"


def render_passwd(users: list[BrokerUser]) -> str:
    return "".join(f"{u.username}:{u.password_hash}\n" for u in sorted(users, key=lambda u: u.username))


def _check_unique(users: list[BrokerUser]) -> None:
    seen: set[str] = set()
    for user in users:
        if user.username in seen:
            raise ConfigError(f"broker: two accounts named {user.username!r} (a device and an ingest worker?)")
        seen.add(user.username)


def admin_user(files: BrokerFiles, passwd_now: dict[str, str]) -> BrokerUser:
    """The local admin account; its password is made once and kept next to the config (0600)."""
    if not files.admin_secret.is_file():
        _write_private(files.admin_secret, secrets.token_urlsafe(32))
    password = files.admin_secret.read_text().strip()
    current = passwd_now.get(ADMIN_USERNAME)
    stored = current if current and verify_password(password, current) else hash_password(password)
    return BrokerUser(ADMIN_USERNAME, stored, None, None, kind="admin")


def read_passwd(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return dict(line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)


def write_broker_files(files: BrokerFiles, *, users: list[BrokerUser], settings: BrokerSettings,
                       hosts: list[str] | None = None) -> tuple[BrokerFiles, list[str]]:
    """(Re)write config, password file and ACL; dev TLS files if none exist. Returns which files changed."""
    files.data_dir.mkdir(parents=True, exist_ok=True)
    files.conf.parent.mkdir(parents=True, exist_ok=True)
    if not files.tls.server_cert.is_file():
        make_dev_tls(files.tls.ca_cert.parent, hosts=hosts)
    accounts = [*users, admin_user(files, read_passwd(files.passwd))]
    _check_unique(accounts)
    plugin = settings.acl_plugin or find_acl_plugin()
    wanted = {files.passwd: render_passwd(accounts), files.acl: render_acl(accounts, settings.share_group),
              files.conf: render_conf(settings, files, plugin)}
    changed = [path.name for path, text in wanted.items() if _write_private(path, text)]
    _share_with_broker(files, settings.run_as)
    log.info("broker files for %d device(s) and %d ingest worker(s) in %s%s",
             sum(u.kind == "device" for u in users), sum(u.kind == "ingest" for u in users),
             files.conf.parent, f" (changed: {', '.join(changed)})" if changed else " (unchanged)")
    return files, changed


def _write_private(path: Path, text: str) -> bool:
    """Replace `path` atomically (mode 0600) when its content differs; True if it was written."""
    if path.is_file() and path.read_text() == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    tmp.touch(mode=0o600)
    tmp.write_text(text)
    os.replace(tmp, path)  # mosquitto never reads a half-written file on SIGHUP
    return True


def _share_with_broker(files: BrokerFiles, run_as: str | None) -> None:
    """Run as root for a packaged broker that drops to `run_as`: it must read the password file and
    ACL (group-readable, no more) and write its data directory (persistence, ACL saves)."""
    if os.geteuid() != 0 or not run_as or run_as == "root":
        return
    try:
        account = pwd.getpwnam(run_as)
    except KeyError:
        raise ConfigError(f"cloud.broker_run_as: no user {run_as!r} on this host") from None
    os.chown(files.data_dir, account.pw_uid, account.pw_gid)
    files.data_dir.chmod(0o750)
    for path in (files.passwd, files.acl):
        os.chown(path, 0, account.pw_gid)
        path.chmod(0o640)


def broker_pid(files: BrokerFiles) -> int | None:
    """The pid of a running broker that wrote files.pid, else None."""
    try:
        pid = int(files.pid.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def reload_broker(files: BrokerFiles) -> bool:
    """SIGHUP the running broker so it re-reads its password file; False if none runs."""
    pid = broker_pid(files)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError:
        return False
    log.info("broker (pid %s) re-read its password file", pid)
    return True
