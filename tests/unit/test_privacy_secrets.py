"""Secrets come from the environment or a file, never the YAML; production refuses dev values."""

from __future__ import annotations

import threading

import pytest

from cloud_sync.ingest_service import database_engine
from edge_agent.uplink.service import run_sync
from storelens.config import parse_config
from storelens.errors import ConfigError
from storelens.secrets import read_secret, require_tls


@pytest.mark.parametrize(
    ("mode", "env_value", "file_value", "required", "expected"),
    [
        ("development", "from-env", None, True, "from-env"),
        ("development", "from-env", "from-file\n", True, "from-file"),  # a named file wins, trimmed
        ("development", None, None, False, None),
        ("development", None, None, True, ConfigError("no secret given (set $T_SECRET or its _file setting)")),
        ("production", "storelens-dev", None, True, ConfigError("development/default password is refused")),
        ("production", None, None, False, ConfigError("no secret given")),
        ("production", "k7#Qx9!long-random", None, True, "k7#Qx9!long-random"),
    ],
)
def test_read_secret(monkeypatch, tmp_path, mode, env_value, file_value, required, expected) -> None:
    if env_value is None:
        monkeypatch.delenv("T_SECRET", raising=False)
    else:
        monkeypatch.setenv("T_SECRET", env_value)
    path = None
    if file_value is not None:
        path = tmp_path / "secret"
        path.write_text(file_value)
    if isinstance(expected, ConfigError):
        with pytest.raises(ConfigError, match=str(expected).replace("$", r"\$").replace("(", r"\(").replace(")", r"\)")):
            read_secret(env="T_SECRET", file=path, what="t", mode=mode, required=required)
    else:
        assert read_secret(env="T_SECRET", file=path, what="t", mode=mode, required=required) == expected


def test_unreadable_secret_file_is_one_line(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"sync.mqtt_password: cannot read secret file .*/nope"):
        read_secret(env="X", file=tmp_path / "nope", what="sync.mqtt_password", mode="development", required=True)


def test_production_refuses_plain_mqtt() -> None:
    require_tls(tls=False, mode="development", what="sync")
    with pytest.raises(ConfigError, match="plain-text MQTT is refused in production"):
        require_tls(tls=False, mode="production", what="sync")


def test_sync_in_production_with_the_dev_password_stops_before_connecting(monkeypatch) -> None:
    monkeypatch.setenv("STORELENS_MQTT_PASSWORD", "storelens-dev")
    monkeypatch.setenv("STORELENS_REDIS_PASSWORD", "a-real-redis-secret")
    cfg = parse_config({"mode": "production", "sync": {"redis_url": "redis://127.0.0.1:1/0"}})
    with pytest.raises(ConfigError, match="sync.mqtt_password: a development/default password is refused"):
        run_sync(cfg, threading.Event())


def test_database_password_in_the_config_is_refused() -> None:
    cfg = parse_config({"cloud": {"database_url": "postgresql+psycopg://ingest:hunter2@db/storelens"}})
    with pytest.raises(ConfigError, match="STORELENS_DB_PASSWORD") as err:
        database_engine(cfg)
    assert "hunter2" not in str(err.value)


def test_redis_password_in_the_config_is_refused() -> None:
    from edge_agent.buffer import open_buffer

    cfg = parse_config({"sync": {"redis_url": "redis://:s3cr3t@127.0.0.1:6379/0"}})
    with pytest.raises(ConfigError, match="sync.redis_url: put the Redis password in") as err:
        open_buffer(cfg)
    assert "s3cr3t" not in str(err.value)
