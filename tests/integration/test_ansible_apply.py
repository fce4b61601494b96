"""site.yml applied for real to localhost (connection local) into a throwaway prefix.

Service management is off (no systemd here), but everything else runs: templating, Vault-encrypted
device credentials, the model pull with sha256, the product's own config validation, mosquitto_passwd.
The generated Redis and Mosquitto configs are then started for real on loopback and probed.
"""

from __future__ import annotations

import os
import pwd
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from devkit.servers.process import free_port

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
                 "storelens_cameras": [{"id": "entrance", "url": "rtsp://127.0.0.1:8554/door"}]}
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
        cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=240,
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
    # read by the broker's own group after it drops root
    ("etc/mosquitto/passwd", 0o640), ("etc/mosquitto/certs/server.key", 0o640),
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
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


def _mqtt_client(port: int, cert: Path, user: str, password: str, inbox: list | None = None):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{user}")
    client.tls_set(ca_certs=str(cert))
    client.username_pw_set(user, password)
    connected = threading.Event()
    result = {}

    def on_connect(_c, _u, _f, reason, _p):
        result["reason"] = reason
        connected.set()

    client.on_connect = on_connect
    if inbox is not None:
        client.on_message = lambda _c, _u, msg: inbox.append(msg.topic)
    client.connect("localhost", port)
    client.loop_start()
    assert connected.wait(10), "no CONNACK"
    return client, result["reason"]


def test_generated_broker_conf_enforces_tls_passwords_and_store_acl(deployed, server):
    port, cert = deployed["ports"]["mqtt"], deployed["cert"]
    server(["mosquitto", "-c", str(deployed["root"] / "etc/mosquitto/conf.d/storelens.conf")], port)
    bad, reason = _mqtt_client(port, cert, "edge-t-1", "wrong")
    bad.loop_stop()
    assert reason.is_failure
    inbox: list[str] = []
    ingest, reason = _mqtt_client(port, cert, "ingest", SECRETS["ingest"], inbox)
    assert not reason.is_failure
    ingest.subscribe("storelens/v1/#", qos=1)
    device, reason = _mqtt_client(port, cert, "edge-t-1", SECRETS["mqtt"])
    assert not reason.is_failure
    time.sleep(0.5)
    device.publish("storelens/v1/other-store/edge-t-1/aggregates", b"{}", qos=1).wait_for_publish(5)
    device.publish("storelens/v1/t-001/edge-t-1/aggregates", b"{}", qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while not inbox and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    for client in (device, ingest):
        client.disconnect()
        client.loop_stop()
    assert inbox == ["storelens/v1/t-001/edge-t-1/aggregates"]


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
