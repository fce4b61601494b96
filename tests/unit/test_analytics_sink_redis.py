"""AnalyticsSink into the CPU edge service's own WindowSink and a real Redis buffer (loopback, temp dir):
a DeepStream run's windows land in the same stream `storelens sync run` drains, and a signal-time
flush is remembered as a partial so a restart merges it, exactly as for `storelens edge run`.
"""

from __future__ import annotations

import pytest
import redis

from devkit.servers.redis import RedisServer
from edge_agent.app import WindowSink
from edge_agent.buffer import EdgeBuffer
from edge_agent.resume import PartialStore
from storelens.wire import AggregateWindow
from tests.unit.test_analytics_sink import VISITOR_AGE, _sink, _walk_through

pytestmark = pytest.mark.integration


@pytest.fixture
def client(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    client = redis.Redis.from_url(server.url)
    yield client
    client.close()
    server.stop()


@pytest.mark.parametrize("partial", [False, True])
def test_deepstream_windows_reach_the_edge_buffer(client, partial):
    buffer = EdgeBuffer(client)
    partials = PartialStore(client, stream=buffer.stream)
    windows = WindowSink(buffer, partials)
    sink = _sink(windows)
    _walk_through(sink)
    assert sink.flush(partial=partial) == 1
    [entry] = buffer.read_batch("test", 10)
    window = AggregateWindow.model_validate_json(entry.payload)
    assert (window.camera_id, window.entries, window.visitors_with_age) == ("door", 1, 1)
    assert window.age_histogram[VISITOR_AGE] == 1
    assert (partials.take(window) is not None) is partial  # only a signal-time flush may be resumed
