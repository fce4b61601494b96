"""The broker renderer (one for demo, tests and Ansible) and the live-ACL planner, without a broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloud_sync.broker import (
    BrokerSettings,
    acl_state,
    broker_files,
    device_acls,
    ingest_acls,
    render_conf,
    write_broker_files,
)
from cloud_sync.broker_control import plan
from cloud_sync.broker_logins import logins_from_json
from cloud_sync.registry import ADMIN_USERNAME, BrokerUser, hash_password, verify_password
from storelens.errors import ConfigError, InputError

DEV = BrokerUser("edge-1", hash_password("x" * 12), "s-1", "edge-1")
WORKER = BrokerUser("ingest-w1", hash_password("y" * 12), None, None, kind="ingest")
PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")


def test_a_device_role_names_exactly_its_own_topics() -> None:
    acls = {(a["acltype"], a["topic"]) for a in device_acls(DEV)}
    assert acls == {
        ("publishClientSend", "storelens/v1/s-1/edge-1/aggregates"),
        ("publishClientSend", "storelens/v1/s-1/edge-1/status"),
        ("publishClientSend", "storelens/v1/s-1/edge-1/health"),
        ("subscribeLiteral", "storelens/v1/s-1/edge-1/receipts"),
        ("publishClientReceive", "storelens/v1/s-1/edge-1/receipts"),
        ("subscribeLiteral", "storelens/cloud/ingest/alive"),
        ("publishClientReceive", "storelens/cloud/ingest/alive"),
    }
    assert not any("+" in t or "#" in t for _k, t in acls)  # no wildcard: nothing beyond its own


def test_the_ingest_role_reads_device_kinds_and_writes_receipts_and_alive() -> None:
    acls = {(a["acltype"], a["topic"]) for a in ingest_acls("grp")}
    assert ("subscribeLiteral", "$share/grp/storelens/v1/+/+/aggregates") in acls
    assert ("publishClientSend", "storelens/v1/+/+/receipts") in acls
    assert ("publishClientSend", "storelens/cloud/ingest/alive") in acls
    assert not any(k == "publishClientSend" and t.endswith(("aggregates", "status", "health")) for k, t in acls)
    assert not any(k == "publishClientReceive" and t.endswith("receipts") for k, t in acls)


def test_everything_not_granted_is_denied_by_default() -> None:
    state = acl_state([DEV, WORKER], "ingest")
    assert state["defaultACLAccess"] == {"publishClientSend": False, "publishClientReceive": False,
                                         "subscribe": False, "unsubscribe": True}
    assert "password" not in json.dumps(state)


def test_a_listener_option_never_precedes_the_listener(tmp_path) -> None:
    conf = render_conf(BrokerSettings(port=8883, bind="0.0.0.0", max_queued_messages=7), broker_files(tmp_path), PLUGIN)
    lines = conf.splitlines()
    assert lines.index("use_username_as_clientid true") > lines.index("listener 8883 0.0.0.0")
    assert "max_queued_messages 7" in lines and "persistence true" in lines


def test_files_are_rewritten_only_when_they_change_and_the_admin_hash_is_kept(tmp_path) -> None:
    files = broker_files(tmp_path / "b")
    settings = BrokerSettings(port=1883, acl_plugin=PLUGIN)
    _f, first = write_broker_files(files, users=[DEV, WORKER], settings=settings)
    _f, second = write_broker_files(files, users=[DEV, WORKER], settings=settings)
    assert set(first) == {"mosquitto.conf", "passwd", "dynamic-security.json"} and second == []
    admin_hash = next(line.split(":", 1)[1] for line in files.passwd.read_text().splitlines()
                      if line.startswith(ADMIN_USERNAME + ":"))
    assert verify_password(files.admin_secret.read_text().strip(), admin_hash)


def test_a_device_and_a_worker_with_one_name_are_refused(tmp_path) -> None:
    clash = BrokerUser("edge-1", hash_password("z" * 12), None, None, kind="ingest")
    with pytest.raises(ConfigError, match="two accounts named 'edge-1'"):
        write_broker_files(broker_files(tmp_path), users=[DEV, clash], settings=BrokerSettings(port=1, acl_plugin=PLUGIN))


WANTED = acl_state([DEV, WORKER], "ingest")


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ({"clients": [], "roles": []}, {"createRole": 2, "createClient": 2}),
        (WANTED, {}),
        ({"clients": [*WANTED["clients"], {"username": "gone", "roles": [{"rolename": "device:gone"}]}],
          "roles": [*WANTED["roles"], {"rolename": "device:gone", "acls": []}]}, {"deleteClient": 1, "deleteRole": 1}),
        ({"clients": WANTED["clients"],
          "roles": [{**r, "acls": r["acls"][1:] + [{"acltype": "subscribeLiteral", "topic": "#", "allow": True}]}
                    if r["rolename"] == "ingest" else r for r in WANTED["roles"]]},
         {"addRoleACL": 1, "removeRoleACL": 1}),
    ],
    ids=["empty broker", "in line", "revoked device", "changed role"],
)
def test_the_live_plan_changes_only_the_difference(current: dict, expected: dict[str, int]) -> None:
    counts: dict[str, int] = {}
    for command in plan(current, WANTED):
        counts[command["command"]] = counts.get(command["command"], 0) + 1
    assert counts == expected


def test_logins_from_ansible_keep_a_matching_hash_and_never_echo_a_password() -> None:
    doc = {"devices": [{"store_id": "s-1", "device_id": "edge-1", "password": "edge-password-1"}],
           "ingest": [{"username": "ingest-h-1", "password": "ingest-password-1"}]}
    users = logins_from_json(json.dumps(doc), {})
    again = logins_from_json(json.dumps(doc), {u.username: u.password_hash for u in users})
    assert [u.password_hash for u in again] == [u.password_hash for u in users]
    assert [u.kind for u in users] == ["device", "ingest"]
    doc["devices"][0]["password"] = "short"
    with pytest.raises(InputError, match="device edge-1: password missing or shorter") as err:
        logins_from_json(json.dumps(doc), {})
    assert "short" not in str(err.value).replace("shorter", "")
