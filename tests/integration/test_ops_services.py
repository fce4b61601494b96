"""/metrics, /healthz and systemd notifications of the real services, as Prometheus and systemd see them.

`storelens edge run` on real video, `storelens sync run` and `storelens cloud ingest` as real
processes against real Redis and Mosquitto, each with a fake $NOTIFY_SOCKET (a datagram socket, as
systemd gives a Type=notify unit) and its own free ops port. Samples are written to
artifacts/metrics/ for the record.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from devkit.servers.process import free_port
from storelens.wire import topic
from tests.servers import make_windows, storelens, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "metrics"
VIDEO = "video/vtest_pets2009_480x360.avi"


class Notify:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.seen: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.sock.recv(4096).decode())
            except TimeoutError:
                return self.seen

    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self.path), "WATCHDOG_USEC": "1000000"}  # feed every 0.5 s

    def close(self) -> None:
        self.sock.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError:
        return 0, ""


def _samples(text: str) -> dict[str, float]:
    """name{labels} -> value, labels sorted."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def _keep(name: str, text: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_text("\n".join(ln for ln in text.splitlines() if ln.startswith("storelens_")) + "\n")


@pytest.mark.vision
def test_edge_run_serves_metrics_and_health_and_talks_to_systemd(tmp_path, media_dir, model_dir, redis_server):
    port, notify = free_port(), Notify(tmp_path / "notify")
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(yaml.safe_dump({
        "models": {"dir": str(model_dir), "providers": ["cpu"]}, "sync": {"redis_url": redis_server.url},
        "ops": {"edge_port": port},
        "edge": {"window_minutes": 1, "cameras": [{"id": "door", "url": str(media_dir / VIDEO),
                                                   "start_time": "2026-03-01T10:00:00Z", "realtime": True}]}}))
    proc = storelens(["edge", "run", "--config", str(cfg)], env=notify.env(), log_path=tmp_path / "edge.log")
    try:
        wait_for(lambda: any(m.startswith("READY=1") for m in notify.drain()), 120, "READY=1 from edge run")
        url = f"http://127.0.0.1:{port}"

        def counted() -> bool:
            return _samples(_get(f"{url}/metrics")[1]).get('storelens_edge_frames_total{camera="door"}', 0) > 30

        wait_for(counted, 60, "frames counted in /metrics")
        status, text = _get(f"{url}/metrics")
        samples = _samples(text)
        assert samples['storelens_edge_stage_seconds_count{camera="door",stage="persons"}'] > 30
        assert samples['storelens_edge_fps{camera="door"}'] >= 0 and samples["storelens_edge_buffer_up"] == 1
        assert samples['storelens_edge_buffer_dropped_total{reason="full"}'] == 0
        _keep("edge.txt", text)
        status, body = _get(f"{url}/healthz")
        assert status == 200 and json.loads(body)["checks"] == {"cameras": "ok", "buffer": "ok"}
        time.sleep(1.2)
        assert notify.drain().count("WATCHDOG=1") >= 2
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        assert "STOPPING=1" in notify.drain()
        notify.close()


def test_sync_and_ingest_serve_metrics_health_and_dead_letters_by_reason(rig, tmp_path):
    sync_port, ingest_port = free_port(), free_port()
    notify = Notify(tmp_path / "ingest-notify")
    for w in make_windows(8):
        rig.buffer.append(w)
    cloud_cfg = rig.config("cloud.yaml")
    raw = yaml.safe_load(cloud_cfg.read_text())
    raw["ops"] = {"sync_port": sync_port, "ingest_port": ingest_port}
    cloud_cfg.write_text(yaml.safe_dump(raw))
    ingest = storelens(["cloud", "ingest", "--config", str(cloud_cfg), "--worker", "w1"], env=notify.env(),
                       log_path=tmp_path / "ingest.log")
    rig.procs.append(ingest)
    rig.await_ingest()
    # Before sync starts: the broker takes the username as client id, so this login would throw it off.
    device = rig.fleet.device_client("edge-001")
    device.publish(topic("store-001", "edge-001", "aggregates"), b'{"schema_version": 1, "entries": -1}', qos=1)
    device.disconnect()
    device.loop_stop()
    box = rig.config()
    raw = yaml.safe_load(box.read_text())
    raw["ops"] = {"sync_port": sync_port}
    box.write_text(yaml.safe_dump(raw))
    sync = storelens(["sync", "run", "--config", str(box)], env={"STORELENS_MQTT_PASSWORD": rig.fleet.passwords["edge-001"]},
                     log_path=tmp_path / "sync.log")
    rig.procs.append(sync)
    rig.wait_arrived(8)
    ingest_url, sync_url = f"http://127.0.0.1:{ingest_port}", f"http://127.0.0.1:{sync_port}"

    def dead_counted() -> bool:
        return _samples(_get(f"{ingest_url}/metrics")[1]).get('storelens_ingest_dead_letters_total{reason="malformed"}', 0) >= 1

    wait_for(dead_counted, 30, "the dead letter counted by reason")
    text = _get(f"{ingest_url}/metrics")[1]
    samples = _samples(text)
    assert samples["storelens_ingest_windows_stored_total"] == 8 and samples["storelens_ingest_database_up"] == 1
    assert samples["storelens_ingest_window_lag_seconds_count"] == 8
    _keep("ingest.txt", text)
    assert _get(f"{ingest_url}/healthz")[0] == 200

    def acked() -> bool:
        return _samples(_get(f"{sync_url}/metrics")[1]).get("storelens_sync_acked_total", 0) >= 8

    wait_for(acked, 30, "the publisher's counters in /metrics")
    text = _get(f"{sync_url}/metrics")[1]
    samples = _samples(text)
    assert samples["storelens_sync_broker_up"] == 1 and samples["storelens_sync_sent_total"] >= 8
    _keep("sync.txt", text)
    status, body = _get(f"{sync_url}/healthz")
    assert status == 200, body
    assert any(m.startswith("READY=1") for m in notify.drain()) and "WATCHDOG=1" in notify.seen
    notify.close()
