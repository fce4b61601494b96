"""`storelens cloud ingest` wiring: config -> database (migrated), broker link, Ingestor."""

from __future__ import annotations

import logging
import socket
import threading

from cloud_sync.db.engine import database_engine, init_db
from cloud_sync.ingest import Ingestor, IngestStats
from storelens.mqttlink import LinkSettings, MqttLink
from storelens.secrets import ingest_password, require_tls

log = logging.getLogger(__name__)

SESSION_KEEP_S = 7 * 86400  # the broker queues for an absent worker this long


def ingest_link(cfg, worker: str | None = None) -> MqttLink:
    cloud = cfg.cloud
    require_tls(tls=cloud.mqtt_tls, mode=cfg.mode, what="cloud")
    password = ingest_password(cfg)
    worker = worker or socket.gethostname()
    settings = LinkSettings(host=cloud.mqtt_host, port=cloud.mqtt_port, client_id=f"storelens-ingest-{worker}",
                            username=cloud.ingest_username, password=password, tls=cloud.mqtt_tls,
                            ca_file=cloud.mqtt_ca_file, persistent_session_s=SESSION_KEEP_S,
                            receive_max=max(2 * cloud.batch_size, 100), manual_ack=True)
    return MqttLink(settings)


def run_ingest(cfg, stop: threading.Event, *, worker: str | None = None, retire: bool = False) -> IngestStats:
    """Ingest until `stop`; `retire` drains this worker's queued share, then ends its session."""
    engine = database_engine(cfg)
    init_db(engine)
    link = ingest_link(cfg, worker)
    ingestor = Ingestor(engine=engine, link=link, share_group=cfg.cloud.share_group,
                        batch_size=cfg.cloud.batch_size, batch_wait_s=cfg.cloud.batch_wait_s,
                        alive_interval_s=cfg.cloud.alive_interval_s)
    link.start()
    try:
        if retire:
            ingestor.retire(stop)
        else:
            ingestor.run(stop)
    finally:
        link.stop(end_session=retire and not stop.is_set())
        engine.dispose()
    s = ingestor.stats
    log.info("ingest stopped: %d received, %d windows stored, %d health, %d dead letters",
             s.received, s.stored, s.health, s.dead)
    return s
