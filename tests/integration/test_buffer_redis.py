"""The edge buffer on a real redis-server: order, ack-after-PUBACK semantics, bounds, AOF restarts."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from devkit.servers.redis import RedisServer
from edge_agent.buffer import EdgeBuffer
from tests.servers import make_windows

pytestmark = pytest.mark.integration


def test_oldest_first_and_deleted_only_when_acked(edge_buffer: EdgeBuffer) -> None:
    windows = make_windows(10)
    for w in windows:
        edge_buffer.append(w)
    batch = edge_buffer.read_batch("edge-001", 4)
    assert [e.payload for e in batch] == [w.to_json() for w in windows[:4]]
    assert edge_buffer.stats().depth == 10  # read is not delete
    assert edge_buffer.ack(batch[:2]) == 2
    stats = edge_buffer.stats()
    assert (stats.depth, stats.pending) == (8, 2)
    assert stats.last_ack_window == windows[1].window_start
    assert stats.bytes == sum(len(w.to_json()) for w in windows[2:])


def test_unacked_entries_come_back_first_after_a_crash(redis_client) -> None:
    first = EdgeBuffer(redis_client)
    for w in make_windows(6):
        first.append(w)
    lost = first.read_batch("old-consumer", 3)  # sent, then the process died before PUBACK
    restarted = EdgeBuffer(redis_client)
    assert restarted.claim_pending("edge-001") == 3
    again = restarted.read_batch("edge-001", 10)
    assert [e.entry_id for e in again] == [e.entry_id for e in lost]  # pending first, oldest first
    assert [e.key for e in restarted.read_batch("edge-001", 10)] == [e.key for e in again]  # still pending
    restarted.ack(again)
    assert len(restarted.read_batch("edge-001", 10)) == 3  # then the new ones


def test_byte_bound_drops_oldest_counts_and_logs_loudly(redis_client, caplog) -> None:
    windows = make_windows(40)
    size = len(windows[0].to_json())
    buf = EdgeBuffer(redis_client, max_bytes=size * 10 + size // 2)
    with caplog.at_level(logging.ERROR, logger="edge_agent.buffer"):
        for w in windows:
            buf.append(w)
    stats = buf.stats()
    assert stats.depth == 10 and stats.dropped_full == 30 and stats.appended == 40
    assert stats.bytes <= buf.max_bytes
    kept = [e.payload for e in buf.read_batch("edge-001", 100)]
    assert kept == [w.to_json() for w in windows[30:]]  # the newest survive
    assert len(caplog.records) == 30 and "DROPPED" in caplog.records[0].getMessage()


def test_age_bound_drops_stale_windows_even_without_appends(redis_client) -> None:
    buf = EdgeBuffer(redis_client, max_age_s=0.3)
    for w in make_windows(5):
        buf.append(w)
    time.sleep(0.4)
    assert buf.trim() == (0, 5)
    assert (buf.stats().depth, buf.stats().dropped_age) == (0, 5)


def test_entry_dropped_while_pending_is_forgotten_not_resent(redis_client) -> None:
    windows = make_windows(3)
    size = len(windows[0].to_json())
    buf = EdgeBuffer(redis_client, max_bytes=size * 2 + 10)
    buf.append(windows[0])
    buf.append(windows[1])
    pending = buf.read_batch("edge-001", 10)
    buf.append(windows[2])  # pushes windows[0] out while it is in flight
    assert [e.payload for e in buf.read_batch("edge-001", 10)] == [windows[1].to_json()]
    assert buf.ack(pending) == 1  # the late PUBACK of the dropped one removes nothing twice
    assert buf.stats().bytes == size


@pytest.mark.parametrize(("fsync", "how"), [("everysec", "stop"), ("always", "kill")])
def test_windows_survive_a_redis_restart_from_the_aof(tmp_path, fsync: str, how: str) -> None:
    server = RedisServer(tmp_path / "r", appendfsync=fsync).start()
    client = redis.Redis.from_url(server.url)
    buf = EdgeBuffer(client)
    for w in make_windows(50):
        buf.append(w)
    buf.ack(buf.read_batch("edge-001", 20))
    getattr(server, how)()  # 'kill' is SIGKILL: only appendfsync=always promises every write
    server.start()
    stats = EdgeBuffer(client).stats()
    assert (stats.depth, stats.appended, stats.pending) == (30, 50, 0)
    assert (tmp_path / "r" / "appendonlydir").is_dir()
    client.close()
    server.stop()


def test_password_protected_redis_refuses_without_it(tmp_path) -> None:
    with RedisServer(tmp_path / "r", password="s3cret-test") as server:
        with pytest.raises(redis.AuthenticationError):
            EdgeBuffer(redis.Redis.from_url(server.url)).stats()
        assert EdgeBuffer(redis.Redis.from_url(server.url, password="s3cret-test")).stats().depth == 0


def test_an_oversized_window_loses_heatmap_detail_not_its_counts(edge_buffer: EdgeBuffer, caplog) -> None:
    from storelens.wire import MAX_PAYLOAD_BYTES, Heatmap, window_from_payload

    cells = [[c % 500, c // 500, 1] for c in range(30_000)]  # a very fine grid: ~400 kB of cells
    window = make_windows(1)[0].model_copy(update={
        "heatmap": Heatmap(cell_m=0.1, width_cells=500, height_cells=60, cells=cells, by_band={"18-24": cells})})
    with caplog.at_level(logging.ERROR, logger="edge_agent.buffer"):
        edge_buffer.append(window)
    payload = edge_buffer.read_batch("edge-001", 1)[0].payload
    sent = window_from_payload(payload)  # ingest will accept it
    assert len(payload) <= MAX_PAYLOAD_BYTES and sent.entries == window.entries
    assert sent.heatmap.by_band == {} and sent.heatmap.cells == []
    assert "leaving out heatmap" in caplog.text


def test_a_partial_outlived_by_the_restart_is_forgotten_not_kept_for_ever(redis_client) -> None:
    from edge_agent.app import WindowSink
    from edge_agent.resume import PartialStore
    from storelens.wire import AggregateWindow

    def window(camera: str, minute: int) -> AggregateWindow:
        start = datetime(2026, 3, 1, 10, minute, tzinfo=UTC)
        return AggregateWindow(store_id="s-1", device_id="edge-1", camera_id=camera, window_start=start,
                               window_end=start + timedelta(minutes=15), entries=1)

    buffer = EdgeBuffer(redis_client)
    partials = PartialStore(redis_client, stream=buffer.stream)
    sink = WindowSink(buffer, partials)
    sink.put([window("door", 0), window("floor", 0)], partial=True)  # flushed at shutdown, 10:07
    assert redis_client.hlen(partials.key) == 2
    sink.put([window("door", 30)])  # back at 10:31: door's 10:00 window can never close again
    assert redis_client.hlen(partials.key) == 1  # floor has produced nothing yet: its partial stays
    assert buffer.stats().depth == 3  # every window was sent as it was; nothing lost
