"""Config sections `sync` (edge buffer + publisher) and `cloud` (ingest, broker, database).

Secrets never live here: passwords come from the environment or from a file named here
(see cloud_sync/secrets.py), so a YAML file can be shared and logged safely.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from cloud_sync.schedule import parse_range
from storelens.configbase import StrictModel
from storelens.paths import data_dir


class SyncConfig(StrictModel):
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Edge buffer Redis, without password (password via STORELENS_REDIS_PASSWORD or redis_password_file).")
    redis_password_file: Path | None = Field(None, description="File holding the Redis password (else $STORELENS_REDIS_PASSWORD).")
    redis_appendfsync: Literal["everysec", "always"] = Field("everysec", description="AOF fsync policy of the Redis this box launches: everysec (<=1 s lost on power cut) or always.")
    stream: str = Field("storelens:aggregates", pattern=r"^[A-Za-z0-9:_-]{1,64}$", description="Redis Stream holding buffered AggregateWindows.")
    buffer_max_bytes: int = Field(256 * 1024 * 1024, ge=4096, description="Buffer bound in payload bytes; when full the oldest windows are dropped, counted and logged.")
    buffer_max_age_days: float = Field(30.0, gt=0, description="Windows buffered longer than this are dropped (counted and logged).")
    mqtt_host: str = Field("127.0.0.1", description="MQTT broker host.")
    mqtt_port: int = Field(8883, ge=1, le=65535, description="MQTT broker port.")
    mqtt_tls: bool = Field(True, description="Use TLS to the broker (required in production mode).")
    mqtt_ca_file: Path | None = Field(None, description="CA certificate that signed the broker's certificate (system CAs if unset).")
    mqtt_username: str | None = Field(None, max_length=128, description="MQTT username (default: the device_id).")
    mqtt_password_file: Path | None = Field(None, description="File holding the MQTT password (else $STORELENS_MQTT_PASSWORD).")
    offpeak: list[str] = Field(
        default_factory=lambda: ["22:00-06:00"],
        min_length=1,
        description="Upload windows 'HH:MM-HH:MM' in the store's local time; may cross midnight; '00:00-24:00' = always.",
    )
    bandwidth_bytes_per_s: int = Field(64 * 1024, ge=0, description="Upload cap in payload bytes per second (0 = unlimited).")
    batch_size: int = Field(100, ge=1, le=10_000, description="Windows published per batch before waiting for PUBACKs.")
    ack_timeout_s: float = Field(30.0, gt=0, description="How long to wait for a batch's PUBACKs before retrying it.")
    heartbeat_s: float = Field(60.0, gt=0, description="Seconds between live health heartbeats.")
    reconnect_min_s: float = Field(1.0, gt=0, description="First reconnect delay to the broker.")
    reconnect_max_s: float = Field(120.0, gt=0, description="Longest reconnect delay (exponential backoff cap).")
    idle_poll_s: float = Field(5.0, gt=0, description="Seconds between looks at the buffer when there is nothing to send.")
    wait_for_ingest_s: float = Field(
        60.0, ge=0,
        description="Drain only while a cloud ingest worker was heard within this many seconds (0 = do not wait). "
        "After a broker restart the broker would acknowledge and drop windows until ingest re-subscribes.",
    )

    @field_validator("offpeak")
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_range(item)  # ValueError names the bad range
        return value


class CloudConfig(StrictModel):
    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{data_dir() / 'storelens.db'}",
        description="SQLAlchemy URL of the cloud database (password via STORELENS_DB_PASSWORD); default: "
        "storelens.db in $STORELENS_HOME, never relative to the working directory.",
    )
    mqtt_host: str = Field("127.0.0.1", description="Broker host ingest connects to.")
    mqtt_port: int = Field(8883, ge=1, le=65535, description="Broker port ingest connects to.")
    mqtt_tls: bool = Field(True, description="Use TLS to the broker (required in production mode).")
    mqtt_ca_file: Path | None = Field(None, description="CA certificate that signed the broker's certificate.")
    ingest_username: str = Field("ingest", max_length=128, description="MQTT user of the ingest workers (password via STORELENS_INGEST_PASSWORD or ingest_password_file).")
    ingest_password_file: Path | None = Field(None, description="File holding the ingest MQTT password.")
    share_group: str = Field("ingest", pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Shared-subscription group; workers in one group split the load.")
    batch_size: int = Field(500, ge=1, le=10_000, description="Messages committed per database transaction.")
    batch_wait_s: float = Field(0.2, gt=0, description="Longest wait to fill a batch before committing what arrived.")
    alive_interval_s: float = Field(10.0, gt=0, description="Seconds between an ingest worker's alive pings to devices.")
    broker_dir: Path = Field(
        default_factory=lambda: data_dir() / "broker",
        description="Directory for the generated Mosquitto config, password file, ACL and certificates "
        "(default: broker/ in $STORELENS_HOME).",
    )
    broker_port: int = Field(8883, ge=1, le=65535, description="TLS listener port of the generated Mosquitto config.")
    broker_bind: str = Field("0.0.0.0", description="Address the generated Mosquitto listener binds to.")
