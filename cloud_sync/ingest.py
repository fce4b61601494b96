"""Cloud ingest: MQTT (shared subscription) -> validate -> idempotent upsert or dead letter -> receipt.

Messages are acknowledged to the broker (manual PUBACK) only after the batch holding them is
committed, and the session is persistent, so a worker killed mid-batch loses nothing: the broker
delivers the unacknowledged messages again and the upsert stores each key once. After the commit
each device gets a receipt (cloud_sync/receipts.py) naming the windows now stored and those refused
for good; only then does the device delete them, so what a broker loses after its PUBACK is sent again.

Nothing a device sends can stop ingest: every message is parsed with size and nesting limits, and
any exception while handling one message dead-letters that message with the reason and acks it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pydantic_core
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from cloud_sync.db import repository as repo
from cloud_sync.metrics import IngestMetrics
from cloud_sync.receipts import ReceiptBook
from storelens.linkstate import LinkState
from storelens.mqttlink import MqttLink
from storelens.retry import Backoff
from storelens.wire import (
    DEVICE_KINDS,
    EARLIEST_WINDOW,
    INGEST_ALIVE_TOPIC,
    MAX_CLOCK_LEAD,
    MAX_PAYLOAD_BYTES,
    TOPIC_ROOT,
    AggregateWindow,
    HealthMessage,
    RefusalReason,
    WindowRef,
    parse_topic,
    window_from_payload,
    window_ref,
)

log = logging.getLogger(__name__)

# The database is unreachable, not the data bad: keep the batch unacknowledged and retry it.
DATABASE_DOWN = (OperationalError, InterfaceError)


class Rejected(Exception):
    """A message that goes to the dead-letter table, with the reason. `code` and `ref` are set when
    the refusal is for good and names a window: the sender's receipt then lists it as refused."""

    def __init__(self, reason: str, code: RefusalReason | None = None, ref: WindowRef | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.ref = ref


@dataclass
class IngestStats:
    received: int = 0
    stored: int = 0
    health: int = 0
    dead: int = 0
    batches: int = 0
    receipts: int = 0


def _validation_reason(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:3]]
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "malformed: " + "; ".join(parts) + more


def first_line(exc: Exception) -> str:
    """A database error's first line; the rest repeats the SQL statement and its parameters."""
    return str(exc).splitlines()[0]


