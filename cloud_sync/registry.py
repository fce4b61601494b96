"""Device registry: stores, devices and their MQTT credentials.

A device's password is random, shown once to the technician, and stored only as a hash in the
Mosquitto `$7$` format (PBKDF2-SHA512), so the same hash goes into the database and into the
broker's password file. Revoking a device removes it from the password file and ACL on the next
`write_broker_files`, and ingest refuses its messages at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from sqlmodel import Session, select

from cloud_sync.db.models import Device, Store, utcnow
from storelens.errors import StorelensError

log = logging.getLogger(__name__)

HASH_ITERATIONS = 10_000


class RegistryError(StorelensError):
    """A registry request that cannot be honoured (unknown store, duplicate device, ...)."""


@dataclass(frozen=True)
class BrokerUser:
    username: str
    password_hash: str
    store_id: str | None  # None: the ingest user, who may read every store
    device_id: str | None


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


def add_store(session: Session, *, store_id: str, name: str = "", timezone: str = "UTC") -> Store:
    if session.get(Store, store_id):
        raise RegistryError(f"store {store_id!r} already exists")
    store = Store(store_id=store_id, name=name or store_id, timezone=timezone)
    session.add(store)
    return store


def add_device(session: Session, *, store_id: str, device_id: str, name: str = "") -> tuple[Device, str]:
    """Register a device and issue its credentials; returns (device, password shown once)."""
    if session.get(Store, store_id) is None:
        raise RegistryError(f"store {store_id!r} is not registered (storelens cloud store add {store_id})")
    if session.get(Device, device_id):
        raise RegistryError(f"device {device_id!r} already exists")
    password = secrets.token_urlsafe(24)
    device = Device(device_id=device_id, store_id=store_id, name=name, mqtt_username=device_id,
                    password_hash=hash_password(password))
    session.add(device)
    return device, password


def issue_credentials(session: Session, *, device_id: str) -> str:
    """A new password for a device (rotation or re-activation after revoke); the old one stops working."""
    device = _device(session, device_id)
    password = secrets.token_urlsafe(24)
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
    """Active (non-revoked) devices as broker users."""
    return [BrokerUser(d.mqtt_username, d.password_hash, d.store_id, d.device_id)
            for d in list_devices(session) if d.revoked_at is None]


def _device(session: Session, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise RegistryError(f"device {device_id!r} is not registered")
    return device
