"""`storelens cloud device add --password-stdin`: the fleet's password of record (Ansible Vault) goes
into the registry and the real Mosquitto password file; re-running is a no-op, another password
rotates it, the password is never printed or logged, and bad input is one line that changes nothing.
"""

from __future__ import annotations

import io
import logging

import pytest
from sqlmodel import Session, select

from cloud_sync.db.models import Device, Store
from cloud_sync.registry import revoke_device, set_device_password, verify_password
from storelens.cli import main
from tests.integration.test_broker_acl import Probe
from tests.servers import write_config

pytestmark = pytest.mark.integration

VAULT_PASSWORD = "vault-Pw-0001-abcdef"
ROTATED_PASSWORD = "vault-Pw-0002-ghijkl"


@pytest.fixture
def cli(fleet, tmp_path, monkeypatch, capsys, caplog):
    """Run `storelens cloud --config ... ARGS` with `stdin`; returns (exit code, stdout, stderr + log)."""
    cfg = write_config(tmp_path / "cloud.yaml", fleet=fleet, redis_url="redis://127.0.0.1:1/0",
                       cloud={"broker_port": fleet.broker.port, "broker_bind": "127.0.0.1"})

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            code = main(["cloud", *args, "--config", str(cfg)])
        out, err = capsys.readouterr()
        return code, out, err + caplog.text

    return run


def _hash(fleet, device_id: str) -> str | None:
    with Session(fleet.engine) as session:
        device = session.get(Device, device_id)
        return None if device is None else device.password_hash


def _connects(fleet, device_id: str, password: str) -> bool:
    probe = Probe(fleet.broker, device_id, password)
    probe.close()
    return probe.connack is not None and not probe.connack.is_failure


def test_add_then_same_password_is_a_no_op_then_another_rotates(fleet, cli) -> None:
    code, out, logs = cli("device", "add", "store-001", "edge-101", "--password-stdin", stdin=VAULT_PASSWORD + "\n")
    assert (code, out.splitlines()[-1]) == (0, "device edge-101 of store store-001: added")
    assert _connects(fleet, "edge-101", VAULT_PASSWORD)  # the running broker reloaded with the given password
    passwd = fleet.broker.files.passwd
    first_hash, first_file = _hash(fleet, "edge-101"), passwd.read_bytes()

    code, out, logs2 = cli("device", "add", "store-001", "edge-101", "--password-stdin", stdin=VAULT_PASSWORD + "\n")
    assert (code, out.strip()) == (0, "device edge-101 of store store-001: unchanged")
    assert _hash(fleet, "edge-101") == first_hash and passwd.read_bytes() == first_file  # nothing rewritten

    code, out, logs3 = cli("device", "add", "store-001", "edge-101", "--password-stdin", stdin=ROTATED_PASSWORD)
    assert (code, out.splitlines()[-1]) == (0, "device edge-101 of store store-001: rotated")
    assert _connects(fleet, "edge-101", ROTATED_PASSWORD) and not _connects(fleet, "edge-101", VAULT_PASSWORD)
    everything = out + logs + logs2 + logs3 + passwd.read_text()
    assert VAULT_PASSWORD not in everything and ROTATED_PASSWORD not in everything


def test_registry_only_leaves_the_broker_files_alone(fleet, cli) -> None:
    before = fleet.broker.files.passwd.read_bytes()
    code, out, _ = cli("device", "add", "store-001", "edge-102", "--password-stdin", "--registry-only",
                       stdin=VAULT_PASSWORD)
    assert (code, out.strip()) == (0, "device edge-102 of store store-001: added")
    assert fleet.broker.files.passwd.read_bytes() == before
    assert verify_password(VAULT_PASSWORD, _hash(fleet, "edge-102"))


def _revoke_edge_001(fleet) -> None:
    with Session(fleet.engine) as session:
        revoke_device(session, device_id="edge-001")
        session.commit()


