"""Cloud ingest: MQTT (shared subscription) -> validate -> idempotent upsert or dead letter.

Messages are acknowledged to the broker (manual PUBACK) only after the batch holding them is
committed, and the session is persistent, so a worker killed mid-batch loses nothing: the broker
delivers the unacknowledged messages again and the upsert stores each key once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from cloud_sync.db import repository as repo
from storelens.linkstate import LinkState
from storelens.mqttlink import MqttLink
from storelens.wire import (
    INGEST_ALIVE_TOPIC,
    MAX_PAYLOAD_BYTES,
    TOPIC_ROOT,
    HealthMessage,
    parse_topic,
    window_from_payload,
)

log = logging.getLogger(__name__)

# The database is unreachable, not the data bad: keep the batch unacknowledged and retry it.
DATABASE_DOWN = (OperationalError, InterfaceError)


class Rejected(Exception):
    """A message that goes to the dead-letter table, with the reason."""


@dataclass
class IngestStats:
    received: int = 0
    stored: int = 0
    health: int = 0
    dead: int = 0
    batches: int = 0


def _validation_reason(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:3]]
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "malformed: " + "; ".join(parts) + more


def _first_line(exc: Exception) -> str:
    """A database error's first line; the rest repeats the SQL statement and its parameters."""
    return str(exc).splitlines()[0]


