"""site.yml applied for real to localhost (connection local) into a throwaway prefix.

Service management is off (no systemd here), but everything else runs: templating, Vault-encrypted
device credentials, the model pull with sha256, the product's own config validation, the broker
rendered by the product (`storelens cloud broker config --logins-stdin`).
The generated Redis and Mosquitto configs are then started for real on loopback and probed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import pwd
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from cloud_sync.broker import BROKER_MESSAGE_LIMIT
from devkit.servers.process import free_port
from storelens.wire import INGEST_ALIVE_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "ansible"
BIN = Path(sys.executable).parent
SECRETS = {
    "mqtt": "mqtt-Secret-4711",
    "redis": "redis-Secret-0815",
    "db": "db-Secret-'quoted",
    "ingest": "ingest-Secret-99",
    "dash": "dash-Secret-77",
}


def _self_signed(tmp: Path) -> tuple[str, str]:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", tmp / "key.pem", "-out", tmp / "cert.pem", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return (tmp / "cert.pem").read_text(), (tmp / "key.pem").read_text()


def _vault_file(tmp: Path) -> tuple[Path, Path]:
    cert, key = _self_signed(tmp)
    secrets = {
        "vault_device_credentials": {"edge-t-1": {"mqtt_password": SECRETS["mqtt"], "redis_password": SECRETS["redis"]}},
        "vault_database_password": SECRETS["db"],
        "vault_ingest_mqtt_password": SECRETS["ingest"],
        "vault_dashboard_secret_key": SECRETS["dash"],
        "vault_broker_tls_cert": cert, "vault_broker_tls_key": key, "vault_broker_tls_ca": cert,
    }
    vault, password = tmp / "vault.yml", tmp / "vault-pass"
    vault.write_text(yaml.safe_dump(secrets))
    password.write_text("test-vault-password\n")
    subprocess.run([BIN / "ansible-vault", "encrypt", "--vault-password-file", password, vault],
                   check=True, capture_output=True)
    return vault, password


def _inventory(tmp: Path, root: Path, media_models: Path, ports: dict[str, int]) -> Path:
    common = {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "storelens_root": str(root), "storelens_manage_system": False, "storelens_become": False,
        "storelens_existing_venv": str(BIN.parent), "storelens_models_mirror": str(media_models),
        "storelens_models": ["yunet"], "storelens_redis_port": ports["redis"], "broker_port": ports["mqtt"],
        "storelens_broker_port": ports["mqtt"],
        "storelens_device_credentials": "{{ vault_device_credentials }}",
        "storelens_ingest_mqtt_password": "{{ vault_ingest_mqtt_password }}",
        "storelens_database_password": "{{ vault_database_password }}",
        "storelens_dashboard_secret_key": "{{ vault_dashboard_secret_key }}",
        "broker_tls_cert": "{{ vault_broker_tls_cert }}", "broker_tls_key": "{{ vault_broker_tls_key }}",
        "broker_tls_ca": "{{ vault_broker_tls_ca }}", "broker_bind": "127.0.0.1",
        "storelens_broker_ca": "{{ vault_broker_tls_ca }}",
        "storelens_database_user": "sl_ingest", "storelens_database_name": "sl_fleet",
        # the ingest role registers the inventory's devices; here into SQLite (no PostgreSQL server yet)
        "storelens_database_url": f"sqlite:///{tmp / 'cloud.db'}",
        # the test's files belong to whoever runs it, so the broker must not drop to another user
        "broker_user": pwd.getpwuid(os.getuid()).pw_name,
    }
    edge_host = {"storelens_device_id": "edge-t-1",
                 "storelens_cameras": [{"id": "entrance", "url": "rtsp://127.0.0.1:8554/door"}],
                 # the chain test uploads now, not at night
                 "storelens_config_extra": {"sync": {"offpeak": ["00:00-24:00"], "idle_poll_s": 0.2,
                                                     "heartbeat_s": 1, "reconnect_max_s": 2}}}
    inv = {"all": {"vars": common, "children": {
        "edge": {"children": {"store_t": {"vars": {"storelens_store_id": "t-001"}, "hosts": {"localhost": edge_host}}}},
        **{group: {"hosts": {"localhost": None}} for group in ("broker", "cloud_db", "ingest", "dashboard")},
    }}}
    path = tmp / "hosts.yml"
    path.write_text(yaml.safe_dump(inv))
    return path


def _play(inventory: Path, vault: Path, password: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(inventory.parent / "ansible-tmp"), "PATH": f"{BIN}:{os.environ['PATH']}"}
    return subprocess.run(
        [BIN / "ansible-playbook", "-i", inventory, "-e", f"@{vault}", "--vault-password-file", password, "site.yml"],
        cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=480,  # ~230 s on a loaded 2-core host
    )


def _recap(output: str) -> dict[str, int]:
    line = next(ln for ln in output.splitlines() if ln.startswith("localhost") and "ok=" in ln)
    return {k: int(v) for k, v in (part.split("=") for part in line.split(":", 1)[1].split())}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, media_dir: Path):
    tmp = tmp_path_factory.mktemp("ansible")
    root = tmp / "root"
    ports = {"redis": free_port(), "mqtt": free_port()}
    vault, password = _vault_file(tmp)
    inventory = _inventory(tmp, root, media_dir.parent / "models", ports)
    first = _play(inventory, vault, password)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    second = _play(inventory, vault, password)
    return {"root": root, "ports": ports, "first": first, "second": second, "cert": tmp / "cert.pem",
            "registry": f"sqlite:///{tmp / 'cloud.db'}"}


def test_playbook_applies_and_is_idempotent(deployed):
    assert _recap(deployed["first"].stdout)["failed"] == 0
    assert _recap(deployed["first"].stdout)["changed"] > 5
    second = _recap(deployed["second"].stdout)
    assert (deployed["second"].returncode, second["changed"], second["failed"]) == (0, 0, 0)


def test_no_secret_in_playbook_output(deployed):
    output = deployed["first"].stdout + deployed["first"].stderr
    for secret in SECRETS.values():
        assert secret not in output


@pytest.mark.parametrize("rel,mode", [
    ("etc/storelens/edge.env", 0o600), ("etc/storelens/cloud.env", 0o600), ("etc/storelens/dashboard.env", 0o600),
    ("etc/storelens/redis.conf", 0o600),
    # the key is read by the broker's group after it drops root; here the broker runs as the test's user
    ("etc/mosquitto/passwd", 0o600), ("etc/mosquitto/tls/server.key", 0o640), ("etc/mosquitto/admin.secret", 0o600),
    ("etc/storelens/ingest-1.env", 0o600), ("etc/storelens/ingest-2.env", 0o600),
])
def test_credential_files_are_private(deployed, rel, mode):
    path = deployed["root"] / rel
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_secrets_only_in_private_files(deployed):
    for path in (p for p in deployed["root"].rglob("*") if p.is_file()):
        if stat.S_IMODE(path.stat().st_mode) & 0o044:
            text = path.read_bytes().decode(errors="replace")
            assert not any(s in text for s in SECRETS.values()), f"{path} is world/group readable and holds a secret"


@pytest.mark.parametrize("unit,needle", [
    ("storelens-edge.service", "storelens edge run --config"),
    ("storelens-sync.service", "storelens sync run --config"),
    ("storelens-redis.service", "redis.conf"),
    ("storelens-ingest@.service", "storelens cloud ingest --config"),
    ("storelens-dashboard.service", "gunicorn --config"),
])
def test_units_restart_always(deployed, unit, needle):
    text = (deployed["root"] / "etc/systemd/system" / unit).read_text()
    exec_start = next(ln for ln in text.splitlines() if ln.startswith("ExecStart="))
    assert needle in exec_start
    assert "Restart=always" in text.splitlines()


@pytest.mark.parametrize("unit", ["storelens-edge.service", "storelens-sync.service", "storelens-ingest@.service",
                                  "storelens-dashboard.service"])
def test_units_notify_systemd_and_are_watched(deployed, unit):
    lines = (deployed["root"] / "etc/systemd/system" / unit).read_text().splitlines()
    assert "Type=notify" in lines and "NotifyAccess=main" in lines
    assert int(next(ln for ln in lines if ln.startswith("WatchdogSec=")).split("=")[1]) >= 60


def test_each_ingest_worker_serves_metrics_on_its_own_port(deployed):
    drop_ins = sorted((deployed["root"] / "etc/systemd/system").glob("storelens-ingest@*.service.d/metrics.conf"))
    ports = [ln.split("=")[-1] for d in drop_ins for ln in d.read_text().splitlines() if "STORELENS_METRICS_PORT" in ln]
    assert ports == ["9473", "9474"]
    unit = (deployed["root"] / "etc/systemd/system/storelens-ingest@.service").read_text()
    assert "--metrics-port ${STORELENS_METRICS_PORT}" in unit


def test_edge_config_names_store_device_and_camera(deployed):
    cfg = yaml.safe_load((deployed["root"] / "etc/storelens/storelens.yaml").read_text())
    assert (cfg["store_id"], cfg["device_id"], cfg["mode"]) == ("t-001", "edge-t-1", "production")
    assert cfg["edge"]["cameras"][0]["url"] == "rtsp://127.0.0.1:8554/door"
    assert (deployed["root"] / "var/lib/storelens/models/face_detection_yunet_2023mar.onnx").is_file()


def test_ingest_registered_the_inventory_device_with_its_vault_password(deployed):
    from sqlmodel import Session

    from cloud_sync.db.engine import make_engine
    from cloud_sync.db.models import Device, Store
    from cloud_sync.registry import verify_password

    engine = make_engine(deployed["registry"])
    with Session(engine) as session:
        device, store = session.get(Device, "edge-t-1"), session.get(Store, "t-001")
        assert store is not None and device is not None and device.store_id == "t-001"
        assert verify_password(SECRETS["mqtt"], device.password_hash)  # the Vault password, hashed
    engine.dispose()


def test_sshd_dropin_disables_passwords(deployed):
    text = (deployed["root"] / "etc/ssh/sshd_config.d/50-storelens-hardening.conf").read_text().splitlines()
    assert {"PasswordAuthentication no", "PermitRootLogin no"} <= set(text)


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture
def server(request):
    procs = []

    def start(argv: list, port: int) -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        _wait_port(port, proc)
        return proc

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_generated_redis_conf_runs_with_aof_and_password(deployed, server):
    import redis

    port = deployed["ports"]["redis"]
    server(["redis-server", str(deployed["root"] / "etc/storelens/redis.conf")], port)
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    client = redis.Redis(port=port, password=SECRETS["redis"])
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "always"}
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


def _worker_password(worker: str) -> str:
    """A worker's broker password, derived from the Vault ingest secret as the broker and ingest roles do."""
    return hashlib.sha256(f"{SECRETS['ingest']}:{worker}".encode()).hexdigest()