@pytest.mark.parametrize(("device", "store", "stdin", "prepare", "message"), [
    ("edge-103", "store-001", "", None, "--password-stdin (device edge-103): standard input is empty"),
    ("edge-103", "store-001", "\n", None, "--password-stdin (device edge-103): standard input is empty"),
    ("edge-103", "store-001", VAULT_PASSWORD + "\nsecond\n", None,
     "--password-stdin (device edge-103): expected one line on standard input, got several"),
    ("edge-103", "store-001", "short-pw", None, "device 'edge-103': password too short (8 characters; at least 12)"),
    ("edge-103", "store-001", "has a space in it", None, "device 'edge-103': password contains whitespace or control characters"),
    ("edge-103", "store-404", VAULT_PASSWORD, None,
     "store 'store-404' is not registered (storelens cloud store add store-404)"),
    ("edge-001", "store-002", VAULT_PASSWORD, None, "device 'edge-001' is registered to store 'store-001', not 'store-002'"),
    ("edge-001", "store-001", VAULT_PASSWORD, _revoke_edge_001,
     "device 'edge-001' is revoked; re-activate it first (storelens cloud device rotate edge-001)"),
])
def test_bad_input_is_one_line_and_changes_nothing(fleet, cli, device, store, stdin, prepare, message) -> None:
    if prepare:
        prepare(fleet)
    hash_before, passwd_before = _hash(fleet, device), fleet.broker.files.passwd.read_bytes()
    code, out, err = cli("device", "add", store, device, "--password-stdin", stdin=stdin)
    assert code == 4
    assert err.strip().splitlines() == [f"storelens: error: {message}"]
    assert VAULT_PASSWORD not in out + err
    assert _hash(fleet, device) == hash_before and fleet.broker.files.passwd.read_bytes() == passwd_before


@pytest.mark.parametrize(("password", "outcome"), [(None, "unchanged"), ("another-Pw-123", "rotated")])
def test_set_device_password_outcomes(fleet, password, outcome) -> None:
    current = fleet.passwords["edge-001"]
    with Session(fleet.engine) as session:
        _dev, got = set_device_password(session, store_id="store-001", device_id="edge-001",
                                        password=password or current)
        session.commit()
    assert got == outcome
    assert verify_password(password or current, _hash(fleet, "edge-001"))


def test_store_add_exist_ok_is_idempotent_and_updates_the_time_zone(fleet, cli) -> None:
    assert cli("store", "add", "store-002", "--timezone", "Europe/Paris", "--exist-ok")[:2] == (0, "store store-002 added\n")
    assert cli("store", "add", "store-002", "--timezone", "Europe/Paris", "--exist-ok")[:2] == (0, "store store-002 unchanged\n")
    assert cli("store", "add", "store-002", "--timezone", "Europe/Berlin", "--exist-ok")[:2] == (0, "store store-002 updated\n")
    with Session(fleet.engine) as session:
        assert session.get(Store, "store-002").timezone == "Europe/Berlin"
    code, _, err = cli("store", "add", "store-002")  # without --exist-ok a duplicate is still an error
    assert code == 4 and err.strip().splitlines() == ["storelens: error: store 'store-002' already exists"]


# --- the Ansible ingest role's registration tasks, run for real (connection local, SQLite registry) --------

