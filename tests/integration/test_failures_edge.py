"""The box itself under faults: `storelens edge run` on real video with 4 cameras and a real redis-server,
SIGKILLed together right after a window boundary (a power cut), and a clock set back within a window
that already closed. Each prints `sent / stored / lost / duplicated`; expected lost 0, duplicated 0.

"sent" here is what the edge app said it stored (one log line per window, written only after Redis
replied, and Redis replies only after the fsync: appendfsync always). SIGKILL of redis-server is a
process crash, not a kernel power loss; what makes the difference on a real power cut is that the
reply comes after the fsync, which `test_ensure_durable_*` checks on the running server.
"""

from __future__ import annotations

import random
import re
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import yaml
from sqlmodel import Session, select

from cloud_sync.db.models import AggregateRecord
from cloud_sync.db.repository import content_hash
from cloud_sync.ingest_service import run_ingest
from devkit.servers.redis import RedisServer
from edge_agent.buffer import EdgeBuffer
from edge_agent.uplink.service import run_sync
from storelens.config import load_config
from storelens.wire import AggregateWindow
from tests.integration.test_failures_receipts import tally
from tests.servers import INGEST_PASSWORD, storelens, wait_for, write_config

pytestmark = [pytest.mark.integration, pytest.mark.vision, pytest.mark.slow]

VIDEO = "video/vtest_pets2009_480x360.avi"  # 795 frames at 10 fps: 79.5 s of video
STORED = re.compile(r"camera (\S+): window (\S+) stored \(seq (\d+)")
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _edge_config(path: Path, media_dir: Path, model_dir: Path, redis_url: str, *, start: datetime,
                 cameras: int, realtime: bool, max_fps: float) -> Path:
    cams = [{"id": f"cam{i}", "url": str(media_dir / VIDEO), "start_time": start.isoformat(), "realtime": realtime,
             "max_fps": max_fps} for i in range(cameras)]
    raw = {"store_id": "store-001", "device_id": "edge-001",
           "models": {"dir": str(model_dir), "providers": ["cpu"]},
           "edge": {"window_minutes": 1, "cameras": cams}, "sync": {"redis_url": redis_url}}
    path.write_text(yaml.safe_dump(raw))
    return path


def _logged(log: Path) -> set[tuple[str, str, int]]:
    return {(m[1], m[2], int(m[3])) for m in STORED.finditer(log.read_text(errors="replace"))}


def _buffered(client: redis.Redis) -> list[tuple[str, str, int]]:
    return [(w.camera_id, w.window_start.isoformat(), w.seq) for w in _windows(client)]


def _windows(client: redis.Redis) -> list[AggregateWindow]:
    return [AggregateWindow.model_validate_json(f[b"payload"]) for _id, f in client.xrange("storelens:aggregates")]


def test_power_cut_right_after_a_window_boundary(tmp_path, media_dir, model_dir) -> None:
    started = time.monotonic()
    rng = random.Random(4)
    server = RedisServer(tmp_path / "redis").start()
    client = redis.Redis.from_url(server.url)
    said, delays = set(), []
    for round_ in range(3):
        boundary = T0 + timedelta(minutes=round_ + 1)
        log = tmp_path / f"edge{round_}.log"
        cfg = _edge_config(tmp_path / f"edge{round_}.yaml", media_dir, model_dir, server.url,
                           start=boundary - timedelta(seconds=5), cameras=4, realtime=True, max_fps=2)
        proc = storelens(["edge", "run", "--config", str(cfg)], env={}, log_path=log)
        closing = (boundary - timedelta(minutes=1)).isoformat()
        wait_for(lambda log=log, closing=closing: any(ws == closing for _c, ws, _s in _logged(log)), 120,
                 f"a window closing at {boundary:%H:%M}")
        delays.append(rng.uniform(0, 0.4))
        time.sleep(delays[-1])
        server.kill()  # power cut: Redis and the edge app die together
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        said |= _logged(log)
        server.start()
        print(f"round {round_ + 1}: killed {delays[-1]:.2f} s after the first window closed at {boundary:%H:%M}; "
              f"{sum(ws == closing for _c, ws, _s in _logged(log))} of 4 cameras had stored theirs")
    buffered = _buffered(client)
    client.close()
    server.stop()
    lost = said - set(buffered)
    duplicated = len(buffered) - len({(c, ws) for c, ws, _s in buffered})  # a key buffered twice
    print(f"[power cut after a window boundary, 4 cameras x 3] sent={len(said)} stored={len(said) - len(lost)} "
          f"lost={len(lost)} duplicated={duplicated} runtime={time.monotonic() - started:.1f}s")
    assert said and not lost and duplicated == 0


