"""Broker accounts handed over as plain logins (Ansible Vault -> `storelens cloud broker config
--logins-stdin`), for a broker host that has no access to the registry database.

The JSON document: {"devices": [{"store_id", "device_id", "password"}], "ingest": [{"username",
"password"}]}. Each password is hashed as the registry hashes it; a hash already in the broker's
password file is kept when it still matches, so an unchanged fleet renders byte-identical files.
Errors name the entry and the rule, never a password.
"""

from __future__ import annotations

import json
import re

from cloud_sync.registry import (
    INGEST_USERNAME,
    MIN_GIVEN_PASSWORD_CHARS,
    BrokerUser,
    hash_password,
    verify_password,
)
from storelens.errors import InputError

IDENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # storelens.wire.Ident


def _password(entry: dict, who: str) -> str:
    password = entry.get("password")
    if not isinstance(password, str) or len(password) < MIN_GIVEN_PASSWORD_CHARS:
        raise InputError(f"broker logins: {who}: password missing or shorter than {MIN_GIVEN_PASSWORD_CHARS} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in password):
        raise InputError(f"broker logins: {who}: password contains whitespace or control characters")
    return password


def _hash(username: str, password: str, passwd_now: dict[str, str]) -> str:
    current = passwd_now.get(username)
    return current if current and verify_password(password, current) else hash_password(password)


def _device(entry: dict, passwd_now: dict[str, str]) -> BrokerUser:
    store_id, device_id = entry.get("store_id"), entry.get("device_id")
    if not (isinstance(store_id, str) and IDENT.match(store_id) and isinstance(device_id, str) and IDENT.match(device_id)):
        raise InputError(f"broker logins: device entry {device_id!r} of store {store_id!r}: ids must match {IDENT.pattern}")
    password = _password(entry, f"device {device_id}")
    return BrokerUser(device_id, _hash(device_id, password, passwd_now), store_id, device_id)


def _ingest(entry: dict, passwd_now: dict[str, str]) -> BrokerUser:
    username = entry.get("username")
    if not (isinstance(username, str) and INGEST_USERNAME.match(username)):
        raise InputError(f"broker logins: ingest entry {username!r}: name must match {INGEST_USERNAME.pattern}")
    password = _password(entry, f"ingest account {username}")
    return BrokerUser(username, _hash(username, password, passwd_now), None, None, kind="ingest")


def logins_from_json(text: str, passwd_now: dict[str, str]) -> list[BrokerUser]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InputError(f"broker logins: standard input is not JSON ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("devices", []), list) or not isinstance(doc.get("ingest", []), list):
        raise InputError('broker logins: expected {"devices": [...], "ingest": [...]}')
    users = [_device(e if isinstance(e, dict) else {}, passwd_now) for e in doc.get("devices", [])]
    users += [_ingest(e if isinstance(e, dict) else {}, passwd_now) for e in doc.get("ingest", [])]
    if not any(u.kind == "ingest" for u in users):
        raise InputError("broker logins: no ingest account (no worker could read the fleet's windows)")
    return users
