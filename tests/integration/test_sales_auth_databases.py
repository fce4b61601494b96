"""POS import, log-in throttling, sessions, API tokens and alert state on both databases
(embedded SQLite and a real PostgreSQL server): the dialect-specific upserts and the atomic counter."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from cloud_sync import pos
from cloud_sync.db.engine import init_db, make_engine
from cloud_sync.db.models import LoginThrottle, PosHour, Store
from dashboard import auth, sessions, throttle
from dashboard.api import tokens

pytestmark = pytest.mark.integration

CSV = "store_id,hour_start,transactions,revenue,currency\n"


@pytest.fixture()
def engine(db_url):
    engine = make_engine(db_url)
    init_db(engine)
    with Session(engine) as s:
        s.add(Store(store_id="ber", name="Berlin", timezone="Europe/Berlin"))
        s.commit()
    auth.add_user(engine, username="mia", password="mia-password", role="manager", store_ids=["ber"])
    yield engine
    engine.dispose()


def test_pos_import_replaces_hours_and_refuses_whole_files(engine):
    first = pos.import_csv(engine, CSV + "ber,2026-03-29 09:00,5,10.5,EUR\nber,2026-03-29 10:00,6,,\n",
                           allowed_stores=None, source="a.csv")
    again = pos.import_csv(engine, CSV + "ber,2026-03-29 10:00,7,,\nber,2026-03-29 11:00,8,,\n",
                           allowed_stores=None, source="b.csv")
    assert (first.hours, again.hours, again.replaced) == (2, 2, 1)
    with pytest.raises(pos.PosImportError):
        pos.import_csv(engine, CSV + "ber,2026-03-29 12:00,1,,\nber,2026-03-29 13:00,x,,\n",
                       allowed_stores=None, source="c.csv")
    with engine.connect() as conn:
        rows = dict(conn.execute(select(PosHour.__table__.c.hour_start, PosHour.__table__.c.transactions)).all())
    assert sorted(rows.values()) == [5, 7, 8]


def test_throttle_counts_every_concurrent_failure(engine):
    attempt = throttle.keys("mia", "10.0.0.1")
    now = datetime(2026, 6, 1, tzinfo=UTC)
    workers = [threading.Thread(target=throttle.record_failure, args=(engine, attempt, now)) for _ in range(12)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    with engine.connect() as conn:
        failures = dict(conn.execute(select(LoginThrottle.__table__.c.key, LoginThrottle.__table__.c.failures)).all())
    assert failures == {"user:mia@10.0.0.1": 12, "user:mia": 12, "addr:10.0.0.1": 12}  # no lost update
    assert throttle.blocked_for(engine, attempt, now) > 0


def test_sessions_and_tokens(engine):
    sid = sessions.start(engine, "mia", hours=1)
    assert sessions.user_of(engine, sid, "mia").role == "manager"
    assert sessions.user_of(engine, sid, "ali") is None  # a session belongs to one user
    assert sessions.user_of(engine, sid, "mia", datetime.now(UTC) + timedelta(hours=2)) is None
    auth.add_user(engine, username="mia", password="new-password", role="manager", store_ids=["ber"])
    assert sessions.user_of(engine, sid, "mia") is None
    new = tokens.create(engine, "mia", name="bi")
    assert tokens.principal_for(engine, new.token).store_ids == ("ber",)
    tokens.revoke(engine, str(new.id))
    assert tokens.principal_for(engine, new.token) is None
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(PosHour.__table__)) == 0
