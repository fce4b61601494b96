"""A real Mosquitto with the product's generated config, attacked the way a stolen or hostile box would.

TLS only, no anonymous access, per-device credentials; the dynamic-security ACL refuses at SUBACK what
a device may not read (ingest's shared subscription, other stores, other devices' receipts) and at
PUBACK what it may not write; the login is the client id, so no client can throw another off or take
over its persistent session; the packet cap disconnects an oversized sender. Each attack prints what
the broker answered.
"""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlmodel import Session

from cloud_sync.broker import BROKER_MESSAGE_LIMIT
from cloud_sync.registry import revoke_device
from storelens.wire import INGEST_ALIVE_TOPIC, MAX_PAYLOAD_BYTES
from tests.servers import INGEST_PASSWORD, ingest_user, make_windows, wait_for

pytestmark = pytest.mark.integration

OWN = "storelens/v1/store-001/edge-001"
SHARED = "$share/ingest/storelens/v1/+/+/aggregates"


class Probe:
    """A raw paho client recording CONNACK, PUBACK, SUBACK reason codes, deliveries and disconnects."""

    def __init__(self, broker, user: str | None, password: str | None, *, tls: bool = True, client_id: str = "",
                 session_s: int = 0) -> None:
        self.connack = None
        self.pubacks: dict[int, object] = {}
        self.subacks: list = []
        self.messages: list[str] = []
        self.disconnects: list[str] = []
        self.event = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if tls:
            self.client.tls_set(ca_certs=str(broker.files.tls.ca_cert))
        if user:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_publish = lambda _c, _u, mid, rc, _p: (self.pubacks.__setitem__(mid, rc), self.event.set())
        self.client.on_subscribe = lambda _c, _u, _mid, rcs, _p: (self.subacks.extend(rcs), self.event.set())
        self.client.on_message = lambda _c, _u, msg: (self.messages.append(msg.topic), self.event.set())
        self.client.on_disconnect = lambda _c, _u, _f, rc, _p: (self.disconnects.append(str(rc)), self.event.set())
        self.client.reconnect_delay_set(30, 30)  # one attempt is enough to see the answer
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_s
        self.client.connect_async("127.0.0.1", broker.port, clean_start=session_s == 0, properties=props)
        self.client.loop_start()
        self.event.wait(5)

    def _on_connect(self, _c, _u, _f, rc, _p) -> None:
        self.connack = rc
        self.event.set()

    def publish(self, topic_name: str, payload: bytes = b"{}") -> object:
        self.event.clear()
        mid = self.client.publish(topic_name, payload, qos=1).mid
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


def _ingest(fleet, worker: str = "w1", **kw) -> Probe:
    return Probe(fleet.broker, ingest_user(worker), INGEST_PASSWORD, **kw)


def _device(fleet, device_id: str = "edge-001", **kw) -> Probe:
    return Probe(fleet.broker, device_id, fleet.passwords[device_id], **kw)


@pytest.mark.parametrize(
    ("topic_name", "allowed"),
    [
        (f"{OWN}/aggregates", True),
        (f"{OWN}/status", True),
        (f"{OWN}/health", True),
        (f"{OWN}/receipts", False),  # only ingest writes receipts
        (f"{OWN}/anything", False),  # only the three kinds
        (INGEST_ALIVE_TOPIC, False),  # a box must not fake ingest's liveness
        ("storelens/v1/store-002/edge-001/aggregates", False),  # another store
        ("storelens/v1/store-001/edge-002/aggregates", False),  # another device of the same store
        ("storelens/v1/store-001/edge-0011/aggregates", False),  # a prefix of its id is not its id
    ],
)
def test_a_device_publishes_only_its_own_three_kinds(fleet, topic_name: str, allowed: bool) -> None:
    probe = _device(fleet)
    assert not probe.connack.is_failure
    puback = probe.publish(topic_name)
    probe.close()
    print(f"[publish {topic_name}] PUBACK: {puback}")
    assert puback.is_failure is (not allowed)
    if not allowed:
        assert str(puback) == "Not authorized"


