"""Device registry: stores, devices and their MQTT credentials.

A device's password is random, shown once to the technician, or given by the fleet's secret store
(Ansible Vault, `device add --password-stdin`); either way it is stored only as a hash in the
Mosquitto `$7$` format (PBKDF2-SHA512), so the same hash goes into the database and into the
broker's password file. Revoking a device removes it from the password file and ACL on the next
`write_broker_files`, and ingest refuses its messages at once.

Each ingest worker has its own broker login too (IngestAccount, `storelens cloud worker add`): the
broker uses a login as the MQTT client id, so no two clients can share one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass

from sqlmodel import Session, select

from cloud_sync.db.models import Device, IngestAccount, Store, utcnow
from storelens.errors import InputError

log = logging.getLogger(__name__)

HASH_ITERATIONS = 10_000
MIN_GIVEN_PASSWORD_CHARS = 12  # issued passwords have 32; a given one must not be trivially guessable


class RegistryError(InputError):
    """A registry request that cannot be honoured (unknown store, duplicate device, ...)."""


# The broker's local admin (updates a running broker's ACL): a dot keeps it out of the device id space.
ADMIN_USERNAME = "storelens.broker-admin"
INGEST_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class BrokerUser:
    username: str
    password_hash: str
    store_id: str | None  # None: an ingest worker (reads every store) or the broker admin
    device_id: str | None
    kind: str = ""  # "device" | "ingest" | "admin"; empty: "device" when it has a store, else "ingest"

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", "device" if self.store_id else "ingest")
        if self.kind not in ("device", "ingest", "admin"):
            raise ValueError(f"broker account {self.username!r}: unknown kind {self.kind!r}")


def hash_password(password: str, *, iterations: int = HASH_ITERATIONS) -> str:
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, kind, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "7":
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(base64.b64encode(got).decode(), digest)


def ensure_store(session: Session, *, store_id: str, name: str = "", timezone: str = "UTC") -> tuple[Store, str]:
    """Register a store or bring its name/time zone in line; returns (store, "added"|"updated"|"unchanged")."""
    store = session.get(Store, store_id)
    if store is None:
        return add_store(session, store_id=store_id, name=name, timezone=timezone), "added"
    wanted = {"name": name or store.name, "timezone": timezone}
    if all(getattr(store, key) == value for key, value in wanted.items()):
        return store, "unchanged"
    for key, value in wanted.items():
        setattr(store, key, value)
    return store, "updated"


def add_store(session: Session, *, store_id: str, name: str = "", timezone: str = "UTC") -> Store:
    if session.get(Store, store_id):
        raise RegistryError(f"store {store_id!r} already exists")
    store = Store(store_id=store_id, name=name or store_id, timezone=timezone)
    session.add(store)
    return store


def add_device(session: Session, *, store_id: str, device_id: str, name: str = "") -> tuple[Device, str]:
    """Register a device and issue its credentials; returns (device, password shown once)."""
    _require_store(session, store_id)
    if session.get(Device, device_id):
        raise RegistryError(f"device {device_id!r} already exists")
    password = _issued_password()
    return _new_device(session, store_id=store_id, device_id=device_id, name=name, password=password), password


def set_device_password(session: Session, *, store_id: str, device_id: str, password: str,
                        name: str = "") -> tuple[Device, str]:
    """Register a device with a password of record (Ansible Vault), idempotently.

    Returns (device, "added" | "rotated" | "unchanged"): the same password again changes nothing,
    another one replaces it. A revoked device stays revoked (a stolen box must not come back by
    re-running a playbook), and a device never silently moves to another store.
    """
    _check_given_password(f"device {device_id!r}", password)
    device = session.get(Device, device_id)
    if device is None:
        _require_store(session, store_id)
        return _new_device(session, store_id=store_id, device_id=device_id, name=name, password=password), "added"
    if device.store_id != store_id:
        raise RegistryError(f"device {device_id!r} is registered to store {device.store_id!r}, not {store_id!r}")
    if device.revoked_at is not None:
        raise RegistryError(f"device {device_id!r} is revoked; re-activate it first "
                            f"(storelens cloud device rotate {device_id})")
    if verify_password(password, device.password_hash):
        return device, "unchanged"
    device.password_hash = hash_password(password)
    log.info("device %s of store %s: password rotated", device_id, store_id)
    return device, "rotated"


def _check_given_password(who: str, password: str) -> None:
    # Messages name the account and the rule, never the password.
    if len(password) < MIN_GIVEN_PASSWORD_CHARS:
        raise RegistryError(f"{who}: password too short ({len(password)} characters; "
                            f"at least {MIN_GIVEN_PASSWORD_CHARS})")
    if any(ch.isspace() or not ch.isprintable() for ch in password):
        raise RegistryError(f"{who}: password contains whitespace or control characters")


def issue_credentials(session: Session, *, device_id: str) -> str:
    """A new password for a device (rotation or re-activation after revoke); the old one stops working."""
    device = _device(session, device_id)
    password = _issued_password()
    device.password_hash = hash_password(password)
    device.revoked_at = None
    return password


def revoke_device(session: Session, *, device_id: str) -> Device:
    device = _device(session, device_id)
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        log.warning("device %s of store %s revoked", device_id, device.store_id)
    return device


def list_devices(session: Session, *, store_id: str | None = None) -> list[Device]:
    query = select(Device).order_by(Device.store_id, Device.device_id)
    if store_id:
        query = query.where(Device.store_id == store_id)
    return list(session.exec(query))


def broker_users(session: Session) -> list[BrokerUser]:
    """Active (non-revoked) devices and ingest workers as broker users."""
    devices = [BrokerUser(d.mqtt_username, d.password_hash, d.store_id, d.device_id)
               for d in list_devices(session) if d.revoked_at is None]
    workers = [BrokerUser(a.username, a.password_hash, None, None, kind="ingest")
               for a in list_ingest_accounts(session) if a.revoked_at is None]
    return devices + workers


def set_ingest_password(session: Session, *, username: str, password: str | None = None) -> tuple[str, str]:
    """Create or re-key an ingest worker's broker login; returns (password, "added"|"rotated"|"unchanged").

    Without `password` a random one is issued (shown once); a given one (Ansible) is idempotent: the
    same password again changes nothing. A revoked account comes back only through this call.
    """
    if not INGEST_USERNAME.match(username):
        raise RegistryError(f"ingest account {username!r}: use letters, digits, '.', '_' or '-' (at most 128)")
    if username == ADMIN_USERNAME or session.exec(select(Device).where(Device.mqtt_username == username)).first():
        raise RegistryError(f"ingest account {username!r}: that name is already a broker login")
    given = password is not None
    if given:
        _check_given_password(f"ingest account {username!r}", password)
    password = password if given else _issued_password()
    account = session.get(IngestAccount, username)
    if account is None:
        session.add(IngestAccount(username=username, password_hash=hash_password(password)))
        return password, "added"
    if given and account.revoked_at is None and verify_password(password, account.password_hash):
        return password, "unchanged"
    account.password_hash, account.revoked_at = hash_password(password), None
    log.info("ingest account %s: password rotated", username)
    return password, "rotated"


def revoke_ingest_account(session: Session, *, username: str) -> IngestAccount:
    account = session.get(IngestAccount, username)
    if account is None:
        raise RegistryError(f"ingest account {username!r} is not registered")
    if account.revoked_at is None:
        account.revoked_at = utcnow()
        log.warning("ingest account %s revoked", username)
    return account


def list_ingest_accounts(session: Session) -> list[IngestAccount]:
    return list(session.exec(select(IngestAccount).order_by(IngestAccount.username)))


def _require_store(session: Session, store_id: str) -> None:
    if session.get(Store, store_id) is None:
        raise RegistryError(f"store {store_id!r} is not registered (storelens cloud store add {store_id})")


def _device(session: Session, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise RegistryError(f"device {device_id!r} is not registered")
    return device


def _new_device(session: Session, *, store_id: str, device_id: str, name: str, password: str) -> Device:
    if session.get(IngestAccount, device_id) is not None:
        raise RegistryError(f"device {device_id!r}: that name is already an ingest worker's broker login")
    # The MQTT user is the device id: a box's sync logs in as its device_id unless told otherwise.
    device = Device(device_id=device_id, store_id=store_id, name=name, mqtt_username=device_id,
                    password_hash=hash_password(password))
    session.add(device)
    return device


def _issued_password() -> str:
    return secrets.token_urlsafe(24)
