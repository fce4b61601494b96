"""Edge side of sync: buffered windows to the broker, off-peak, capped, acknowledged, receipted.

Oldest first, in batches, QoS 1. A PUBACK with a success reason code only marks an entry *sent*:
it stays in the buffer until ingest's receipt says the cloud committed it (receipts.py), since a
broker can still lose what it acknowledged. Anything else (timeout, refusal, lost connection)
leaves it pending in the consumer group, and it is sent again; so is a sent window whose receipt
is overdue (with backoff, edge_agent/buffer.py). Duplicates are harmless: the cloud upserts on the
window key. Live heartbeats and the retained online/offline status go out at any hour.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from edge_agent.buffer import BufferEntry, EdgeBuffer
from edge_agent.live_status import EdgeStatus
from edge_agent.uplink.ratelimit import TokenBucket
from edge_agent.uplink.schedule import OffPeakSchedule
from storelens import __version__
from storelens.linkstate import LinkState
from storelens.mqttlink import MqttLink
from storelens.retry import Backoff
from storelens.wire import INGEST_ALIVE_TOPIC, HealthMessage, topic

log = logging.getLogger(__name__)


class AckTracker:
    """PUBACK reason codes by message id, filled by paho's network thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._results: dict[int, object] = {}
        # Any refused publish (aggregates, status, health) points at a registry/config mismatch.
        self.permission = LinkState("publishing to the broker", log)

    def on_publish(self, _client, _userdata, mid, reason_code, _props) -> None:
        if reason_code.is_failure:
            self.permission.failed(f"broker refused a publish: {reason_code} (are store_id and device_id "
                                   "in the config the ones this device is registered with?)")
        else:
            self.permission.recovered()
        with self._cond:
            self._results[mid] = reason_code
            self._cond.notify_all()

    def reset(self) -> None:
        """Forget results of earlier publishes (heartbeats, late acks) so a reused mid cannot match."""
        with self._cond:
            self._results.clear()

    def wait(self, mids: list[int], timeout: float) -> dict[int, object]:
        """Reason codes for the mids acknowledged within `timeout`; consumed from the tracker."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(m in self._results for m in mids):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return {m: self._results.pop(m) for m in mids if m in self._results}


class CloudPresence:
    """Whether a cloud ingest worker is listening, from its alive pings since our last (re)connect.

    A broker acknowledges a publish even when nobody is subscribed, and Mosquitto forgets shared
    subscriptions when it restarts: draining before ingest is back would lose windows that the
    buffer already deleted. So the publisher drains only while it hears ingest.
    """

    def __init__(self, max_silence_s: float, clock=time.monotonic) -> None:
        self.max_silence_s = max_silence_s
        self.clock = clock
        self._heard: float | None = None
        self.state = LinkState("cloud ingest (alive pings)", log, quiet_s=3600)

    def on_up(self, client) -> None:
        self._heard = None  # pings heard on an earlier connection prove nothing about this one
        client.subscribe(INGEST_ALIVE_TOPIC, qos=0)

    def on_ping(self, _client, _userdata, _msg) -> None:
        self._heard = self.clock()

    def ready(self) -> bool:
        if self.max_silence_s <= 0:
            return True
        ok = self._heard is not None and self.clock() - self._heard <= self.max_silence_s
        if ok:
            self.state.recovered()
        elif self._heard is not None:
            self.state.failed(f"no ingest worker heard for {self.max_silence_s:.0f} s; windows wait in the buffer")
        return ok


@dataclass
class PublishStats:
    sent: int = 0
    acked: int = 0  # PUBACKed: sent, awaiting a receipt
    resent: int = 0  # of `sent`: receipts overdue
    refused: int = 0
    timed_out: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class PublisherSettings:
    store_id: str
    device_id: str
    consumer: str
    batch_size: int = 100
    ack_timeout_s: float = 30.0
    idle_poll_s: float = 5.0
    retry_max_s: float = 120.0


class Publisher:
    """Drains the edge buffer to the broker while the off-peak schedule is open."""

    def __init__(self, *, buffer: EdgeBuffer, link: MqttLink, schedule: OffPeakSchedule,
                 bucket: TokenBucket, settings: PublisherSettings, presence: CloudPresence | None = None) -> None:
        self.buffer = buffer
        self.link = link
        self.presence = presence or CloudPresence(0)
        self.schedule = schedule
        self.bucket = bucket
        self.settings = settings
        self.acks = AckTracker()
        self.link.client.on_publish = self.acks.on_publish
        self.redis_state = LinkState("edge buffer (Redis)", log)
        self.stats = PublishStats()
        self.topic = topic(settings.store_id, settings.device_id, "aggregates")
        self._retry = Backoff(1.0, max(1.0, settings.retry_max_s))  # jittered: devices drift apart
        self._claimed = False
        self._resend_said = -60.0
        self.last_step = time.monotonic()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.last_step = time.monotonic()  # the loop came round (/healthz, systemd watchdog)
            try:
                delay = self.step(stop)
                self.redis_state.recovered()
            except redis.RedisError as exc:
                self.redis_state.failed(str(exc))
                self._claimed = False  # Redis may have restarted: claim again
                delay = self._backoff()
            if delay:
                stop.wait(delay)

    def step(self, stop: threading.Event) -> float:
        """One unit of work; returns how long to wait before the next."""
        now = datetime.now(UTC)
        if not self.schedule.is_open(now):
            return min(self.schedule.seconds_until_open(now), self.settings.idle_poll_s)
        if not self.link.state.wait_up(timeout=min(5.0, self.settings.idle_poll_s)):
            return 0.0
        if not self.presence.ready():
            return min(1.0, self.settings.idle_poll_s)
        if not self._claimed:
            claimed = self.buffer.claim_pending(self.settings.consumer)
            if claimed:
                log.info("re-sending %d window(s) sent before a restart but never acknowledged", claimed)
            self._claimed = True
        # Windows never sent go first: resends must not starve a backlog's first pass (their receipts
        # may only be late), and a resend costs the broker queue room the backlog needs.
        entries = self.buffer.read_batch(self.settings.consumer, self.settings.batch_size)
        if not entries:
            entries = self.buffer.due_for_resend(self.settings.batch_size)
            if entries:
                self._note_resend(len(entries))
        if not entries:
            self.buffer.trim()
            return self.settings.idle_poll_s
        return 0.0 if self.publish_batch(entries, stop) else self._backoff()

    def _note_resend(self, n: int) -> None:
        """Count resends; say so at most once a minute (a lossy broker can make them many)."""
        self.stats.resent += n
        now = time.monotonic()
        if now - self._resend_said >= 60:
            log.info("re-sending %d window(s) whose receipt from ingest is overdue (%d re-sent since start)",
                     n, self.stats.resent)
            self._resend_said = now

    def publish_batch(self, entries: list[BufferEntry], stop: threading.Event) -> bool:
        """Publish, wait for PUBACKs, mark the acknowledged ones sent. True when every entry was acked."""
        by_mid: dict[int, BufferEntry] = {}
        self.acks.reset()
        for entry in entries:
            if stop.is_set():
                break
            self.bucket.take(len(entry.payload), stop)
            info = self.link.client.publish(self.topic, entry.payload, qos=1)
            by_mid[info.mid] = entry
            self.stats.sent += 1
            self.stats.bytes += len(entry.payload)
        results = self.acks.wait(list(by_mid), self.settings.ack_timeout_s)
        good = [by_mid[m] for m, rc in results.items() if not rc.is_failure]
        self.buffer.mark_sent(good)  # not deleted: that waits for ingest's receipt
        self.stats.acked += len(good)
        return self._report(results, by_mid, len(good))

    def _report(self, results: dict, by_mid: dict, good: int) -> bool:
        refused = [rc for rc in results.values() if rc.is_failure]
        missing = len(by_mid) - len(results)
        self.stats.refused += len(refused)
        self.stats.timed_out += missing
        if refused or missing:
            log.info("%d of %d window(s) refused or unacknowledged within %.0f s; kept in the buffer for retry",
                     len(refused) + missing, len(by_mid), self.settings.ack_timeout_s)
        if good == len(by_mid):
            self._retry.reset()
            return True
        return False

    def _backoff(self) -> float:
        return self._retry.next()


class Heartbeat:
    """Retained 'online' on connect, and a tiny HealthMessage every `interval_s`, at any hour."""

    def __init__(self, *, link: MqttLink, buffer: EdgeBuffer, status: EdgeStatus, store_id: str,
                 device_id: str, interval_s: float) -> None:
        self.link = link
        self.buffer = buffer
        self.status = status
        self.store_id = store_id
        self.device_id = device_id
        self.interval_s = interval_s
        self.started = time.monotonic()

    def announce_online(self, client) -> None:
        client.publish(topic(self.store_id, self.device_id, "status"), b"online", qos=1, retain=True)

    def announce_offline(self) -> None:
        info = self.link.client.publish(topic(self.store_id, self.device_id, "status"), b"offline", qos=1, retain=True)
        info.wait_for_publish(timeout=5)

    def message(self) -> HealthMessage:
        stats = self.buffer.stats()
        now = datetime.now(UTC)
        age = (now - stats.oldest_entry_at).total_seconds() if stats.oldest_entry_at else 0.0
        return HealthMessage(
            store_id=self.store_id, device_id=self.device_id, sent_at=now, software_version=__version__,
            model_versions=self.status.model_versions(), cameras=self.status.cameras(now),
            buffer_depth=stats.depth, buffer_oldest_age_s=max(0.0, age), buffer_dropped=stats.dropped,
            last_ack_window=stats.last_ack_window, uptime_s=time.monotonic() - self.started,
        )

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.link.state.up:
                try:
                    payload = self.message().to_json()
                    self.link.client.publish(topic(self.store_id, self.device_id, "health"), payload, qos=1)
                except redis.RedisError as exc:
                    log.debug("heartbeat skipped, Redis unavailable: %s", exc)
            stop.wait(self.interval_s)