def _env_file(path: Path) -> dict[str, str]:
    return dict(ln.split("=", 1) for ln in path.read_text().splitlines() if "=" in ln and not ln.startswith("#"))


def _broker_at(port: int, cert: Path) -> SimpleNamespace:
    """What tests.integration.test_broker_acl.Probe needs to know of a broker."""
    return SimpleNamespace(port=port, files=SimpleNamespace(tls=SimpleNamespace(ca_cert=cert)))


def test_ansible_broker_is_the_products_render_with_its_queue_and_identity_settings(deployed):
    etc = deployed["root"] / "etc/mosquitto"
    conf = (etc / "mosquitto.conf").read_text().splitlines()
    expected = {"allow_anonymous false", "persistence true", "autosave_interval 10", "max_queued_messages 100000",
                "max_inflight_messages 1000", f"max_packet_size {BROKER_MESSAGE_LIMIT}",
                "persistent_client_expiration 336h", "use_username_as_clientid true",
                f"listener {deployed['ports']['mqtt']} 127.0.0.1", f"persistence_location {deployed['root']}/var/lib/mosquitto/"}
    assert expected <= set(conf)
    assert conf.index("use_username_as_clientid true") > conf.index(f"listener {deployed['ports']['mqtt']} 127.0.0.1")
    assert not any(line.startswith("acl_file") for line in conf)
    acl = json.loads((deployed["root"] / "var/lib/mosquitto/dynamic-security.json").read_text())
    device = next(r for r in acl["roles"] if r["rolename"] == "device:edge-t-1")
    reads = {a["topic"] for a in device["acls"] if a["acltype"] == "subscribeLiteral"}
    assert reads == {"storelens/v1/t-001/edge-t-1/receipts", INGEST_ALIVE_TOPIC}  # the alive topic the old ACL lacked
    passwd = (etc / "passwd").read_text()
    assert {ln.split(":")[0] for ln in passwd.splitlines()} == {
        "edge-t-1", "ingest-localhost-1", "ingest-localhost-2", "storelens.broker-admin"}
    assert SECRETS["mqtt"] not in passwd and _worker_password("localhost-1") not in passwd


