"""Fixtures starting real servers on 127.0.0.1 (random ports, temp dirs), stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from cloud_sync.db.pgserver import PostgresServer
from edge_agent.buffer import EdgeBuffer
from edge_agent.redis_server import RedisServer
from tests.servers import Fleet, fresh_pg_database


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def edge_buffer(redis_client) -> EdgeBuffer:
    return EdgeBuffer(redis_client)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """Each test using this runs twice: embedded SQLite and a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cloud.db'}"
    return fresh_pg_database(request.getfixturevalue("pg_server").url)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cloud.db'}"


@pytest.fixture
def fleet(sqlite_url, tmp_path) -> Iterator[Fleet]:
    """SQLite registry with store-001/edge-001 registered, and a running TLS broker that knows it."""
    fleet = Fleet(sqlite_url, tmp_path / "broker")
    fleet.add("store-001", "edge-001")
    fleet.start_broker()
    yield fleet
    fleet.stop()