def _registry_play(tmp_path, credentials: dict[str, dict[str, str]]):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    repo, bin_dir = Path(__file__).resolve().parents[2], Path(sys.executable).parent
    etc = tmp_path / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "cloud.yaml").write_text(yaml.safe_dump({"cloud": {"database_url": f"sqlite:///{tmp_path / 'reg.db'}"}}))
    edge = {"store_a": {"vars": {"storelens_store_id": "a-001", "storelens_timezone": "Europe/Berlin"},
                        "hosts": {"box-a1": {"storelens_device_id": "edge-a1"}, "box-a2": {"storelens_device_id": "edge-a2"}}},
            "store_b": {"vars": {"storelens_store_id": "b-002"}, "hosts": {"edge-b1": {}}}}
    inventory = {"all": {"children": {"edge": {"children": edge}, "ingest": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    play = [{"name": "registry", "hosts": "ingest", "gather_facts": False, "vars": {
        "storelens_bin": str(bin_dir), "storelens_etc_dir": str(etc), "storelens_database_password": "unused",
        "ingest_register_hosts": "{{ groups['edge'] }}"},
        "tasks": [{"ansible.builtin.include_tasks": str(repo / "ansible/roles/ingest/tasks/register_devices.yml")}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    (tmp_path / "creds.json").write_text(json.dumps({"storelens_device_credentials": credentials}))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
           "ANSIBLE_CONFIG": str(repo / "ansible/ansible.cfg"), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run([bin_dir / "ansible-playbook", "-i", tmp_path / "hosts.yml", "-e", f"@{tmp_path / 'creds.json'}",
                             tmp_path / "play.yml"], capture_output=True, text=True, env=env, timeout=180)
    recap = next((ln for ln in result.stdout.splitlines() if ln.startswith("localhost") and "ok=" in ln), "")
    counts = {k: int(v) for k, v in (p.split("=") for p in recap.split(":", 1)[1].split())} if recap else {}
    return result, counts


def _registered(tmp_path) -> dict[str, tuple[str, str]]:
    from cloud_sync.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'reg.db'}")
    with Session(engine) as session:
        rows = {d.device_id: (d.store_id, d.password_hash) for d in session.exec(select(Device))}
    engine.dispose()
    return rows


@pytest.mark.slow
def test_ansible_registers_inventory_devices_idempotently_and_rotates(tmp_path) -> None:
    creds = {dev: {"mqtt_password": f"{dev}-Vault-Pw-42"} for dev in ("edge-a1", "edge-a2", "edge-b1")}
    first, counts = _registry_play(tmp_path, creds)
    assert first.returncode == 0 and counts["failed"] == 0, first.stdout[-3000:]
    devices = _registered(tmp_path)
    assert {d: store for d, (store, _) in devices.items()} == {"edge-a1": "a-001", "edge-a2": "a-001", "edge-b1": "b-002"}
    assert all(verify_password(creds[d]["mqtt_password"], h) for d, (_, h) in devices.items())

    second, counts = _registry_play(tmp_path, creds)
    assert (second.returncode, counts["changed"]) == (0, 0), second.stdout[-3000:]
    assert _registered(tmp_path) == devices  # same hashes: nothing rewritten

    creds["edge-a2"] = {"mqtt_password": "edge-a2-Rotated-Pw-43"}
    third, counts = _registry_play(tmp_path, creds)
    assert (third.returncode, counts["changed"]) == (0, 1), third.stdout[-3000:]
    assert verify_password("edge-a2-Rotated-Pw-43", _registered(tmp_path)["edge-a2"][1])
    output = "".join(r.stdout + r.stderr for r in (first, second, third))
    assert not any(c["mqtt_password"] in output for c in creds.values()) and "Vault-Pw-42" not in output


GOOD = {"edge-a1": {"mqtt_password": "edge-a1-Vault-Pw-42"}, "edge-b1": {"mqtt_password": "edge-b1-Vault-Pw-42"}}


@pytest.mark.slow
@pytest.mark.parametrize(("creds", "message", "registered"), [
    ({**GOOD, "edge-a2": {"mqtt_password": "tooShort1"}},
     "storelens: error: device 'edge-a2': password too short (9 characters; at least 12)", {"edge-a1", "edge-b1"}),
    (GOOD, "edge-a2 (host box-a2): no entry in vault_device_credentials", set()),  # checked before anything runs
])
def test_ansible_reports_a_refused_device_in_one_line_without_the_password(tmp_path, creds, message, registered):
    result, counts = _registry_play(tmp_path, creds)
    assert result.returncode != 0 and counts["failed"] == 1
    assert f'"msg": "{message}"' in result.stdout
    assert (set(_registered(tmp_path)) if (tmp_path / "reg.db").exists() else set()) == registered
    assert not any(c["mqtt_password"] in result.stdout + result.stderr for c in creds.values())