def test_ansible_and_demo_render_the_same_broker_but_for_paths_port_and_user(deployed, tmp_path):
    """The demo/test launcher and the Ansible role share one renderer: same settings, same ACL document."""
    from cloud_sync.broker import broker_files, read_passwd
    from cloud_sync.registry import BrokerUser
    from devkit.servers.mosquitto import MosquittoServer

    ansible_dir = deployed["root"] / "etc/mosquitto"
    hashes = read_passwd(ansible_dir / "passwd")
    users = [BrokerUser("edge-t-1", hashes["edge-t-1"], "t-001", "edge-t-1")]
    users += [BrokerUser(u, hashes[u], None, None, kind="ingest") for u in ("ingest-localhost-1", "ingest-localhost-2")]
    demo = MosquittoServer(tmp_path / "demo", users=users)  # rendered, not started
    ansible_conf = (ansible_dir / "mosquitto.conf").read_text().splitlines()
    demo_conf = demo.files.conf.read_text().splitlines()
    site_specific = ("user ", "password_file ", "plugin_opt_config_file ", "persistence_location ", "pid_file ",
                     "log_dest ", "cafile ", "certfile ", "keyfile ", "listener ")
    diff = [ln for ln in difflib.unified_diff(demo_conf, ansible_conf, "demo", "ansible", lineterm="", n=0)
            if ln[:1] in "+-" and not ln.startswith(("---", "+++"))]
    print("[demo vs ansible broker config]\n" + "\n".join(diff))
    assert all(ln[1:].startswith(site_specific) for ln in diff)
    ansible_acl = json.loads((deployed["root"] / "var/lib/mosquitto/dynamic-security.json").read_text())
    assert json.loads(demo.files.acl.read_text()) == ansible_acl
    assert broker_files(ansible_dir, data_dir=deployed["root"] / "var/lib/mosquitto").acl.is_file()