@pytest.mark.parametrize(
    ("pattern", "allowed"),
    [
        (f"{OWN}/receipts", True),
        (INGEST_ALIVE_TOPIC, True),
        (SHARED, False),  # joining ingest's group would swallow a share of the fleet's windows
        ("$share/ingest/storelens/v1/#", False),
        ("$share/other/storelens/v1/+/+/aggregates", False),
        ("storelens/v1/#", False),
        ("#", False),
        ("$SYS/#", False),
        (f"{OWN}/aggregates", False),  # not even its own uploads
        ("storelens/v1/store-001/edge-002/receipts", False),  # another device's receipts
        ("storelens/v1/store-002/edge-001/receipts", False),  # its own id under another store
        ("storelens/v1/store-001/+/receipts", False),
        ("$CONTROL/dynamic-security/v1/response", False),
    ],
)
def test_a_device_may_subscribe_only_to_its_receipts_and_the_alive_ping(fleet, pattern: str, allowed: bool) -> None:
    probe = _device(fleet)
    suback = probe.subscribe(pattern)
    probe.close()
    print(f"[subscribe {pattern}] SUBACK: {suback}")
    assert suback.is_failure is (not allowed)
    if not allowed:
        assert str(suback) == "Not authorized"


def test_a_device_cannot_join_ingests_shared_group_so_ingest_gets_every_window(fleet) -> None:
    """Before: the broker granted the device's $share SUBACK, routed it half of the windows and dropped
    them at the delivery check (40 sent, 20 stored). Now the SUBACK is refused and ingest gets all."""
    ingest = _ingest(fleet)
    assert not ingest.subscribe(SHARED).is_failure
    intruder = _device(fleet)
    refused = intruder.subscribe(SHARED)
    windows = make_windows(40)
    ingest.event.clear()
    for w in windows:
        assert not intruder.publish(f"{OWN}/aggregates", w.to_json()).is_failure
    wait_for(lambda: len(ingest.messages) >= 40, 10, "40 windows at ingest", poll_s=0.05)
    time.sleep(0.3)
    for probe in (ingest, intruder):
        probe.close()
    print(f"[$share intruder] SUBACK {refused}; sent 40, ingest received {len(ingest.messages)}, "
          f"intruder received {len(intruder.messages)}")
    assert str(refused) == "Not authorized"
    assert (len(ingest.messages), intruder.messages) == (40, [])


def test_a_box_using_another_boxs_client_id_does_not_throw_it_off(fleet) -> None:
    fleet.add("store-001", "edge-002")
    victim = _device(fleet, "edge-001", client_id="edge-001")
    attacker = _device(fleet, "edge-002", client_id="edge-001")
    time.sleep(0.5)
    still_up = victim.publish(f"{OWN}/status")
    thrown_off = list(victim.disconnects)
    log = fleet.broker.files.log.read_text()
    victim.close()
    attacker.close()
    print(f"[client-id takeover] attacker CONNACK {attacker.connack}; victim disconnects {thrown_off}; "
          f"victim PUBACK after: {still_up}")
    assert thrown_off == [] and not still_up.is_failure
    assert "as edge-002 (p5" in log and "already connected, closing old connection" not in log


def test_ingests_persistent_session_cannot_be_taken_over_by_a_device(fleet) -> None:
    """A device logging in with ingest's client id gets a session of its own (named after its login):
    what the broker queued for the absent worker stays queued, and the worker gets all of it."""
    worker = _ingest(fleet, client_id=ingest_user("w1"), session_s=3600)
    assert not worker.subscribe(SHARED).is_failure
    worker.close()  # away: the broker queues its share
    device = _device(fleet)
    for w in make_windows(10):
        device.publish(f"{OWN}/aggregates", w.to_json())
    device.close()
    attacker = _device(fleet, client_id=ingest_user("w1"), session_s=3600)
    time.sleep(1.0)
    attacker.close()
    back = _ingest(fleet, client_id=ingest_user("w1"), session_s=3600)
    wait_for(lambda: len(back.messages) >= 10, 10, "the queued windows at the returning worker", poll_s=0.05)
    back.close()
    print(f"[ingest session takeover] attacker CONNACK {attacker.connack}, received {len(attacker.messages)}; "
          f"returning worker received {len(back.messages)} of 10")
    assert attacker.messages == [] and len(back.messages) == 10