def parse_message(topic_name: str, payload: bytes) -> tuple[str, str, str, object]:
    """(store, device, kind, parsed) or Rejected with the reason; no database needed."""
    try:
        store_id, device_id, kind = parse_topic(topic_name)
    except ValueError as exc:
        raise Rejected(f"bad topic: {exc}") from None
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected(f"oversized: {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        parsed = _parse_body(kind, payload)
    except ValidationError as exc:
        raise Rejected(_validation_reason(exc)) from None
    except ValueError as exc:
        raise Rejected(f"malformed: {exc}") from None
    if kind != "status" and (parsed.store_id, parsed.device_id) != (store_id, device_id):
        raise Rejected(f"wrongly addressed: payload says {parsed.store_id}/{parsed.device_id}, "
                       f"topic says {store_id}/{device_id}")
    return store_id, device_id, kind, parsed


def _parse_body(kind: str, payload: bytes) -> object:
    if kind == "aggregates":
        return window_from_payload(payload)
    if kind == "health":
        return HealthMessage.model_validate_json(payload)
    if payload not in (b"online", b"offline"):
        raise ValueError("status must be 'online' or 'offline'")
    return payload.decode()


class Ingestor:
    """Batches messages from the link's queue into one transaction each, then acknowledges them."""

    def __init__(self, *, engine: Engine, link: MqttLink, share_group: str = "ingest",
                 batch_size: int = 500, batch_wait_s: float = 0.2, alive_interval_s: float = 10.0) -> None:
        self.engine = engine
        self.link = link
        self.subscription = f"$share/{share_group}/{TOPIC_ROOT}/+/+/#"
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.alive_interval_s = alive_interval_s
        self._subscribed = threading.Event()
        self._last_ping = 0.0
        self.inbox: queue.Queue = queue.Queue()
        self.stats = IngestStats()
        self.db_state = LinkState(f"database {engine.url.render_as_string(hide_password=True)}", log)
        link.on_up = self._subscribe
        link.client.on_message = lambda _c, _u, msg: self.inbox.put((msg, link.generation))
        link.client.on_subscribe = self._on_subscribe

    def _subscribe(self, client) -> None:
        self._subscribed.clear()  # a restarted broker forgets shared subscriptions: ask again
        client.subscribe(self.subscription, qos=1)

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _props) -> None:
        if any(rc.is_failure for rc in reason_codes):
            log.error("broker refused the subscription %s: %s", self.subscription, reason_codes[0])
            return
        log.info("ingest subscribed to %s", self.subscription)
        self._subscribed.set()
        self._ping(force=True)

    def _ping(self, force: bool = False) -> None:
        """Tell devices a subscribed worker is listening (they drain only while they hear this)."""
        now = time.monotonic()
        if self._subscribed.is_set() and self.link.state.up and (force or now - self._last_ping >= self.alive_interval_s):
            self.link.client.publish(INGEST_ALIVE_TOPIC, b"alive", qos=0)
            self._last_ping = now

    def run(self, stop: threading.Event, *, idle_exit_s: float | None = None) -> None:
        """Until `stop`; with `idle_exit_s`, also return once subscribed and idle that long."""
        idle_since = time.monotonic()
        while not stop.is_set():
            self._ping()
            batch = self._next_batch(stop)
            while batch and not self._commit(batch):
                if stop.wait(2.0):  # database down: keep the batch (unacknowledged) and retry
                    return
            if batch or not self._subscribed.is_set():
                idle_since = time.monotonic()
            elif idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                return

    def retire(self, stop: threading.Event, idle_s: float = 3.0) -> None:
        """Scale-down: take this worker's queued share, leave the group, and end its session.

        Mosquitto keeps handing a share of the traffic to a stopped worker's persistent session,
        so a worker that will not come back must be retired, never just stopped.
        """
        self.run(stop, idle_exit_s=idle_s)
        self.link.client.unsubscribe(self.subscription)
        self.run(stop, idle_exit_s=1.0)  # anything delivered before the UNSUBACK

    def _next_batch(self, stop: threading.Event) -> list:
        try:
            batch = [self.inbox.get(timeout=0.5)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_size and not stop.is_set():
            try:
                batch.append(self.inbox.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _commit(self, batch: list) -> bool:
        """Store and commit a batch, then acknowledge it. False: database unreachable, retry later."""
        try:
            counts = self._store_batch_or_singly(batch)
        except DATABASE_DOWN as exc:
            self.db_state.failed(_first_line(exc))
            return False
        self.db_state.recovered()
        for msg, generation in batch:
            # A packet id from an earlier connection may now name another message: do not ack it,
            # the broker redelivers that message anyway and the upsert stores it once.
            if generation == self.link.generation:
                self.link.client.ack(msg.mid, msg.qos)
        self._count(len(batch), counts)
        return True

    def _store_batch_or_singly(self, batch: list) -> tuple[int, int, int]:
        try:
            return self._store([(m.topic, m.payload) for m, _gen in batch])
        except DATABASE_DOWN:
            raise
        except SQLAlchemyError as exc:  # a message the database refuses must not block the rest
            log.error("batch of %d refused by the database (%s): storing one by one", len(batch), _first_line(exc))
            return self._store_one_by_one(batch)

    def _store(self, messages: list[tuple[str, bytes]]) -> tuple[int, int, int]:
        with Session(self.engine) as session:
            counts = self.store_batch(session, messages)
            session.commit()
        return counts

    def _store_one_by_one(self, batch: list) -> tuple[int, int, int]:
        totals = [0, 0, 0]
        for msg, _gen in batch:
            try:
                counts = self._store([(msg.topic, msg.payload)])
            except DATABASE_DOWN:
                raise
            except SQLAlchemyError as exc:
                with Session(self.engine) as session:
                    self._dead(session, msg.topic, f"database refused: {_first_line(exc)}", msg.payload)
                    session.commit()
                counts = (0, 0, 1)
            totals = [t + c for t, c in zip(totals, counts, strict=True)]
        return tuple(totals)

    def _count(self, received: int, counts: tuple[int, int, int]) -> None:
        self.stats.received += received
        self.stats.stored += counts[0]
        self.stats.health += counts[1]
        self.stats.dead += counts[2]
        self.stats.batches += 1

    def store_batch(self, session: Session, messages: list[tuple[str, bytes]]) -> tuple[int, int, int]:
        """Validate and write one batch in `session` (no commit). Returns (distinct windows, health, dead)."""
        parsed, dead = [], 0
        for topic_name, payload in messages:
            try:
                parsed.append((topic_name, payload, *parse_message(topic_name, payload)))
            except Rejected as exc:
                dead += self._dead(session, topic_name, str(exc), payload)
        devices = repo.active_devices(session, device_ids={p[3] for p in parsed})
        windows, health = [], 0
        for topic_name, payload, store_id, device_id, kind, body in parsed:
            device = devices.get(device_id)
            if device is None or device.store_id != store_id:
                dead += self._dead(session, topic_name, f"unauthorised: device {device_id} of store {store_id} "
                                   "is not registered or is revoked", payload)
            elif kind == "aggregates":
                windows.append(body)
            else:
                health += self._health(session, store_id, device_id, kind, body)
        return repo.upsert_windows(session, windows=windows), health, dead

    @staticmethod
    def _health(session: Session, store_id: str, device_id: str, kind: str, body) -> int:
        if kind == "status":
            repo.record_status(session, store_id=store_id, device_id=device_id, status=body)
        else:
            repo.record_health(session, store_id=store_id, device_id=device_id, health=body)
        return 1

    @staticmethod
    def _dead(session: Session, topic_name: str, reason: str, payload: bytes) -> int:
        log.warning("dead letter from %s: %s", topic_name, reason)
        repo.add_dead_letter(session, topic=topic_name, reason=reason, payload=payload)
        return 1