def test_the_chain_runs_through_the_ansible_broker(deployed, server, tmp_path):
    """Ansible's Redis, broker, ingest worker and sync as real processes: attacks first, then windows
    travel box -> broker -> ingest -> database, and the box deletes them only on the receipts."""
    import redis
    from sqlalchemy import create_engine, text

    from edge_agent.buffer import EdgeBuffer
    from tests.integration.test_broker_acl import Probe
    from tests.servers import make_windows, wait_for

    root, ports, cert = deployed["root"], deployed["ports"], deployed["cert"]
    etc = root / "etc/storelens"
    server(["redis-server", str(etc / "redis.conf")], ports["redis"])
    server(["mosquitto", "-c", str(root / "etc/mosquitto/mosquitto.conf")], ports["mqtt"])
    cloud_env = {**os.environ, **_env_file(etc / "cloud.env"), **_env_file(etc / "ingest-1.env")}
    ingest = _spawn(["cloud", "ingest", "--config", str(etc / "cloud.yaml"), "--worker", "localhost-1"],
                    cloud_env, tmp_path / "ingest.log")
    broker_log = root / "var/log/mosquitto/mosquitto.log"
    try:
        wait_for(lambda: "u'ingest-localhost-1'" in broker_log.read_text(), 30, "the ingest worker to log in")
        _attack_the_ansible_broker(Probe, _broker_at(ports["mqtt"], cert), broker_log)
        windows = make_windows(12, store="t-001", device="edge-t-1")
        buffer = EdgeBuffer(redis.Redis(port=ports["redis"], password=SECRETS["redis"]))
        for w in windows:
            buffer.append(w)
        sync = _spawn(["sync", "run", "--config", str(etc / "storelens.yaml")],
                      {**os.environ, **_env_file(etc / "edge.env")}, tmp_path / "sync.log")
        try:
            engine = create_engine(deployed["registry"])
            count = "SELECT count(*) FROM aggregaterecord WHERE device_id = 'edge-t-1'"
            with engine.connect() as conn:
                wait_for(lambda: conn.execute(text(count)).scalar() == 12, 60, "12 windows in the database")
            engine.dispose()
            wait_for(lambda: buffer.stats().depth == 0, 60, "the box to delete its receipted windows")
        finally:
            sync.terminate()
            sync.wait(20)
    finally:
        ingest.terminate()
        ingest.wait(20)
    assert "already connected, closing old connection" not in broker_log.read_text()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "ab")  # noqa: SIM115  (the child owns it until it exits)
    return subprocess.Popen([str(BIN / "storelens"), *args], env={**env, "STORELENS_LOG": "INFO"},
                            stdout=out, stderr=subprocess.STDOUT)