def test_a_clock_behind_within_a_closed_window_overwrites_nothing(tmp_path, media_dir, model_dir, fleet,
                                                                monkeypatch) -> None:
    started = time.monotonic()
    server = RedisServer(tmp_path / "redis").start()
    client = redis.Redis.from_url(server.url)
    buffer = EdgeBuffer(client)
    first = _edge_config(tmp_path / "run1.yaml", media_dir, model_dir, server.url, start=T0, cameras=1,
                         realtime=False, max_fps=2)
    assert storelens(["edge", "run", "--config", str(first)], env={}, log_path=tmp_path / "edge1.log").wait(180) == 0
    sent = _windows(client)
    assert [w.window_start for w in sent] == [T0, T0 + timedelta(minutes=1)]  # 10:00 closed, 10:01 final at the end
    # The box restarts with its clock at 10:01:30: inside 10:01, which closed already (floor 10:02).
    behind = _edge_config(tmp_path / "run2.yaml", media_dir, model_dir, server.url,
                          start=T0 + timedelta(seconds=90), cameras=1, realtime=False, max_fps=2)
    assert storelens(["edge", "run", "--config", str(behind)], env={}, log_path=tmp_path / "edge2.log").wait(180) == 0
    later = _windows(client)[len(sent):]
    sent += later
    stats = buffer.stats()
    assert [w.window_start for w in later] == [T0 + timedelta(minutes=2)] and stats.dropped_clock == 1
    assert "already closed" in (tmp_path / "edge2.log").read_text()
    assert not {w.key for w in later} & {w.key for w in sent[:2]}  # no closed window stamped again
    _upload(tmp_path, fleet, server.url, monkeypatch, expect=3)
    result = tally("clock behind within a closed window", sent, fleet.engine, started,
                   f" (re-stamps kept out on the box: {stats.dropped_clock})")
    with Session(fleet.engine) as session:
        rows = session.exec(select(AggregateRecord)).all()
    seqs = sorted(r.seq for r in rows)
    kept = {(r.camera_id, r.window_start): r.content_hash for r in rows}
    assert all(kept[(w.camera_id, w.window_start)] == content_hash(w) for w in sent[:2])  # run 1's, complete
    client.close()
    server.stop()
    assert (result.lost, result.duplicated) == (0, 0) and result.stored == 3
    assert len(set(seqs)) == 3  # no key stamped twice with one seq, none with the same seq as another


def _upload(tmp_path, fleet, redis_url: str, monkeypatch, *, expect: int) -> None:
    """sync + ingest (in-process) until `expect` windows are in the database and receipted."""
    monkeypatch.setenv("STORELENS_MQTT_PASSWORD", fleet.passwords["edge-001"])
    monkeypatch.setenv("STORELENS_INGEST_PASSWORD", INGEST_PASSWORD)
    cfg = load_config(write_config(tmp_path / "up.yaml", fleet=fleet, redis_url=redis_url,
                                   sync={"wait_for_ingest_s": 3, "receipt_timeout_s": 2}))
    stop = threading.Event()
    threads = [threading.Thread(target=run_ingest, args=(cfg, stop), kwargs={"worker": "inproc"}),
               threading.Thread(target=run_sync, args=(cfg, stop))]
    for t in threads:
        t.start()
    try:
        buffer = EdgeBuffer(redis.Redis.from_url(redis_url))
        wait_for(lambda: buffer.stats().depth == 0 and buffer.stats().receipted >= expect, 60, "the upload")
    finally:
        stop.set()
        for t in threads:
            t.join(20)