def test_ingest_reads_device_kinds_writes_receipts_and_alive_but_forges_nothing(fleet) -> None:
    fleet.add("store-001", "edge-002")
    ingest = _ingest(fleet)
    own, other = _device(fleet, "edge-001"), _device(fleet, "edge-002")
    for probe in (own, other):
        assert not probe.subscribe(f"storelens/v1/store-001/{probe.client._username.decode()}/receipts").is_failure
        assert not probe.subscribe(INGEST_ALIVE_TOPIC).is_failure
    answers = {
        "receipt": ingest.publish(f"{OWN}/receipts"),
        "alive": ingest.publish(INGEST_ALIVE_TOPIC, b"alive"),
        "forged window": ingest.publish(f"{OWN}/aggregates"),
        "shared subscribe": ingest.subscribe(SHARED),
        "subscribe receipts": ingest.subscribe("storelens/v1/+/+/receipts"),
    }
    wait_for(lambda: len(own.messages) >= 2 and len(other.messages) >= 1, 10, "receipt and alive pings", poll_s=0.05)
    time.sleep(0.3)
    for probe in (ingest, own, other):
        probe.close()
    print(f"[ingest account] {', '.join(f'{k}: {v}' for k, v in answers.items())}")
    assert not answers["receipt"].is_failure and not answers["alive"].is_failure
    assert not answers["shared subscribe"].is_failure
    assert str(answers["forged window"]) == "Not authorized" and str(answers["subscribe receipts"]) == "Not authorized"
    assert sorted(own.messages) == sorted([f"{OWN}/receipts", INGEST_ALIVE_TOPIC])
    assert other.messages == [INGEST_ALIVE_TOPIC]  # another box never sees edge-001's receipt


def test_the_packet_cap_disconnects_an_oversized_sender_and_passes_wire_oversize_to_ingest(fleet) -> None:
    ingest = _ingest(fleet)
    ingest.subscribe(SHARED)
    device = _device(fleet)
    over_wire = device.publish(f"{OWN}/aggregates", b"x" * (2 * MAX_PAYLOAD_BYTES))  # ingest dead-letters it
    device.event.clear()
    device.client.publish(f"{OWN}/aggregates", b"x" * BROKER_MESSAGE_LIMIT, qos=1)
    wait_for(lambda: device.disconnects, 10, "the oversized sender to be disconnected", poll_s=0.05)
    time.sleep(0.5)
    thrown_off = list(device.disconnects)
    for probe in (ingest, device):
        probe.close()
    log = fleet.broker.files.log.read_text()
    print(f"[packet cap {BROKER_MESSAGE_LIMIT} B] 512 KiB: PUBACK {over_wire}; 1 MiB payload: "
          f"client saw {thrown_off[:1]}, broker log 'disconnected due to oversize packet': "
          f"{'disconnected due to oversize packet' in log}; ingest received {len(ingest.messages)}")
    assert not over_wire.is_failure and len(ingest.messages) == 1
    assert thrown_off and "Client edge-001 disconnected due to oversize packet" in log


def test_a_finite_queue_is_a_renderer_parameter_and_the_broker_applies_it(tmp_path) -> None:
    """For failure tests: max_queued_messages=5 renders into the config and the broker drops beyond it
    (the edge re-sends what got no receipt)."""
    from tests.servers import Fleet

    fleet = Fleet(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "broker")
    fleet.add("store-001", "edge-001")
    fleet.start_broker(max_queued_messages=5)
    try:
        assert "\nmax_queued_messages 5\n" in fleet.broker.files.conf.read_text()
        worker = _ingest(fleet, client_id=ingest_user("w1"), session_s=3600)
        worker.subscribe(SHARED)
        worker.close()
        device = _device(fleet)
        for w in make_windows(20):
            device.publish(f"{OWN}/aggregates", w.to_json())
        device.close()
        back = _ingest(fleet, client_id=ingest_user("w1"), session_s=3600)
        time.sleep(1.5)
        back.close()
    finally:
        fleet.stop()
    print(f"[finite queue 5] 20 queued for an absent worker, {len(back.messages)} delivered on its return")
    assert 5 <= len(back.messages) < 20


