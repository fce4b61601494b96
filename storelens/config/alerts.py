"""Config section `alerts`: what `storelens cloud alerts run` watches and whom it tells.

The conditions use the dashboard's own rules and thresholds (dashboard.heartbeat_timeout_s,
dashboard.sync_overdue_h, the face-health limits), so an alert and a red tag on the devices page
always agree. Secrets never live here: the SMTP password, a webhook's signing secret or a webhook
URL that carries a token come from environment variables named here. For example:

    alerts:
      dashboard_url: https://dashboard.example.org/devices
      smtp: {host: smtp.example.org, port: 587, starttls: true, username: storelens, sender: alerts@example.org}
      routes:
        - {name: ops, stores: ["*"], email: {to: [field-ops@example.org]}}
        - name: berlin
          stores: [ber-001, ber-002]
          kinds: [device_offline, camera_problem]
          webhook: {url_env: BERLIN_CHAT_WEBHOOK, secret_env: BERLIN_HOOK_SECRET}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from storelens.config.base import StrictModel

ENV_NAME = r"^[A-Z_][A-Z0-9_]{0,63}$"
KINDS = ("device_offline", "sync_overdue", "camera_problem", "dead_letters")
Kind = Literal["device_offline", "sync_overdue", "camera_problem", "dead_letters"]


class WebhookConfig(StrictModel):
    url: str | None = Field(None, description="URL the JSON POST goes to (https in production, except loopback).")
    url_env: str | None = Field(
        None, pattern=ENV_NAME,
        description="Environment variable holding the URL instead (chat webhooks carry their secret in the URL).")
    secret_env: str | None = Field(
        None, pattern=ENV_NAME,
        description="Environment variable with a shared secret: each POST then carries "
        "X-Storelens-Signature: sha256=<hex HMAC-SHA256 of the body>.")
    timeout_s: float = Field(10.0, gt=0, le=120, description="Give up one POST after this long (retried next round).")

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or url_env")
        return self


class EmailConfig(StrictModel):
    to: list[str] = Field(..., min_length=1, description="Recipients' addresses.")


class SmtpConfig(StrictModel):
    host: str = Field("127.0.0.1", description="SMTP server (the organisation's relay).")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587 submission, 465 with ssl, 25 relay).")
    starttls: bool = Field(True, description="Upgrade the connection with STARTTLS (certificate verified).")
    ssl: bool = Field(False, description="Connect with TLS from the start (SMTPS, usually port 465).")
    ca_file: Path | None = Field(None, description="CA certificate to verify the server with (default: the system's).")
    username: str | None = Field(None, description="Log in as this user (password from password_env).")
    password_env: str = Field("STORELENS_SMTP_PASSWORD", pattern=ENV_NAME,
                              description="Environment variable with the SMTP password.")
    sender: str = Field("storelens@localhost", description="From: address of alert e-mails.")
    timeout_s: float = Field(20.0, gt=0, le=300, description="Give up one delivery after this long.")


class RouteConfig(StrictModel):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_-]{1,64}$",
                      description="Route name; what was sent is remembered per route, so keep it stable.")
    stores: list[str] = Field(["*"], min_length=1, description="Store ids this route covers; '*' for every store.")
    kinds: list[Kind] = Field(list(KINDS), min_length=1, description=f"Alert kinds to send: {', '.join(KINDS)}.")
    webhook: WebhookConfig | None = Field(None, description="POST each batch of alerts as JSON here.")
    email: EmailConfig | None = Field(None, description="E-mail each batch of alerts (via alerts.smtp).")

    @model_validator(mode="after")
    def _somewhere(self) -> RouteConfig:
        if self.webhook is None and self.email is None:
            raise ValueError("a route needs a webhook, an email, or both")
        return self

    def covers(self, kind: str, store_id: str) -> bool:
        return kind in self.kinds and ("*" in self.stores or store_id in self.stores)


class AlertsConfig(StrictModel):
    interval_s: float = Field(60.0, ge=5, le=3600, description="Seconds between two evaluations of the database.")
    routes: list[RouteConfig] = Field(default_factory=list, description="Who is told about which stores' alerts.")
    smtp: SmtpConfig = Field(default_factory=SmtpConfig, description="Mail server for e-mail routes.")
    max_per_hour: int = Field(
        12, ge=1, le=1000, description="At most this many messages per destination per hour; alerts due beyond "
        "that wait and go out together in the next allowed message (an outage of many stores is one message).")
    refire_after_s: float = Field(
        900.0, ge=0, description="An alert that recovers and fires again sooner than this after its last 'firing' "
        "message waits (a flapping camera is not a message every minute).")
    remind_after_h: float = Field(24.0, ge=0, description="Repeat a still-firing alert after this long (0 = never).")
    dead_letter_burst: int = Field(
        20, ge=1, description="This many dead letters from one store within dead_letter_window_min is an alert.")
    dead_letter_window_min: float = Field(15.0, gt=0, le=1440, description="Window of the dead-letter count.")
    include_seeded: bool = Field(False, description="Also alert on synthetic (seeded) demo stores.")
    dashboard_url: str | None = Field(None, description="Dashboard address, linked from each message.")

    @model_validator(mode="after")
    def _unique_names(self) -> AlertsConfig:
        names = [r.name for r in self.routes]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise ValueError(f"route names must be unique: {', '.join(doubles)}")
        return self
