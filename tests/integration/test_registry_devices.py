"""Device registry: add, issue credentials, rotate, revoke; the broker and ingest both obey it."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from cloud_sync.db.models import DeadLetter, Device
from cloud_sync.ingest import Ingestor
from cloud_sync.registry import (
    RegistryError,
    add_device,
    add_store,
    hash_password,
    issue_credentials,
    revoke_device,
    verify_password,
)
from storelens.cli import main
from storelens.mqttlink import LinkSettings, MqttLink
from tests.integration.test_broker_acl import Probe
from tests.servers import make_windows, write_config

pytestmark = pytest.mark.integration


def test_password_hash_is_mosquitto_pbkdf2_and_verifies() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$7$10000$")
    assert verify_password("correct horse", stored) and not verify_password("wrong", stored)
    assert hash_password("correct horse") != stored  # salted


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda s: add_device(s, store_id="nope", device_id="d9"), "store 'nope' is not registered"),
        (lambda s: add_device(s, store_id="store-001", device_id="edge-001"), "device 'edge-001' already exists"),
        (lambda s: add_store(s, store_id="store-001"), "store 'store-001' already exists"),
        (lambda s: revoke_device(s, device_id="ghost"), "device 'ghost' is not registered"),
    ],
)
def test_registry_errors_are_one_clear_line(fleet, action, message) -> None:
    with Session(fleet.engine) as session, pytest.raises(RegistryError, match=message):
        action(session)


def test_revoked_device_is_refused_by_broker_and_ingest(fleet) -> None:
    password = fleet.passwords["edge-001"]
    with Session(fleet.engine) as session:
        revoke_device(session, device_id="edge-001")
        session.commit()
    fleet.broker.update_users(fleet.users())  # rewrite passwd/ACL, SIGHUP
    probe = Probe(fleet.broker, "edge-001", password)
    probe.close()
    assert probe.connack.is_failure
    link = MqttLink(LinkSettings("127.0.0.1", 1, "unused", "ingest", "x"))
    ingestor = Ingestor(engine=fleet.engine, link=link)
    window = make_windows(1)[0]
    with Session(fleet.engine) as session:
        counts = ingestor.store_batch(session, [("storelens/v1/store-001/edge-001/aggregates", window.to_json())])
        session.commit()
        letter = session.exec(select(DeadLetter)).one()
    assert counts == (0, 0, 1)
    assert letter.reason == "unauthorised: device edge-001 of store store-001 is not registered or is revoked"


def test_rotation_replaces_the_password(fleet) -> None:
    old = fleet.passwords["edge-001"]
    with Session(fleet.engine) as session:
        new = issue_credentials(session, device_id="edge-001")
        session.commit()
    fleet.broker.update_users(fleet.users())
    refused, accepted = Probe(fleet.broker, "edge-001", old), Probe(fleet.broker, "edge-001", new)
    refused.close()
    accepted.close()
    assert refused.connack.is_failure and not accepted.connack.is_failure


def test_cli_adds_lists_and_revokes_and_reloads_the_running_broker(fleet, tmp_path, capsys) -> None:
    cfg = write_config(tmp_path / "cloud.yaml", fleet=fleet, redis_url="redis://127.0.0.1:1/0",
                       cloud={"broker_port": fleet.broker.port, "broker_bind": "127.0.0.1"})
    assert main(["cloud", "store", "add", "--config", str(cfg), "store-002", "--timezone", "Europe/Paris"]) == 0
    assert main(["cloud", "device", "add", "--config", str(cfg), "store-002", "edge-201"]) == 0
    out = capsys.readouterr().out
    password = next(line.split()[2] for line in out.splitlines() if line.startswith("mqtt password:"))
    assert "broker reloaded" in out
    assert password not in fleet.broker.files.passwd.read_text()
    probe = Probe(fleet.broker, "edge-201", password)  # the running broker knows it without a restart
    assert not probe.connack.is_failure and not probe.publish("storelens/v1/store-002/edge-201/status").is_failure
    probe.close()
    assert main(["cloud", "device", "revoke", "--config", str(cfg), "edge-201"]) == 0
    assert main(["cloud", "device", "list", "--config", str(cfg), "--store", "store-002"]) == 0
    assert "edge-201             revoked" in capsys.readouterr().out
    again = Probe(fleet.broker, "edge-201", password)
    again.close()
    assert again.connack.is_failure
    with Session(fleet.engine) as session:
        assert session.get(Device, "edge-201").revoked_at is not None


def test_cli_error_is_one_line(fleet, tmp_path, capsys) -> None:
    cfg = write_config(tmp_path / "cloud.yaml", fleet=fleet, redis_url="redis://127.0.0.1:1/0")
    assert main(["cloud", "device", "add", "--config", str(cfg), "store-404", "edge-9"]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["storelens: error: store 'store-404' is not registered (storelens cloud store add store-404)"]
