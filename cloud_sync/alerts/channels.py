"""Delivering a batch of alert events: a JSON POST to a webhook, or one e-mail over SMTP.

A batch is everything due for one destination in one round, so an outage of many stores is one
message. Failures raise DeliveryError; the service keeps the events due and tries again next round.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import urlsplit

from storelens.config.alerts import EmailConfig, SmtpConfig, WebhookConfig
from storelens.errors import ConfigError

log = logging.getLogger(__name__)

PAYLOAD_VERSION = 1
EVENT_WORDS = {"firing": "FIRING", "resolved": "RESOLVED", "reminder": "STILL FIRING"}


class DeliveryError(Exception):
    """One delivery failed (receiver down, refused, timed out); the message says which and why."""


@dataclass(frozen=True)
class Event:
    event: str  # firing / resolved / reminder
    key: str
    kind: str
    store_id: str
    device_id: str
    camera_id: str
    problem: str
    summary: str
    advice: str
    since: datetime

    def as_json(self) -> dict:
        return {"event": self.event, "key": self.key, "kind": self.kind, "store_id": self.store_id,
                "device_id": self.device_id or None, "camera_id": self.camera_id or None, "problem": self.problem,
                "summary": self.summary, "advice": self.advice, "since": self.since.isoformat()}


def payload(route: str, events: list[Event], now: datetime, dashboard_url: str | None) -> dict:
    counts = {e: sum(1 for x in events if x.event == e) for e in EVENT_WORDS}
    return {"source": "storelens", "version": PAYLOAD_VERSION, "route": route, "sent_at": now.isoformat(),
            "summary": ", ".join(f"{n} {word.lower()}" for e, word in EVENT_WORDS.items() if (n := counts[e])),
            "dashboard_url": dashboard_url, "alerts": [e.as_json() for e in events]}


def _env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"{what}: environment variable ${name} is not set")
    return value


def webhook_url(cfg: WebhookConfig) -> str:
    return cfg.url if cfg.url is not None else _env(cfg.url_env, "alerts webhook url_env")


def check_webhook(cfg: WebhookConfig, *, production: bool, where: str) -> None:
    """Production sends alerts only over https, except to a receiver on this host."""
    url = webhook_url(cfg)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: webhook URL must be http(s)://host/..., got {parts.scheme or 'no'} scheme")
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if production and parts.scheme != "https" and not loopback:
        raise ConfigError(f"{where}: production sends alerts to https:// webhooks only (or to this host)")


def post_webhook(cfg: WebhookConfig, body: dict) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "storelens-alerts/1"}
    if cfg.secret_env:
        secret = _env(cfg.secret_env, "alerts webhook secret_env").encode()
        headers["X-Storelens-Signature"] = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
    url = webhook_url(cfg)
    request = urllib.request.Request(url, data=raw, headers=headers, method="POST")
    host = urlsplit(url).netloc  # never the path: chat webhooks keep their secret there
    try:
        with urllib.request.urlopen(request, timeout=cfg.timeout_s) as response:  # noqa: S310 (checked scheme)
            response.read(1024)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook {host} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"webhook {host} unreachable: {reason}") from None


def email_message(smtp: SmtpConfig, email: EmailConfig, body: dict) -> EmailMessage:
    alerts = body["alerts"]
    message = EmailMessage()
    message["From"], message["To"] = smtp.sender, ", ".join(email.to)
    if len(alerts) == 1:
        a = alerts[0]
        message["Subject"] = f"[storelens] {EVENT_WORDS[a['event']]}: {a['summary']}"[:200]
    else:
        message["Subject"] = f"[storelens] {len(alerts)} alerts: {body['summary']}"
    lines = []
    for a in alerts:
        lines += [f"{EVENT_WORDS[a['event']]}: {a['summary']}", f"  since {a['since']}",
                  f"  what to do: {a['advice']}" if a["event"] != "resolved" else "  back to normal", ""]
    if body.get("dashboard_url"):
        lines.append(f"Dashboard: {body['dashboard_url']}")
    message.set_content("\n".join(lines))
    return message


def send_email(smtp: SmtpConfig, email: EmailConfig, body: dict) -> None:
    message = email_message(smtp, email, body)
    context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
    try:
        client = (smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s, context=context) if smtp.ssl
                  else smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s))
        with client:
            if smtp.starttls and not smtp.ssl:
                client.starttls(context=context)
            if smtp.username:
                client.login(smtp.username, _env(smtp.password_env, "alerts.smtp.password_env"))
            client.send_message(message)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"SMTP {smtp.host}:{smtp.port}: {exc}") from None
