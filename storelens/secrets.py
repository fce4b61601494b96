"""Secrets (MQTT, Redis, ingest passwords) from the environment or a file, never from YAML or logs.

In production mode a missing secret, or one of the well-known development passwords used by
`storelens demo` and the tests, is refused at start-up rather than discovered in the field.
"""

from __future__ import annotations

import os
from pathlib import Path

from storelens.errors import ConfigError

DEV_PASSWORDS = frozenset({"storelens-dev", "changeme", "password", "secret", "admin", ""})


def read_secret(*, env: str, file: Path | None, what: str, mode: str, required: bool) -> str | None:
    """The secret from `file` if given, else from $env. Production refuses missing or dev values."""
    value = _from_file(file, what) if file else os.environ.get(env)
    if value is None:
        if required or mode == "production":
            raise ConfigError(f"{what}: no secret given (set ${env}" + (" or its _file setting)" if file is None else ")"))
        return None
    if mode == "production" and value in DEV_PASSWORDS:
        raise ConfigError(f"{what}: a development/default password is refused in production mode")
    return value


def ingest_username(cfg, worker: str) -> str:
    """The broker account of ingest worker `worker`: `{worker}` in cloud.ingest_username becomes its name."""
    return cfg.cloud.ingest_username.replace("{worker}", worker)


def ingest_login(cfg, worker: str) -> tuple[str, str]:
    """(username, password) of ingest worker `worker`: its own broker account. `{worker}` in
    cloud.ingest_username and cloud.ingest_password_file becomes the worker name."""
    cloud = cfg.cloud
    file = Path(str(cloud.ingest_password_file).replace("{worker}", worker)) if cloud.ingest_password_file else None
    password = read_secret(env="STORELENS_INGEST_PASSWORD", file=file, what=f"cloud.ingest_password (worker {worker})",
                           mode=cfg.mode, required=True)
    return ingest_username(cfg, worker), password


def _from_file(path: Path, what: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read secret file {path}: {exc.strerror}") from None


def require_tls(*, tls: bool, mode: str, what: str) -> None:
    if mode == "production" and not tls:
        raise ConfigError(f"{what}: plain-text MQTT is refused in production mode (set mqtt_tls: true)")
