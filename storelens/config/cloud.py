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
    ingest_username: str = Field(
        "ingest-{worker}", pattern=r"^[A-Za-z0-9_.{}-]{1,120}$",
        description="MQTT user of an ingest worker; {worker} becomes the worker name (`cloud ingest --worker`, "
        "default: the host name). Every worker has its own account: the broker uses the username as client id, "
        "so two workers sharing one would throw each other off. Password via $STORELENS_INGEST_PASSWORD or "
        "ingest_password_file.",
    )
    ingest_password_file: Path | None = Field(
        None, description="File holding this worker's MQTT password; {worker} in the path becomes the worker name, "
        "so one config serves every worker of a host.")
    share_group: str = Field("ingest", pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Shared-subscription group; workers in one group split the load.")
    batch_size: int = Field(500, ge=1, le=10_000, description="Messages committed per database transaction.")
    dead_letter_payload_days: float = Field(
        30.0, gt=0, le=3650,
        description="Refused messages keep their payload this long for `storelens cloud deadletters replay`; "
        "`deadletters purge` then clears it (the reason and a 1 KiB head stay).")
    batch_wait_s: float = Field(0.2, gt=0, description="Longest wait to fill a batch before committing what arrived.")
    alive_interval_s: float = Field(10.0, gt=0, description="Seconds between an ingest worker's alive pings to devices.")
    broker_dir: Path = Field(
        default_factory=lambda: data_dir() / "broker",
        description="Directory for the generated Mosquitto config, password file, ACL and certificates "
        "(default: broker/ in $STORELENS_HOME).",
    )
    broker_port: int = Field(8883, ge=1, le=65535, description="TLS listener port of the generated Mosquitto config.")
    broker_bind: str = Field("0.0.0.0", description="Address the generated Mosquitto listener binds to.")
    broker_data_dir: Path | None = Field(
        None, description="Where the broker saves its queues and sessions (persistence) and keeps its ACL "
        "(dynamic-security.json); must be writable by the broker's user. Default: data/ in broker_dir.")
    broker_log_file: Path | None = Field(None, description="Broker log file (default: mosquitto.log in broker_dir).")
    broker_pid_file: Path | None = Field(None, description="Broker pid file, used to reload it after a registry "
                                         "change (default: mosquitto.pid in broker_dir).")
    broker_run_as: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
                                      description="User the broker drops to when started as root (unset: mosquitto's "
                                      "own default, `mosquitto`).")
    broker_acl_plugin: Path | None = Field(
        None, description="Mosquitto's dynamic-security plugin, which checks subscriptions as well as deliveries "
        "(default: mosquitto_dynamic_security.so found in the usual library directories).")
    broker_autosave_interval_s: int = Field(
        10, ge=1, le=3600, description="Seconds between the broker's saves of its queues to disk. A window the "
        "broker acknowledged but had not saved is lost on a broker crash until the edge re-sends it (no receipt).")
    broker_max_queued_messages: int = Field(
        100_000, ge=0, description="QoS 1 messages the broker queues per client beyond those in flight (a backlog "
        "for an absent ingest worker); 0 = unlimited (memory bound only). Beyond it the broker drops messages; "
        "the edge re-sends every window that got no receipt.")
    broker_max_inflight_messages: int = Field(
        1000, ge=0, le=65535, description="QoS 1 messages the broker sends a client before waiting for its "
        "acknowledgements (0 = no limit); an ingest worker's receive maximum lowers it further.")
    broker_session_expiry_days: float = Field(
        14.0, gt=0, le=3650, description="Persistent sessions of clients absent this long are dropped "
        "(persistent_client_expiration); above the 7 days an ingest worker asks the broker to keep its session.")
