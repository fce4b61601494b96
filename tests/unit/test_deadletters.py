"""Dead letters for an operator: kept payloads, replay through ingest's own validation, list/show/purge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import Session, select

from cloud_sync import registry
from cloud_sync.db.engine import init_db, make_engine
from cloud_sync.db.models import AggregateRecord, DeadLetter
from cloud_sync.deadletters import purge, replay
from cloud_sync.ingest import Ingestor
from storelens.cli import main
from storelens.errors import InputError
from storelens.wire import MAX_PAYLOAD_BYTES, AggregateWindow

TOPIC = "storelens/v1/store-001/edge-007/aggregates"


def _window(n: int = 0, **extra) -> bytes:
    now = datetime.now(UTC)
    start = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0) - timedelta(hours=2, minutes=15 * n)
    return AggregateWindow(store_id="store-001", device_id="edge-007", camera_id="door", window_start=start,
                           window_end=start + timedelta(minutes=15), entries=4, seq=n, **extra).to_json()


@pytest.fixture()
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    with Session(engine) as s:
        registry.add_store(s, store_id="store-001")
        s.commit()
    monkeypatch.setenv("STORELENS_CONFIG", str(_config(tmp_path, url)))
    yield engine
    engine.dispose()


def _config(tmp_path, url: str):
    path = tmp_path / "cloud.yaml"
    path.write_text(json.dumps({"cloud": {"database_url": url}}))
    return path


def _ingest(engine, messages: list[tuple[str, bytes]]) -> tuple[int, int, int]:
    link = SimpleNamespace(client=SimpleNamespace(), generation=0, settings=SimpleNamespace(username="t"),
                           state=SimpleNamespace(up=True))
    ingestor = Ingestor(engine=engine, link=link)
    with Session(engine) as session:
        counts = ingestor.store_batch(session, messages)
        session.commit()
    return counts


def _letters(engine) -> list[DeadLetter]:
    with Session(engine) as s:
        return list(s.exec(select(DeadLetter).order_by(DeadLetter.id)))


def _stored(engine) -> int:
    with Session(engine) as s:
        return len(list(s.exec(select(AggregateRecord))))


def test_a_refused_message_keeps_its_payload_but_an_oversized_one_only_its_head(db) -> None:
    big = b'{"x": "' + b"a" * (MAX_PAYLOAD_BYTES + 10) + b'"}'
    _ingest(db, [(TOPIC, _window(1)), (TOPIC, big)])
    by_reason = {letter.reason.split(":")[0]: letter for letter in _letters(db)}
    unauthorised, oversized = by_reason["unauthorised"], by_reason["oversized"]
    assert unauthorised.reason.startswith("unauthorised") and unauthorised.payload == _window(1)
    assert oversized.reason.startswith("oversized") and oversized.payload is None and len(oversized.payload_head) == 1024


def test_replay_stores_a_window_once_its_device_is_registered(db) -> None:
    _ingest(db, [(TOPIC, _window(1))])
    (letter,) = _letters(db)
    first = replay(db, letter.id)
    assert not first.stored and first.result.startswith("still refused: unauthorised") and _stored(db) == 0
    with Session(db) as s:
        registry.add_device(s, store_id="store-001", device_id="edge-007")
        s.commit()
    again = replay(db, letter.id)
    assert again.stored and again.result == "stored: 1 window(s), 0 health message(s)" and _stored(db) == 1
    assert replay(db, letter.id).stored and _stored(db) == 1  # idempotent: the key is stored once
    (marked,) = _letters(db)
    assert marked.replay_result.startswith("stored") and marked.replayed_at is not None
    assert len(_letters(db)) == 1  # a replay never adds dead letters of its own


def test_a_still_invalid_message_writes_nothing_and_says_why(db) -> None:
    with Session(db) as s:
        registry.add_device(s, store_id="store-001", device_id="edge-007")
        s.commit()
    bad = json.dumps({**json.loads(_window(2)), "entries": -5}).encode()
    _ingest(db, [(TOPIC, bad)])
    (letter,) = _letters(db)
    outcome = replay(db, letter.id)
    assert not outcome.stored and "malformed: entries" in outcome.result and _stored(db) == 0


def test_clocks_are_judged_by_the_original_arrival(db) -> None:
    with Session(db) as s:
        registry.add_device(s, store_id="store-001", device_id="edge-007")
        s.commit()
    future = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    payload = AggregateWindow(store_id="store-001", device_id="edge-007", camera_id="door", window_start=future,
                              window_end=future + timedelta(minutes=15), seq=1).to_json()
    _ingest(db, [(TOPIC, payload)])
    (letter,) = _letters(db)
    later = datetime.now(UTC) + timedelta(days=3)  # by now the window's time has come, but it was sent early
    assert not replay(db, letter.id, now=later).stored and _stored(db) == 0


def test_purge_clears_old_payloads_and_then_replay_refuses_in_one_line(db) -> None:
    _ingest(db, [(TOPIC, _window(1))])
    (letter,) = _letters(db)
    assert purge(db, keep_days=30) == 0
    assert purge(db, keep_days=30, now=datetime.now(UTC) + timedelta(days=31)) == 1
    assert _letters(db)[0].payload is None and _letters(db)[0].reason.startswith("unauthorised")
    with pytest.raises(InputError, match="its payload was not kept"):
        replay(db, letter.id)
    with pytest.raises(InputError, match="no such dead letter"):
        replay(db, 999)


def test_cli_list_show_replay(db, capsys) -> None:
    _ingest(db, [(TOPIC, _window(1)), ("storelens/v1/store-001/edge-007/health", b"\x1b[31mnot json")])
    assert main(["cloud", "deadletters", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[-1] == "2 dead letter(s)"
    assert "unauthorised" in out[0] and "malformed" in out[1]  # newest first
    assert "\x1b" not in "".join(out)
    letter_id = int(out[0].split()[0])
    assert main(["cloud", "deadletters", "show", str(letter_id), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["payload_kept"] and shown["topic"] == TOPIC
    assert main(["cloud", "deadletters", "replay", "--all"]) == 1  # the device is still unknown
    capsys.readouterr()
    with Session(db) as s:
        registry.add_device(s, store_id="store-001", device_id="edge-007")
        s.commit()
    assert main(["cloud", "deadletters", "replay", "--all", "--reason", "unauthorised"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "replayed 1: 1 stored, 0 still refused, 0 not replayable"
    assert main(["cloud", "deadletters", "replay"]) == 2  # neither ids nor --all
