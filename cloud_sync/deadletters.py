"""Dead letters for an operator: list, show, replay through ingest's own validation, purge payloads.

A message lands in the dead-letter table when ingest refuses it (malformed, unauthorised device,
conflicting content, database refusal). Some causes go away: a device registered after it first
sent, a cloud upgraded to a schema a newer box already speaks. `replay` runs a kept message
through exactly what ingest runs (`Ingestor.store_batch`: parse, validate, authorise, upsert) in
one transaction: if it is valid now it is stored (idempotently: a window the device re-sent in the
meantime is not stored twice) and the letter is marked `stored`; if not, nothing is written but the
letter's `replay_result` says why, so the operator sees the cause that remains. Clocks are judged
against the letter's original arrival: a window from the future does not become valid by waiting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud_sync.db import repository as repo
from cloud_sync.db.models import DeadLetter
from cloud_sync.ingest import Ingestor
from storelens.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replay:
    letter_id: int
    stored: bool
    result: str


class _ReplayIngestor(Ingestor):
    """Ingest's validation and storage without a broker: refusals are collected, not dead-lettered again."""

    def __init__(self, engine: Engine) -> None:
        offline = SimpleNamespace(client=SimpleNamespace(), generation=0, settings=SimpleNamespace(username="replay"),
                                  state=SimpleNamespace(up=False))
        super().__init__(engine=engine, link=offline)
        self.refusals: list[str] = []

    def _dead(self, session: Session, topic_name: str, reason: str, payload: bytes) -> int:
        self.refusals.append(reason)
        return 1


def replay(engine: Engine, letter_id: int, now: datetime | None = None) -> Replay:
    """Run one dead letter through ingest again; store it when valid now. InputError when it cannot be replayed."""
    now = now or datetime.now(UTC)
    with Session(engine) as session:
        letter = _letter(session, letter_id)
        ingestor = _ReplayIngestor(engine)
        windows, health, _dead = ingestor.store_batch(session, [(letter.topic, letter.payload)],
                                                      received_at=letter.received_at)
        if ingestor.refusals:
            session.rollback()  # nothing of a still-invalid message is written
            letter = _letter(session, letter_id)
            result = f"still refused: {ingestor.refusals[0]}"
        else:
            result = f"stored: {windows} window(s), {health} health message(s)"
        letter.replayed_at, letter.replay_result = now, result[:2000]
        session.add(letter)
        session.commit()  # the replayed data and its mark in one transaction
    log.info("dead letter %d replayed: %s", letter_id, result)
    return Replay(letter_id, not result.startswith("still"), result)


def _letter(session: Session, letter_id: int) -> DeadLetter:
    letter = session.get(DeadLetter, letter_id)
    if letter is None:
        raise InputError(f"dead letter {letter_id}: no such dead letter")
    if letter.payload is None:
        raise InputError(f"dead letter {letter_id}: its payload was not kept (oversized, purged, or refused before "
                         "payloads were kept), so it cannot be replayed; `deadletters show` has its head")
    return letter


def purge(engine: Engine, keep_days: float, now: datetime | None = None) -> int:
    """Clear payloads older than `keep_days`; returns how many."""
    before = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    with Session(engine) as session:
        count = repo.purge_dead_letter_payloads(session, before=before)
        session.commit()
    return count


def describe(letter: DeadLetter) -> dict:
    """A letter for `show --json` / `list --json` (no payload bytes: the head stands for them)."""
    return {"id": letter.id, "received_at": letter.received_at.isoformat(), "topic": letter.topic,
            "reason": letter.reason, "size": letter.size, "payload_kept": letter.payload is not None,
            "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
            "replay_result": letter.replay_result, "payload_head": letter.payload_head}
