"""The cloud database on SQLite and a real PostgreSQL: migrations, idempotent upsert, dead letters."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import Session, SQLModel, select

from cloud_sync.db import repository as repo
from cloud_sync.db.engine import alembic_config, init_db, make_engine
from cloud_sync.db.models import AggregateRecord, DeadLetter
from tests.servers import make_windows, stored_keys

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    init_db(engine)
    yield engine
    engine.dispose()


def test_migrations_build_exactly_the_models(engine) -> None:
    with engine.connect() as conn:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()  # one head, the newest
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
    init_db(engine)  # a second upgrade is a no-op


def test_same_key_twice_is_stored_once_and_old_replays_do_not_win(engine) -> None:
    windows = make_windows(8)
    newer = windows[3].model_copy(update={"seq": 5, "entries": 999})
    with Session(engine) as session:
        assert repo.upsert_windows(session, windows=windows + windows[:4]) == 8  # duplicates in one batch
        session.commit()
        repo.upsert_windows(session, windows=[newer])
        repo.upsert_windows(session, windows=[windows[3]])  # an older replay (seq 0) arrives late
        session.commit()
        assert repo.count_windows(session) == 8
        row = session.exec(select(AggregateRecord).where(AggregateRecord.entries == 999)).one()
    assert (row.seq, row.camera_id, row.window_start) == (5, windows[3].camera_id, windows[3].window_start)
    assert len(set(stored_keys(engine))) == 8


def test_json_columns_round_trip(engine) -> None:
    window = make_windows(1)[0].model_copy(update={"age_histogram": [i % 3 for i in range(91)]})
    with Session(engine) as session:
        repo.upsert_windows(session, windows=[window])
        session.commit()
        row = session.exec(select(AggregateRecord)).one()
    assert row.age_histogram == window.age_histogram
    assert row.dwell_seconds_histogram == window.dwell_seconds_histogram.model_dump()
    assert row.window_start == window.window_start  # timezone-aware UTC on both dialects


def test_dead_letter_keeps_reason_and_survives_binary_junk(engine) -> None:
    with Session(engine) as session:
        repo.add_dead_letter(session, topic="storelens/v1/s/e/aggregates", reason="malformed: not JSON",
                             payload=b"\x00\xff\xfe" + b"x" * 5000)
        session.commit()
        letter = session.exec(select(DeadLetter)).one()
    assert (letter.size, letter.reason) == (5003, "malformed: not JSON")
    assert letter.payload_head.startswith("\\0") and len(letter.payload_head) < 1100


def test_a_create_all_database_is_adopted_then_upgraded(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'legacy.db'}")
    SQLModel.metadata.create_all(engine)
    init_db(engine)
    assert "alembic_version" in inspect(engine).get_table_names()
    engine.dispose()


def test_cli_db_upgrade_migrates_the_configured_database(db_url, tmp_path, capsys) -> None:
    from storelens.cli import main

    (tmp_path / "cloud.yaml").write_text(f"cloud: {{database_url: '{db_url}'}}\n")
    assert main(["cloud", "db", "upgrade", "--config", str(tmp_path / "cloud.yaml")]) == 0
    assert "newest schema revision" in capsys.readouterr().out
    engine = make_engine(db_url)
    assert {"aggregaterecord", "device", "deadletter", "healthrecord", "store", "user"} <= set(
        inspect(engine).get_table_names())
    engine.dispose()
