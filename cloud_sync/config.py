"""Config sections `sync` (edge buffer + publisher) and `cloud` (ingest + database)."""

from __future__ import annotations

from pydantic import Field

from storelens.configbase import StrictModel


class SyncConfig(StrictModel):
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Edge buffer Redis (password via STORELENS_REDIS_PASSWORD).")
    mqtt_host: str = Field("127.0.0.1", description="MQTT broker host.")
    mqtt_port: int = Field(8883, ge=1, le=65535, description="MQTT broker port.")


class CloudConfig(StrictModel):
    database_url: str = Field("sqlite:///storelens.db", description="SQLAlchemy URL of the cloud database.")
