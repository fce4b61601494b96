"""`storelens sync run|status` wiring: config -> buffer, broker link, schedule, publisher, heartbeat."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from edge_agent.buffer import EdgeBuffer, open_buffer
from edge_agent.live_status import EdgeStatus
from edge_agent.resume import PartialStore
from edge_agent.uplink.publisher import CloudPresence, Heartbeat, Publisher, PublisherSettings, PublishStats
from edge_agent.uplink.ratelimit import TokenBucket
from edge_agent.uplink.receipts import ReceiptListener
from edge_agent.uplink.schedule import OffPeakSchedule
from storelens.mqttlink import LinkSettings, MqttLink, Will
from storelens.secrets import read_secret, require_tls
from storelens.wire import INGEST_ALIVE_TOPIC, topic

log = logging.getLogger(__name__)

# The broker keeps the box's session (its receipts subscription and the receipts queued for it)
# this long while the box is offline; after that a receipt is lost, which costs only a resend.
DEVICE_SESSION_S = 7 * 86400


def link_settings(cfg) -> LinkSettings:
    sync = cfg.sync
    require_tls(tls=sync.mqtt_tls, mode=cfg.mode, what="sync")
    password = read_secret(env="STORELENS_MQTT_PASSWORD", file=sync.mqtt_password_file,
                           what="sync.mqtt_password", mode=cfg.mode, required=True)
    return LinkSettings(host=sync.mqtt_host, port=sync.mqtt_port, client_id=f"storelens-edge-{cfg.device_id}",
                        username=sync.mqtt_username or cfg.device_id, password=password, tls=sync.mqtt_tls,
                        ca_file=sync.mqtt_ca_file, reconnect_min_s=sync.reconnect_min_s,
                        reconnect_max_s=sync.reconnect_max_s, persistent_session_s=DEVICE_SESSION_S)


def run_sync(cfg, stop: threading.Event, ops=None) -> PublishStats:
    """Run the publisher and heartbeat until `stop` is set; returns what was sent. `ops`
    (storelens.ops.ServiceOps) gets the metrics, health checks and watchdog liveness."""
    buffer = open_buffer(cfg)
    will = Will(topic(cfg.store_id, cfg.device_id, "status"), b"offline")
    link = MqttLink(link_settings(cfg), will=will)
    heartbeat = Heartbeat(link=link, buffer=buffer, status=EdgeStatus(buffer.client, stream=cfg.sync.stream),
                          store_id=cfg.store_id, device_id=cfg.device_id, interval_s=cfg.sync.heartbeat_s)
    presence = CloudPresence(cfg.sync.wait_for_ingest_s)
    receipts = ReceiptListener(buffer=buffer, store_id=cfg.store_id, device_id=cfg.device_id)
    link.on_up = lambda client: (receipts.on_up(client), heartbeat.announce_online(client), presence.on_up(client))
    link.client.message_callback_add(INGEST_ALIVE_TOPIC, presence.on_ping)
    link.client.message_callback_add(receipts.topic, receipts.on_message)
    link.client.on_subscribe = receipts.on_subscribe
    publisher = _publisher(cfg, buffer, link, presence)
    if ops is not None:
        from edge_agent.metrics import watch_sync

        watch_sync(ops, cfg, publisher, buffer, link, receipts=receipts)
    link.start()
    threads = [threading.Thread(target=heartbeat.run, args=(stop,), name="heartbeat", daemon=True),
               threading.Thread(target=receipts.run, args=(stop,), name="receipts", daemon=True)]
    for thread in threads:
        thread.start()
    if ops is not None:
        ops.ready("publishing off-peak")
    try:
        publisher.run(stop)
    finally:
        _shutdown(link, heartbeat, threads)
    s, r = publisher.stats, receipts.stats
    log.info("sync stopped: %d sent (%d re-sent), %d acknowledged by the broker, %d refused, %d unacknowledged; "
             "%d receipts: %d window(s) committed, %d refused by the cloud",
             s.sent, s.resent, s.acked, s.refused, s.timed_out, r.receipts, r.committed, r.refused)
    return publisher.stats


def offpeak_schedule(cfg) -> OffPeakSchedule:
    """The store's off-peak ranges, started late by this device's fixed splay."""
    return OffPeakSchedule(cfg.sync.offpeak, cfg.timezone, device_id=cfg.device_id,
                           splay_minutes=cfg.sync.offpeak_splay_minutes)


def _publisher(cfg, buffer: EdgeBuffer, link: MqttLink, presence: CloudPresence) -> Publisher:
    sync = cfg.sync
    settings = PublisherSettings(store_id=cfg.store_id, device_id=cfg.device_id, consumer=cfg.device_id,
                                 batch_size=sync.batch_size, ack_timeout_s=sync.ack_timeout_s,
                                 idle_poll_s=sync.idle_poll_s, retry_max_s=sync.reconnect_max_s)
    return Publisher(buffer=buffer, link=link, schedule=offpeak_schedule(cfg),
                     bucket=TokenBucket(sync.bandwidth_bytes_per_s), settings=settings, presence=presence)


def _shutdown(link: MqttLink, heartbeat: Heartbeat, threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(timeout=5)
    if link.state.up:
        heartbeat.announce_offline()  # a clean stop sends no last-will, so say it ourselves
    link.stop()


@dataclass(frozen=True)
class SyncStatus:
    backlog: int
    backlog_bytes: int
    pending: int
    dropped_full: int
    dropped_age: int
    oldest_window: datetime | None
    last_ack_window: datetime | None
    offpeak_open: bool
    next_offpeak: datetime
    awaiting_receipt: int = 0
    receipted: int = 0
    resent: int = 0
    refused_by_cloud: int = 0
    dropped_held: int = 0
    dropped_clock: int = 0
    clock_floor: datetime | None = None


def sync_status(cfg, buffer: EdgeBuffer | None = None, now: datetime | None = None) -> SyncStatus:
    buffer = buffer or open_buffer(cfg)
    now = now or datetime.now(UTC)
    stats = buffer.stats()
    schedule = offpeak_schedule(cfg)
    return SyncStatus(backlog=stats.depth, backlog_bytes=stats.bytes, pending=stats.pending,
                      dropped_full=stats.dropped_full, dropped_age=stats.dropped_age,
                      oldest_window=stats.oldest_window, last_ack_window=stats.last_ack_window,
                      offpeak_open=schedule.is_open(now), next_offpeak=schedule.next_open(now),
                      awaiting_receipt=stats.awaiting_receipt, receipted=stats.receipted, resent=stats.resent,
                      refused_by_cloud=stats.refused, dropped_held=stats.dropped_held,
                      dropped_clock=stats.dropped_clock,
                      clock_floor=PartialStore(buffer.client, stream=buffer.stream).newest())
