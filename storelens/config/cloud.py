"""Config section `cloud`: ingest, broker and database (cloud_sync).

Secrets never live here: passwords come from the environment or from a file named here.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from storelens.config.base import StrictModel
from storelens.paths import data_dir


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