def _attack_the_ansible_broker(probe_cls, broker, broker_log: Path) -> None:
    """What a device may do on the Ansible broker, asked of the broker itself (MQTT 5 reason codes)."""
    own = "storelens/v1/t-001/edge-t-1"
    device = probe_cls(broker, "edge-t-1", SECRETS["mqtt"], client_id="ingest-localhost-1")
    answers = {
        "receipts": device.subscribe(f"{own}/receipts"),
        "alive": device.subscribe(INGEST_ALIVE_TOPIC),
        "$share": device.subscribe("$share/ingest/storelens/v1/+/+/aggregates"),
        "all stores": device.subscribe("storelens/v1/#"),
        "other store": device.publish("storelens/v1/t-002/edge-t-1/aggregates"),
    }
    deadline = time.monotonic() + 15  # the worker pings every alive_interval_s (10 s)
    while INGEST_ALIVE_TOPIC not in device.messages and time.monotonic() < deadline:
        time.sleep(0.1)
    device.client.publish(f"{own}/aggregates", b"x" * BROKER_MESSAGE_LIMIT, qos=1)
    while not device.disconnects and time.monotonic() < deadline + 10:
        time.sleep(0.1)
    device.close()
    print("[ansible broker] " + ", ".join(f"{k}: {v}" for k, v in answers.items())
          + f", alive ping heard: {INGEST_ALIVE_TOPIC in device.messages}")
    assert not answers["receipts"].is_failure and not answers["alive"].is_failure
    assert str(answers["$share"]) == str(answers["all stores"]) == str(answers["other store"]) == "Not authorized"
    assert INGEST_ALIVE_TOPIC in device.messages
    log = broker_log.read_text()
    assert "as edge-t-1 (p5" in log  # its login, not the worker's client id it asked for
    assert "Client edge-t-1 disconnected due to oversize packet" in log


def test_cloud_db_bootstrap_sql_is_idempotent_on_real_postgresql(deployed, pg_server):
    """The role's SQL (role + database, quoted password) run twice against a real server."""
    from devkit.servers.postgres import pg_bin

    script = deployed["root"] / "etc/postgresql/15/main/storelens-bootstrap.sql"
    psql = [pg_bin("psql"), "-h", "127.0.0.1", "-p", str(pg_server.port), "-U", "storelens", "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-qAt"]
    for _ in range(2):
        result = subprocess.run([*psql, "-f", str(script)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    query = ("SELECT r.rolcanlogin, r.rolpassword LIKE 'SCRAM-SHA-256$%', d.datname FROM pg_authid r "
             "JOIN pg_database d ON d.datdba = r.oid WHERE r.rolname = 'sl_ingest'")
    result = subprocess.run([*psql, "-c", query], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "t|t|sl_fleet"