@pytest.mark.parametrize(
    ("user", "password", "tls", "refused"),
    [(None, None, True, "Not authorized"), ("edge-001", "wrong", True, "Not authorized"),
     ("nobody", "x", True, "Not authorized"), ("storelens.broker-admin", "guess", True, "Not authorized")],
)
def test_anonymous_and_wrong_credentials_are_refused(fleet, user, password, tls, refused) -> None:
    probe = Probe(fleet.broker, user, password, tls=tls)
    probe.close()
    assert probe.connack is not None and probe.connack.is_failure
    assert str(probe.connack) == refused


def test_plain_tcp_gets_no_mqtt_session(fleet) -> None:
    probe = _device(fleet, tls=False)
    probe.close()
    assert probe.connack is None  # the TLS listener never answers an unencrypted CONNECT


def test_a_revoked_device_is_thrown_off_and_a_new_one_may_read_its_receipts_at_once(fleet) -> None:
    connected = _device(fleet)
    with Session(fleet.engine) as session:
        revoke_device(session, device_id="edge-001")
        session.commit()
    fleet.broker.update_users(fleet.users())
    wait_for(lambda: connected.disconnects, 5, "the revoked device to be disconnected", poll_s=0.05)
    connected.close()
    fleet.add("store-009", "edge-901")  # the running broker learns its ACL over $CONTROL
    newcomer = _device(fleet, "edge-901")
    granted = newcomer.subscribe("storelens/v1/store-009/edge-901/receipts")
    stranger = newcomer.subscribe(f"{OWN}/receipts")
    newcomer.close()
    assert not granted.is_failure and str(stranger) == "Not authorized"


def test_generated_config_states_persistence_queue_and_identity_settings(fleet) -> None:
    conf = fleet.broker.files.conf.read_text().splitlines()
    expected = {"allow_anonymous false", "persistence true", "autosave_interval 10", "max_queued_messages 100000",
                "max_inflight_messages 1000", f"max_packet_size {BROKER_MESSAGE_LIMIT}",
                "persistent_client_expiration 336h", "use_username_as_clientid true", "tls_version tlsv1.2"}
    assert expected <= set(conf)
    listener = next(i for i, line in enumerate(conf) if line.startswith("listener "))
    assert conf[listener] == f"listener {fleet.broker.port} 127.0.0.1"
    assert [line for line in conf if line.startswith("listener ")] == [conf[listener]]
    # a listener option before the first `listener` line would open a default listener on 1883
    assert conf.index("use_username_as_clientid true") > listener
    assert any(line.startswith("plugin ") and line.endswith("mosquitto_dynamic_security.so") for line in conf)
    assert "acl_file" not in "\n".join(conf)
    acl = fleet.broker.files.acl.read_text()
    assert "storelens/v1/store-001/edge-001/aggregates" in acl and "password" not in acl
    assert fleet.passwords["edge-001"] not in fleet.broker.files.passwd.read_text()  # hashed only
    assert oct(fleet.broker.files.passwd.stat().st_mode & 0o777) == "0o600"
    assert oct(fleet.broker.files.admin_secret.stat().st_mode & 0o777) == "0o600"


def test_cli_broker_config_writes_a_production_shaped_broker_dir_idempotently(tmp_path, capsys) -> None:
    from storelens.cli import main

    cfg = tmp_path / "cloud.yaml"
    cfg.write_text(f"cloud: {{database_url: 'sqlite:///{tmp_path}/c.db', broker_dir: '{tmp_path}/broker', "
                   "broker_port: 8883}\n")
    assert main(["cloud", "worker", "add", "--config", str(cfg), "ingest-1", "--registry-only"]) == 0
    out = capsys.readouterr().out
    password = next(line.split()[2] for line in out.splitlines() if line.startswith("mqtt password:"))
    assert main(["cloud", "broker", "config", "--config", str(cfg), "--host", "mqtt.example.com"]) == 0
    first = capsys.readouterr().out
    assert all(name in first.splitlines()[0] for name in ("changed", "mosquitto.conf", "passwd", "dynamic-security.json"))
    conf = (tmp_path / "broker" / "mosquitto.conf").read_text()
    assert "listener 8883 0.0.0.0" in conf and "allow_anonymous false" in conf and "\nuser " not in conf
    passwd = (tmp_path / "broker" / "passwd").read_text()
    assert "ingest-ingest-1:$7$" in passwd and password not in passwd
    assert main(["cloud", "broker", "config", "--config", str(cfg)]) == 0
    assert "unchanged" in capsys.readouterr().out
