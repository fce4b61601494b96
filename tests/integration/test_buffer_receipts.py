"""The edge buffer with receipts, on a real redis-server: a PUBACK only marks a window sent, ingest's
receipt deletes it, an overdue receipt brings it back for a resend; and the sink's writes are durable,
atomic with their partial, never stamped twice with one seq, and bounded while Redis is away."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from devkit.servers.redis import RedisServer
from edge_agent.buffer import EdgeBuffer, NotDurable, ResendPolicy, ref_key
from edge_agent.resume import PartialStore
from edge_agent.sink import WindowSink
from storelens.wire import AggregateWindow, Receipt, RefusedRef, window_ref
from tests.servers import make_windows

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)


def _receipt(committed=(), refused=()) -> Receipt:
    return Receipt(store_id="store-001", device_id="edge-001", sent_at=NOW, committed=list(committed),
                   refused=list(refused))


def _versions(buffer: EdgeBuffer) -> list[tuple[str, int]]:
    return [(e.key, e.seq) for e in buffer.read_batch("check", 1000)]


def test_puback_marks_sent_and_only_a_receipt_deletes(redis_client) -> None:
    buffer = EdgeBuffer(redis_client)
    windows = [w.model_copy(update={"seq": i + 1}) for i, w in enumerate(make_windows(6))]
    for w in windows:
        buffer.append(w)
    batch = buffer.read_batch("edge-001", 4)
    assert buffer.mark_sent(batch) == 4
    stats = buffer.stats()
    assert (stats.depth, stats.pending, stats.awaiting_receipt) == (6, 0, 4)  # sent is not stored
    assert buffer.read_batch("edge-001", 10) == [e for e in buffer.read_batch("edge-001", 10)]
    lower = window_ref(windows[1]).model_copy(update={"seq": 1})  # an older version than the one buffered
    done = buffer.settle(_receipt(committed=[window_ref(windows[0]), lower],
                                  refused=[RefusedRef(**window_ref(windows[2]).model_dump(), reason="clock")]))
    stats = buffer.stats()
    assert done == (1, 1)
    assert (stats.depth, stats.awaiting_receipt, stats.receipted, stats.refused) == (4, 2, 1, 1)
    assert stats.last_ack_window == windows[0].window_start
    assert stats.bytes == sum(len(w.to_json()) for w in windows[1:2] + windows[3:])
    assert redis_client.hget(buffer.index_key, ref_key(windows[0])) is None  # the index forgets it too


def test_a_committed_receipt_covers_older_versions_a_refusal_only_its_own(redis_client) -> None:
    buffer = EdgeBuffer(redis_client)
    w = make_windows(1)[0]
    for seq in (3, 5, 8):
        buffer.append(w.model_copy(update={"seq": seq}))
    refused = RefusedRef(**window_ref(w).model_dump(exclude={"seq"}), seq=8, reason="conflict")
    assert buffer.settle(_receipt(refused=[refused])) == (0, 1)
    assert [seq for _k, seq in _versions(buffer)] == [3, 5]
    assert buffer.settle(_receipt(committed=[window_ref(w).model_copy(update={"seq": 5})])) == (2, 0)
    assert buffer.stats().depth == 0


def test_a_sent_window_without_receipt_is_due_again_with_growing_delays(redis_client) -> None:
    buffer = EdgeBuffer(redis_client, resend=ResendPolicy(first_s=1.0, max_s=3.0, jitter=0.0))
    buffer.append(make_windows(1)[0])
    t0 = 1_000_000_000_000
    sends = []
    for _ in range(4):
        entry = buffer.due_for_resend(10, now_ms=t0 + 10**9) if sends else buffer.read_batch("edge-001", 1)
        buffer.mark_sent(entry, now_ms=t0)
        due_ms = int(redis_client.zscore(buffer.due_key, entry[0].entry_id)) - t0
        sends.append(due_ms)
    assert sends == [1000, 2000, 3000, 3000]  # doubling, capped
    assert buffer.due_for_resend(10, now_ms=t0 + 2999) == []
    assert len(buffer.due_for_resend(10, now_ms=t0 + 3000)) == 1
    assert buffer.stats().resent == 3


def test_jitter_spreads_resends(redis_client) -> None:
    buffer = EdgeBuffer(redis_client, resend=ResendPolicy(first_s=100.0, max_s=100.0))
    for w in make_windows(50):
        buffer.append(w)
    buffer.mark_sent(buffer.read_batch("edge-001", 50), now_ms=0)
    dues = [score for _m, score in redis_client.zrange(buffer.due_key, 0, -1, withscores=True)]
    assert min(dues) >= 50_000 and max(dues) <= 100_000 and len(set(dues)) > 40


def test_dropping_for_the_bound_forgets_the_index_and_the_resend(redis_client) -> None:
    windows = make_windows(3)
    size = len(windows[0].to_json())
    buffer = EdgeBuffer(redis_client, max_bytes=2 * size + 10)
    buffer.append(windows[0])
    buffer.append(windows[1])
    buffer.mark_sent(buffer.read_batch("edge-001", 2))
    buffer.append(windows[2])  # pushes windows[0] out while it awaits its receipt
    assert buffer.stats().awaiting_receipt == 1 and redis_client.hlen(buffer.index_key) == 2
    assert [e.key for e in buffer.due_for_resend(10, now_ms=2**50)] == [_key(windows[1])]


def _key(w: AggregateWindow) -> str:
    return f"{w.device_id}|{w.camera_id}|{w.window_start.isoformat()}"


def test_windows_buffered_before_receipts_are_indexed_and_settled(redis_client) -> None:
    w = make_windows(1)[0].model_copy(update={"seq": 4})
    # What the previous version appended: no ref, no seq field.
    redis_client.xadd("storelens:aggregates", {"key": _key(w), "ws": w.window_start.isoformat(), "payload": w.to_json()})
    buffer = EdgeBuffer(redis_client)
    assert buffer.reindex() == 1 and buffer.reindex() == 0  # once
    assert buffer.settle(_receipt(committed=[window_ref(w)])) == (1, 0)  # seq read from the payload


def test_ensure_durable_switches_everysec_to_always_and_refuses_no_aof(tmp_path, caplog) -> None:
    with RedisServer(tmp_path / "r", appendfsync="everysec") as server:
        client = redis.Redis.from_url(server.url)
        with caplog.at_level(logging.WARNING, logger="edge_agent.buffer"):
            EdgeBuffer(client).ensure_durable()
        assert client.config_get("appendfsync") == {"appendfsync": "always"}
        assert "switched it to always" in caplog.text
        client.config_set("appendonly", "no")
        with pytest.raises(NotDurable, match="appendonly off"):
            EdgeBuffer(client).ensure_durable()


def _window(camera: str, minute: int, **extra) -> AggregateWindow:
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC) + timedelta(minutes=minute)
    return AggregateWindow(store_id="store-001", device_id="edge-001", camera_id=camera, window_start=start,
                           window_end=start + timedelta(minutes=15), **extra)


def test_sink_writes_entry_partial_and_floor_in_one_transaction(redis_client, monkeypatch) -> None:
    buffer = EdgeBuffer(redis_client)
    partials = PartialStore(redis_client, stream=buffer.stream)
    sink = WindowSink(buffer, partials)
    monkeypatch.setattr(partials, "settle", lambda *a, **k: (_ for _ in ()).throw(redis.ResponseError("boom")))
    sink.put([_window("door", 0, entries=2)], partial=True)
    assert buffer.stats().depth == 0 and redis_client.hlen(partials.key) == 0  # neither half written
    monkeypatch.undo()
    assert sink.retry() == 0
    assert buffer.stats().depth == 1 and redis_client.hlen(partials.key) == 1
    assert partials.floor_of("door") == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)  # a partial's key stays open


def test_sink_never_stamps_a_key_twice_with_one_seq_and_merges_partials(redis_client) -> None:
    buffer = EdgeBuffer(redis_client)
    partials = PartialStore(redis_client, stream=buffer.stream)
    sink = WindowSink(buffer, partials)
    sink.put([_window("door", 0, entries=2)], partial=True)  # SIGTERM at 10:07
    sink.put([_window("door", 0, entries=3)])  # back at 10:09: the same key closes, seq 0 from a fresh pipeline
    versions = [AggregateWindow.model_validate_json(e.payload) for e in buffer.read_batch("check", 10)]
    assert [w.entries for w in versions] == [2, 5] and versions[1].seq > versions[0].seq
    assert redis_client.hlen(partials.key) == 0
    assert partials.floor_of("door") == datetime(2026, 3, 1, 10, 15, tzinfo=UTC)


def test_sink_keeps_out_a_window_whose_key_already_closed(redis_client, caplog) -> None:
    buffer = EdgeBuffer(redis_client)
    partials = PartialStore(redis_client, stream=buffer.stream)
    sink = WindowSink(buffer, partials)
    sink.put([_window("door", 0, entries=7)])  # closed at 10:15, sent
    with caplog.at_level(logging.ERROR, logger="edge_agent.sink"):
        sink.put([_window("door", 0, entries=1)])  # restarted with the clock at 10:05: the same key again
        sink.put([_window("floor", 0, entries=1)])  # another camera is not affected
    stats = buffer.stats()
    assert (stats.depth, stats.dropped_clock) == (2, 1)
    assert "already closed" in caplog.text


def test_held_windows_are_bounded_counted_and_logged_as_they_grow(tmp_path, caplog) -> None:
    server = RedisServer(tmp_path / "r").start()
    client = redis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=1)
    buffer = EdgeBuffer(client)
    sink = WindowSink(buffer, PartialStore(client, stream=buffer.stream), max_held=5)
    sink.put([_window("door", 0)])
    server.stop()  # Redis gone (a full disk looks the same to the sink: every write refused)
    with caplog.at_level(logging.WARNING, logger="edge_agent.sink"):
        for minute in range(15, 15 * 9, 15):
            sink.put([_window("door", minute)])
    held = [r.getMessage() for r in caplog.records if "held in memory" in r.getMessage()]
    dropped = [r.getMessage() for r in caplog.records if "DROPPED" in r.getMessage()]
    assert sink.retry() == 5 and sink.dropped_held == 3
    assert len(dropped) == 3 and "(3 dropped so far)" in dropped[-1]
    assert any("1 window(s)" in m for m in held) and any("4 window(s)" in m for m in held)  # it updates
    server.start()
    assert sink.retry() == 0
    stats = buffer.stats()
    assert (stats.depth, stats.dropped_held) == (6, 3)
    client.close()
    server.stop()


def test_windows_survive_sigkill_of_redis_right_after_the_sink_returns(tmp_path) -> None:
    server = RedisServer(tmp_path / "r").start()
    client = redis.Redis.from_url(server.url)
    buffer = EdgeBuffer(client)
    sink = WindowSink(buffer, PartialStore(client, stream=buffer.stream))
    for minute in range(0, 15 * 40, 15):
        sink.put([_window(camera, minute, entries=minute) for camera in ("a", "b", "c", "d")])
    server.kill()  # SIGKILL the instant the last put returned
    time.sleep(0.2)
    server.start()
    assert buffer.stats().depth == 4 * 40
    client.close()
    server.stop()


def test_sync_status_shows_sent_awaiting_receipt_receipted_and_resent(redis_server, redis_client, tmp_path,
                                                                      capsys) -> None:
    from storelens.cli import main

    buffer = EdgeBuffer(redis_client)
    windows = make_windows(10)
    for w in windows:
        buffer.append(w)
    buffer.mark_sent(buffer.read_batch("edge-001", 6), now_ms=0)  # long overdue
    buffer.mark_sent(buffer.due_for_resend(2))  # two of them went out again
    buffer.settle(_receipt(committed=[window_ref(w) for w in windows[:3]]))
    (tmp_path / "c.yaml").write_text(f"sync: {{redis_url: '{redis_server.url}'}}\n")
    assert main(["sync", "status", "--config", str(tmp_path / "c.yaml"), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert {k: status[k] for k in ("backlog", "pending", "awaiting_receipt", "receipted", "resent")} == {
        "backlog": 7, "pending": 0, "awaiting_receipt": 3, "receipted": 3, "resent": 2}
    assert status["last_ack_window"] == windows[2].window_start.isoformat()
    assert main(["sync", "status", "--config", str(tmp_path / "c.yaml")]) == 0
    text = capsys.readouterr().out
    assert "awaiting_receipt  3" in text and "resent            2" in text