def parse_message(topic_name: str, payload: bytes, received_at: datetime | None = None) -> tuple[str, str, str, object]:
    """(store, device, kind, parsed) or Rejected with the reason; no database needed."""
    try:
        store_id, device_id, kind = parse_topic(topic_name)
    except ValueError as exc:
        raise Rejected(f"bad topic: {exc}") from None
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise _malformed(kind, payload, f"oversized: {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        parsed = _parse_body(kind, payload)
    except ValidationError as exc:
        raise _malformed(kind, payload, _validation_reason(exc)) from None
    except ValueError as exc:
        raise _malformed(kind, payload, f"malformed: {exc}") from None
    if kind != "status" and (parsed.store_id, parsed.device_id) != (store_id, device_id):
        raise Rejected(f"wrongly addressed: payload says {parsed.store_id}/{parsed.device_id}, "
                       f"topic says {store_id}/{device_id}", "misaddressed",
                       window_ref(parsed) if kind == "aggregates" else None)
    if kind == "aggregates":
        _check_window(parsed, received_at or datetime.now(UTC))
    return store_id, device_id, kind, parsed


def _check_window(window: AggregateWindow, received_at: datetime) -> None:
    """Refuse what only a wrong clock or a forged sender makes: such a window could overwrite a real one."""
    if window.seeded:
        raise Rejected("seeded: devices may not send synthetic (seeded) windows", "seeded", window_ref(window))
    latest = received_at + MAX_CLOCK_LEAD
    if window.window_start < EARLIEST_WINDOW or window.window_end > latest:
        raise Rejected(f"clock: window {window.window_start.isoformat()}..{window.window_end.isoformat()} lies "
                       f"outside [{EARLIEST_WINDOW.date()}, receive time + {MAX_CLOCK_LEAD.days} day] "
                       "(is the box's clock right?)", "clock", window_ref(window))


def _malformed(kind: str, payload: bytes, reason: str) -> Rejected:
    """A malformed window is refused for good when its key and seq can still be read from it."""
    return Rejected(reason, "malformed", _raw_ref(payload) if kind == "aggregates" else None)


def _raw_ref(payload: bytes) -> WindowRef | None:
    try:  # pydantic's parser: nesting-limited, unlike json.loads
        raw = pydantic_core.from_json(payload)
        return WindowRef.model_validate({k: raw[k] for k in ("camera_id", "window_start", "seq")})
    except Exception:  # noqa: BLE001  (anything unreadable simply has no key to refuse)
        return None


def _parse_body(kind: str, payload: bytes) -> object:
    if kind == "aggregates":
        return window_from_payload(payload)
    if kind == "health":
        return HealthMessage.model_validate_json(payload)
    if payload not in (b"online", b"offline"):
        raise ValueError("status must be 'online' or 'offline'")
    return payload.decode()


def _sender(topic_name: str) -> tuple[str, str] | None:
    """(store, device) of an aggregates topic: where a refusal's receipt goes."""
    try:
        store_id, device_id, kind = parse_topic(topic_name)
    except ValueError:
        return None
    return (store_id, device_id) if kind == "aggregates" else None


def _topic_of(msg) -> str:
    try:
        return msg.topic
    except UnicodeDecodeError:  # the broker checks UTF-8, but never let one message stop the batch
        return "(topic not UTF-8)"


class Ingestor:
    """Batches messages from the link's queue into one transaction each, then acknowledges them."""

    def __init__(self, *, engine: Engine, link: MqttLink, share_group: str = "ingest",
                 batch_size: int = 500, batch_wait_s: float = 0.2, alive_interval_s: float = 10.0,
                 metrics: IngestMetrics | None = None) -> None:
        self.engine = engine
        self.metrics = metrics or IngestMetrics()  # /metrics (cloud_sync/metrics.py)
        self.last_loop = time.monotonic()
        self.link = link
        # The device kinds only: ingest's own receipts to devices are not for it.
        self.subscriptions = [f"$share/{share_group}/{TOPIC_ROOT}/+/+/{kind}" for kind in DEVICE_KINDS]
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.alive_interval_s = alive_interval_s
        self._subscribed = threading.Event()
        self._last_ping = 0.0
        self._db_retry = Backoff(1.0, 30.0)  # jittered, so workers do not retry in step
        self.inbox: queue.Queue = queue.Queue()
        self.stats = IngestStats()
        self.db_state = LinkState(f"database {engine.url.render_as_string(hide_password=True)}", log)
        self.receipt_state = LinkState("publishing receipts to devices", log)
        link.on_up = self._subscribe
        link.client.on_message = lambda _c, _u, msg: self.inbox.put((msg, link.generation))
        link.client.on_subscribe = self._on_subscribe
        link.client.on_publish = self._on_publish

    def _subscribe(self, client) -> None:
        self._subscribed.clear()  # a restarted broker forgets shared subscriptions: ask again
        client.subscribe([(pattern, 1) for pattern in self.subscriptions])

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _props) -> None:
        refused = [f"{pattern} ({rc})" for pattern, rc in zip(self.subscriptions, reason_codes, strict=False)
                   if rc.is_failure]
        if refused:
            log.error("broker refused the subscription %s", ", ".join(refused))
            return
        log.info("ingest subscribed to %s", ", ".join(self.subscriptions))
        self._subscribed.set()
        self._ping(force=True)

    def _on_publish(self, _client, _userdata, _mid, reason_code, _props) -> None:
        # Only receipts are QoS 1; a refused one costs a re-send from the device, never a window.
        if reason_code.is_failure:
            self.receipt_state.failed(f"broker refused a receipt: {reason_code} (may user {self.link.settings.username} "
                                      f"write {TOPIC_ROOT}/+/+/receipts in the broker ACL?)")
        else:
            self.receipt_state.recovered()

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
            self.last_loop = time.monotonic()  # the loop came round (systemd watchdog)
            self._ping()
            batch = self._next_batch(stop)
            while batch and not self._commit(batch):
                if stop.wait(self._db_retry.next()):  # database down: keep the batch (unacknowledged), retry
                    return
            self._db_retry.reset()
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
        self.link.client.unsubscribe(self.subscriptions)
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
        """Store and commit a batch, acknowledge it, send receipts. False: database unreachable, retry later."""
        book = ReceiptBook()
        try:
            counts = self._store_batch_or_singly(batch, book)
        except DATABASE_DOWN as exc:
            self.db_state.failed(first_line(exc))
            self.metrics.db_error("unreachable")
            return False
        self.db_state.recovered()
        for msg, generation in batch:
            # A packet id from an earlier connection may now name another message: do not ack it,
            # the broker redelivers that message anyway and the upsert stores it once.
            if generation == self.link.generation:
                self.link.client.ack(msg.mid, msg.qos)
        self._send_receipts(book)
        self._count(len(batch), counts)
        return True

    def _send_receipts(self, book: ReceiptBook) -> None:
        for where, receipt in book.messages(datetime.now(UTC)):
            try:
                self.link.client.publish(where, receipt.to_json(), qos=1)
            except (ValueError, OSError) as exc:  # never let a receipt undo a commit: the device re-sends
                log.warning("receipt to %s not sent: %s", where, exc)
                continue
            self.stats.receipts += 1

    def _store_batch_or_singly(self, batch: list, book: ReceiptBook) -> tuple[int, int, int]:
        try:
            return self._store([(_topic_of(m), m.payload) for m, _gen in batch], book)
        except DATABASE_DOWN:
            raise
        except SQLAlchemyError as exc:  # a message the database refuses must not block the rest
            self.metrics.db_error("refused")
            log.error("batch of %d refused by the database (%s): storing one by one", len(batch), first_line(exc))
        except Exception:  # a bug must not stop the fleet either: find the message that triggers it
            log.exception("batch of %d failed: storing one by one", len(batch))
        return self._store_one_by_one(batch, book)

    def _store(self, messages: list[tuple[str, bytes]], book: ReceiptBook) -> tuple[int, int, int]:
        mine = ReceiptBook()  # receipts only for what this transaction commits
        self.metrics.begin()
        with Session(self.engine) as session:
            counts = self.store_batch(session, messages, mine)
            session.commit()
        self.metrics.flush()
        book.merge(mine)
        return counts

    def _store_one_by_one(self, batch: list, book: ReceiptBook) -> tuple[int, int, int]:
        totals = [0, 0, 0]
        for msg, _gen in batch:
            topic_name = _topic_of(msg)
            try:
                counts = self._store([(topic_name, msg.payload)], book)
            except DATABASE_DOWN:
                raise
            except SQLAlchemyError as exc:
                counts = self._dead_alone(topic_name, f"database refused: {first_line(exc)}", msg.payload)
            except Exception as exc:  # noqa: BLE001  (dead-lettered with the reason, and acked)
                log.exception("message on %s failed", topic_name)
                counts = self._dead_alone(topic_name, f"internal error: {type(exc).__name__}: {exc}", msg.payload)
            totals = [t + c for t, c in zip(totals, counts, strict=True)]
        return tuple(totals)

    def _dead_alone(self, topic_name: str, reason: str, payload: bytes) -> tuple[int, int, int]:
        """Dead-letter one message in its own transaction; if even that fails, log it and move on."""
        try:
            self.metrics.begin()
            with Session(self.engine) as session:
                self._dead(session, topic_name, reason[:2000], payload)
                session.commit()
            self.metrics.flush()
        except DATABASE_DOWN:
            raise
        except Exception as exc:  # noqa: BLE001
            log.error("message on %s dropped: %s; its dead letter could not be written either: %s",
                      topic_name, reason, exc)
        return (0, 0, 1)

    def _count(self, received: int, counts: tuple[int, int, int]) -> None:
        self.stats.received += received
        self.stats.stored += counts[0]
        self.stats.health += counts[1]
        self.stats.dead += counts[2]
        self.stats.batches += 1
        self.metrics.committed(received, counts)

    def store_batch(self, session: Session, messages: list[tuple[str, bytes]],
                    receipts: ReceiptBook | None = None, received_at: datetime | None = None) -> tuple[int, int, int]:
        """Validate and write one batch in `session` (no commit). Returns (distinct windows, health, dead);
        `receipts` collects what each device may delete once this session commits. `received_at`: when
        the messages arrived (a dead-letter replay judges clocks by the original arrival, not by now)."""
        book = receipts if receipts is not None else ReceiptBook()
        received_at = received_at or datetime.now(UTC)
        parsed, dead = [], 0
        for topic_name, payload in messages:
            try:
                parsed.append((topic_name, payload, *parse_message(topic_name, payload, received_at)))
            except Rejected as exc:
                dead += self._refuse(session, book, topic_name, exc, payload)
            except Exception as exc:  # noqa: BLE001  (nothing a device sends may stop ingest)
                dead += self._dead(session, topic_name, f"unreadable: {type(exc).__name__}: {exc}", payload)
        devices = repo.active_devices(session, device_ids={p[3] for p in parsed})
        windows, health = [], 0
        for topic_name, payload, store_id, device_id, kind, body in parsed:
            device = devices.get(device_id)
            if device is None or device.store_id != store_id:
                # Not for good: the device keeps the window until the registry knows it.
                dead += self._dead(session, topic_name, f"unauthorised: device {device_id} of store {store_id} "
                                   "is not registered or is revoked", payload)
            elif kind == "aggregates":
                windows.append((topic_name, payload, body))
            else:
                health += self._health(session, store_id, device_id, kind, body)
        written, conflicts = self._windows(session, book, windows)
        return written, health, dead + conflicts

    def _windows(self, session: Session, book: ReceiptBook, items: list) -> tuple[int, int]:
        """Upsert the batch's windows; receipts for the committed, dead letters for the conflicts."""
        result = repo.store_windows(session, windows=[w for _t, _p, w in items])
        self.metrics.arrived(result.committed)
        for window in result.committed:
            book.committed(window.store_id, window.device_id, window)
        origin = {id(w): (t, p) for t, p, w in items}
        for window in result.conflicts:
            topic_name, payload = origin[id(window)]
            reason = (f"conflict: {window.camera_id} {window.window_start.isoformat()} seq {window.seq} is already "
                      "stored with other content; the first version is kept")
            self._refuse(session, book, topic_name, Rejected(reason, "conflict", window_ref(window)), payload)
        return result.written, len(result.conflicts)

    def _refuse(self, session: Session, book: ReceiptBook, topic_name: str, exc: Rejected, payload: bytes) -> int:
        sender = _sender(topic_name)
        if exc.code and exc.ref and sender:
            book.refused(*sender, exc.ref, exc.code)
        return self._dead(session, topic_name, str(exc), payload)

    @staticmethod
    def _health(session: Session, store_id: str, device_id: str, kind: str, body) -> int:
        if kind == "status":
            repo.record_status(session, store_id=store_id, device_id=device_id, status=body)
        else:
            repo.record_health(session, store_id=store_id, device_id=device_id, health=body)
        return 1

    def _dead(self, session: Session, topic_name: str, reason: str, payload: bytes) -> int:
        log.warning("dead letter from %s: %s", topic_name, reason)
        self.metrics.dead_letter(reason)
        repo.add_dead_letter(session, topic=topic_name, reason=reason, payload=payload)
        return 1

