"""Config section `sync`: the edge buffer and the off-peak MQTT upload (edge_agent/uplink).

Secrets never live here: passwords come from the environment or from a file named here
(see storelens/secrets.py), so a YAML file can be shared and logged safely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from storelens.config.base import StrictModel

_RANGE = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
DAY_MINUTES = 24 * 60


@dataclass(frozen=True)
class TimeRange:
    start_min: float  # minutes after local midnight (a splayed start may fall between whole minutes)
    end_min: float  # 1440 means midnight at the end of the day

    @property
    def always(self) -> bool:
        return self.start_min == 0 and self.end_min == DAY_MINUTES

    @property
    def minutes(self) -> float:
        """Length of the range (crossing midnight included)."""
        return (self.end_min - self.start_min) % DAY_MINUTES or DAY_MINUTES

    def delayed(self, minutes: float) -> TimeRange:
        """The same range starting `minutes` later (must be shorter than the range); always stays always."""
        if self.always or minutes <= 0:
            return self
        return TimeRange((self.start_min + minutes) % DAY_MINUTES, self.end_min)

    def contains(self, minute: float) -> bool:
        if self.always:
            return True
        if self.start_min < self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min  # crosses midnight


def parse_range(text: str) -> TimeRange:
    """'22:00-06:00' -> TimeRange; ValueError naming the text when it is malformed."""
    match = _RANGE.match(text.strip())
    if not match:
        raise ValueError(f"off-peak range {text!r} is not 'HH:MM-HH:MM'")
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
        raise ValueError(f"off-peak range {text!r} has an impossible time")
    start, end = sh * 60 + sm, eh * 60 + em
    if start == end:
        raise ValueError(f"off-peak range {text!r} is empty (use 00:00-24:00 for always)")
    return TimeRange(start, end)


class SyncConfig(StrictModel):
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Edge buffer Redis, without password (password via STORELENS_REDIS_PASSWORD or redis_password_file).")
    redis_password_file: Path | None = Field(None, description="File holding the Redis password (else $STORELENS_REDIS_PASSWORD).")
    redis_appendfsync: Literal["always"] = Field(
        "always",
        description="AOF fsync policy of the edge buffer Redis: always, so a window counts as stored only once it "
        "is on disk. The Redis this box launches (demo, Ansible) is configured with it, and `edge run` switches a "
        "running Redis found on everysec to always.",
    )
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
    offpeak_splay_minutes: float = Field(
        30.0, ge=0, le=720,
        description="Each device starts its upload window up to this many minutes late, by a fixed amount drawn "
        "from a hash of its device_id, so a chain's boxes in one time zone do not all connect at 22:00 sharp. "
        "Must be shorter than every off-peak range; 0 = no splay.",
    )
    bandwidth_bytes_per_s: int = Field(64 * 1024, ge=0, description="Upload cap in payload bytes per second (0 = unlimited).")
    batch_size: int = Field(100, ge=1, le=10_000, description="Windows published per batch before waiting for PUBACKs.")
    ack_timeout_s: float = Field(30.0, gt=0, description="How long to wait for a batch's PUBACKs before retrying it.")
    receipt_timeout_s: float = Field(
        300.0, gt=0,
        description="A window the broker acknowledged stays in the buffer until ingest's receipt says it is committed; "
        "without a receipt this long after its send it is sent again (the cloud stores it once).",
    )
    receipt_timeout_max_s: float = Field(
        7200.0, gt=0,
        description="Each further resend of one window waits twice as long as the last, up to this (jittered).",
    )
    hold_max_windows: int = Field(
        2000, ge=1,
        description="While Redis refuses writes (down, disk full), the edge app holds at most this many windows in "
        "memory; beyond it the oldest held window is dropped, counted and logged.",
    )
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

    @model_validator(mode="after")
    def _splay_fits(self) -> SyncConfig:
        for item in self.offpeak:
            r = parse_range(item)
            if not r.always and self.offpeak_splay_minutes >= r.minutes:
                raise ValueError(f"offpeak_splay_minutes {self.offpeak_splay_minutes:g} does not fit in the "
                                 f"off-peak range {item!r} ({r.minutes} minutes): a late device would never upload")
        return self
