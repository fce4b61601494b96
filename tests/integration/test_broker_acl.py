"""A real Mosquitto with the generated config: TLS only, no anonymous, per-device ACLs, shared subs."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest

from tests.servers import INGEST_PASSWORD

pytestmark = pytest.mark.integration


class Probe:
    """A raw paho client recording CONNACK, PUBACK and SUBACK reason codes."""

    def __init__(self, broker, user: str | None, password: str | None, *, tls: bool = True) -> None:
        self.connack = None
        self.pubacks: dict[int, object] = {}
        self.subacks: list = []
        self.messages: list[str] = []
        self.event = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if tls:
            self.client.tls_set(ca_certs=str(broker.files.tls.ca_cert))
        if user:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_publish = lambda _c, _u, mid, rc, _p: (self.pubacks.__setitem__(mid, rc), self.event.set())
        self.client.on_subscribe = lambda _c, _u, _mid, rcs, _p: (self.subacks.extend(rcs), self.event.set())
        self.client.on_message = lambda _c, _u, msg: (self.messages.append(msg.topic), self.event.set())
        self.client.on_disconnect = lambda *_a: self.event.set()
        self.client.reconnect_delay_set(30, 30)  # one attempt is enough to see the answer
        self.client.connect_async("127.0.0.1", broker.port)
        self.client.loop_start()
        self.event.wait(5)

    def _on_connect(self, _c, _u, _f, rc, _p) -> None:
        self.connack = rc
        self.event.set()

    def publish(self, topic_name: str) -> object:
        self.event.clear()
        mid = self.client.publish(topic_name, b"{}", qos=1).mid
        self.event.wait(5)
        return self.pubacks.get(mid)

    def subscribe(self, pattern: str) -> object:
        self.event.clear()
        self.client.subscribe(pattern, qos=1)
        self.event.wait(5)
        return self.subacks[-1]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize(
    ("topic_name", "allowed"),
    [
        ("storelens/v1/store-001/edge-001/aggregates", True),
        ("storelens/v1/store-001/edge-001/status", True),
        ("storelens/v1/store-002/edge-001/aggregates", False),  # another store
        ("storelens/v1/store-001/edge-002/aggregates", False),  # another device of the same store
        ("storelens/v1/store-001/edge-0011/aggregates", False),  # a prefix of its id is not its id
    ],
)
def test_a_device_publishes_only_under_its_own_store_and_device(fleet, topic_name: str, allowed: bool) -> None:
    probe = Probe(fleet.broker, "edge-001", fleet.passwords["edge-001"])
    assert not probe.connack.is_failure
    puback = probe.publish(topic_name)
    probe.close()
    assert puback.is_failure is (not allowed)
    if not allowed:
        assert str(puback) == "Not authorized"


@pytest.mark.parametrize(
    ("user", "password", "tls", "refused"),
    [(None, None, True, "Not authorized"), ("edge-001", "wrong", True, "Not authorized"),
     ("nobody", "x", True, "Not authorized")],
)
def test_anonymous_and_wrong_credentials_are_refused(fleet, user, password, tls, refused) -> None:
    probe = Probe(fleet.broker, user, password, tls=tls)
    probe.close()
    assert probe.connack is not None and probe.connack.is_failure
    assert str(probe.connack) == refused


def test_plain_tcp_gets_no_mqtt_session(fleet) -> None:
    probe = Probe(fleet.broker, "edge-001", fleet.passwords["edge-001"], tls=False)
    probe.close()
    assert probe.connack is None  # the TLS listener never answers an unencrypted CONNECT


def test_ingest_reads_everything_through_a_shared_subscription_devices_read_nothing(fleet) -> None:
    ingest = Probe(fleet.broker, "ingest", INGEST_PASSWORD)
    assert not ingest.subscribe("$share/ingest/storelens/v1/+/+/#").is_failure
    device = Probe(fleet.broker, "edge-001", fleet.passwords["edge-001"])
    device.subscribe("storelens/v1/#")  # granted by MQTT, but the ACL delivers it nothing
    ingest.event.clear()
    device.publish("storelens/v1/store-001/edge-001/aggregates")
    ingest.event.wait(5)
    ingest.close()
    device.close()
    assert ingest.messages == ["storelens/v1/store-001/edge-001/aggregates"]
    assert device.messages == []  # a device cannot read any store's traffic, not even its own


def test_generated_config_is_tls_only_without_anonymous_access(fleet) -> None:
    conf = fleet.broker.files.conf.read_text()
    assert "allow_anonymous false" in conf
    assert f"listener {fleet.broker.port} 127.0.0.1" in conf and "certfile" in conf and "keyfile" in conf
    acl = fleet.broker.files.acl.read_text()
    assert "topic write storelens/v1/store-001/edge-001/#" in acl
    assert fleet.passwords["edge-001"] not in fleet.broker.files.passwd.read_text()  # hashed only
    assert oct(fleet.broker.files.passwd.stat().st_mode & 0o777) == "0o600"


def test_cli_broker_config_writes_a_production_shaped_broker_dir(tmp_path, capsys, monkeypatch) -> None:
    from storelens.cli import main

    monkeypatch.setenv("STORELENS_INGEST_PASSWORD", "a-long-ingest-secret")
    (tmp_path / "cloud.yaml").write_text(
        f"cloud: {{database_url: 'sqlite:///{tmp_path}/c.db', broker_dir: '{tmp_path}/broker', broker_port: 8883}}\n")
    assert main(["cloud", "broker", "config", "--config", str(tmp_path / "cloud.yaml"), "--host", "mqtt.example.com"]) == 0
    assert "start the broker with: mosquitto -c" in capsys.readouterr().out
    conf = (tmp_path / "broker" / "mosquitto.conf").read_text()
    assert "listener 8883 0.0.0.0" in conf and "allow_anonymous false" in conf and "\nuser " not in conf
    passwd = (tmp_path / "broker" / "passwd").read_text()
    assert passwd.startswith("ingest:$7$") and "a-long-ingest-secret" not in passwd
