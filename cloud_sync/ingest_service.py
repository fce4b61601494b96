"""`storelens cloud ingest` wiring: config -> database (migrated), broker link, Ingestor."""

from __future__ import annotations

import logging
import re
import socket
import threading

from sqlalchemy.engine import Engine

from cloud_sync.db.engine import database_engine, init_db
from cloud_sync.ingest import DATABASE_DOWN, Ingestor, IngestStats, first_line
from storelens.errors import ConfigError
from storelens.linkstate import LinkState
from storelens.mqttlink import LinkSettings, MqttLink
from storelens.retry import Backoff
from storelens.secrets import ingest_login, require_tls

log = logging.getLogger(__name__)

SESSION_KEEP_S = 7 * 86400  # the broker queues for an absent worker this long
WORKER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DB_RETRY_MAX_S = 30.0


def ingest_link(cfg, worker: str | None = None) -> MqttLink:
    cloud = cfg.cloud
    require_tls(tls=cloud.mqtt_tls, mode=cfg.mode, what="cloud")
    worker = worker or socket.gethostname()
    if not WORKER_NAME.match(worker):
        raise ConfigError(f"ingest worker name {worker!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    username, password = ingest_login(cfg, worker)
    # The broker replaces any client id by the username (use_username_as_clientid): say so here too.
    settings = LinkSettings(host=cloud.mqtt_host, port=cloud.mqtt_port, client_id=username,
                            username=username, password=password, tls=cloud.mqtt_tls,
                            ca_file=cloud.mqtt_ca_file, persistent_session_s=SESSION_KEEP_S,
                            receive_max=max(2 * cloud.batch_size, 100), manual_ack=True)
    return MqttLink(settings)


def run_ingest(cfg, stop: threading.Event, *, worker: str | None = None, retire: bool = False,
               ops=None) -> IngestStats:
    """Ingest until `stop`; `retire` drains this worker's queued share, then ends its session.
    `ops` (storelens.ops.ServiceOps) gets the metrics, health checks and watchdog liveness."""
    engine = database_engine(cfg)
    if not wait_for_database(engine, stop):
        engine.dispose()
        return IngestStats()
    link = ingest_link(cfg, worker)
    ingestor = Ingestor(engine=engine, link=link, share_group=cfg.cloud.share_group,
                        batch_size=cfg.cloud.batch_size, batch_wait_s=cfg.cloud.batch_wait_s,
                        alive_interval_s=cfg.cloud.alive_interval_s)
    if ops is not None:
        from cloud_sync.metrics import watch_ingest

        watch_ingest(ops, cfg, ingestor)
    link.start()
    if ops is not None:
        ops.ready("ingesting")
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


def wait_for_database(engine: Engine, stop: threading.Event, *, retry_min_s: float = 1.0) -> bool:
    """Migrate the schema, waiting (one log line, no traceback) while the database is down.
    False: stopped while waiting. Ingest connects to the broker only afterwards, so nothing is
    delivered to a worker that could not store it."""
    state = LinkState(f"database {engine.url.render_as_string(hide_password=True)}", log)
    backoff = Backoff(retry_min_s, max(retry_min_s, DB_RETRY_MAX_S))  # jittered: workers do not knock in step
    while not stop.is_set():
        try:
            init_db(engine)
        except DATABASE_DOWN as exc:
            state.failed(f"{first_line(exc)}; ingest starts once it answers")
            stop.wait(backoff.next())
            continue
        state.recovered()
        return True
    return False
