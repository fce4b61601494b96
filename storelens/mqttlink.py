"""One paho-mqtt 2.x client (CallbackAPIVersion.VERSION2, MQTT 5) with TLS, credentials and backoff.

MQTT 5 because a v5 broker answers a publish it refused (ACL) with a failing PUBACK reason code,
where v3.1.1 would acknowledge and silently drop it. The link is only "up" after a successful
CONNACK: a refused CONNACK (wrong password) is logged once and retried quietly with backoff.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from storelens.linkstate import LinkState
from storelens.retry import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkSettings:
    host: str
    port: int
    client_id: str
    username: str
    password: str | None
    tls: bool = True
    ca_file: Path | None = None
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 120.0
    persistent_session_s: int = 0  # >0: broker keeps the session (queued QoS 1) this long offline
    receive_max: int | None = None
    manual_ack: bool = False


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


class MqttLink:
    """Owns the paho client and its network thread; `state` says whether the broker accepted us."""

    def __init__(self, settings: LinkSettings, *, will: Will | None = None,
                 on_up: Callable[[mqtt.Client], None] | None = None) -> None:
        self.settings = settings
        self.state = LinkState(f"MQTT broker {settings.host}:{settings.port} (user {settings.username})", log)
        self.on_up = on_up
        self.generation = 0  # counts successful connections: packet ids are only valid within one
        self._stopping = False
        self._backoff = Backoff(max(0.1, settings.reconnect_min_s), max(settings.reconnect_min_s, settings.reconnect_max_s))
        self.client = self._make_client(will)

    def _make_client(self, will: Will | None) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=mqtt.MQTTv5,
                             manual_ack=s.manual_ack)
        client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(ca_certs=str(s.ca_file) if s.ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
        if will:
            client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
        client.reconnect_delay_set(self._backoff.first_s, self._backoff.max_s)  # until the first failure
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.persistent_session_s
        if self.settings.receive_max:
            props.ReceiveMaximum = self.settings.receive_max
        return props

    def start(self) -> None:
        self.client.connect_async(self.settings.host, self.settings.port, keepalive=30,
                                  clean_start=self.settings.persistent_session_s == 0,
                                  properties=self._connect_properties())
        self.client.loop_start()

    def stop(self, *, end_session: bool = False) -> None:
        """Disconnect; `end_session` also tells the broker to drop our persistent session now."""
        self._stopping = True
        props = None
        if end_session:
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
        self.client.disconnect(properties=props)
        self.client.loop_stop()

    def _on_connect(self, client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            hint = " (check the username/password)" if reason_code.value in (0x86, 0x87) else ""
            self.state.failed(f"connection refused: {reason_code}{hint}")
            return
        self.generation += 1
        self._backoff.reset()
        self.state.recovered()
        if self.on_up:
            self.on_up(client)

    def _on_disconnect(self, client, _userdata, _flags, reason_code, _props) -> None:
        if self.state.up and not self._stopping:
            self.state.failed(f"disconnected: {reason_code}")
        self._next_retry(client)

    def _on_connect_fail(self, client, _userdata) -> None:
        # paho calls this inside its `except OSError`: the exception in hand says why.
        self.state.failed(connect_failure(sys.exc_info()[1], self.settings))
        self._next_retry(client)

    def _next_retry(self, client: mqtt.Client) -> None:
        # paho doubles its own delay without jitter; a fixed min = max makes it wait exactly ours,
        # so devices that lost the broker together do not all knock again together.
        delay = self._backoff.next()
        client.reconnect_delay_set(delay, delay)


def connect_failure(exc: BaseException | None, settings: LinkSettings) -> str:
    """Why a connection attempt failed, in words a technician can act on. A certificate the CA file
    does not vouch for is not a broker that is down, and must not read like one."""
    where = f"{settings.host}:{settings.port}"
    ca = f"CA file {settings.ca_file}" if settings.ca_file else "the system CA store"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"TLS certificate verification failed for {where}: {exc.verify_message or exc.reason} "
                f"(checked against {ca}; is it the CA that signed the broker's certificate, and is "
                f"{settings.host} a name on that certificate?)")
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {exc.reason or exc} (is this port the broker's TLS listener?)"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection to {where} refused (broker down, or the wrong port?)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {settings.host}: {exc.strerror or exc}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer from {where} (broker down or unreachable: network, firewall?)"
    detail = f": {exc}" if exc else ""
    return f"cannot connect to {where} (broker down or unreachable){detail}"

