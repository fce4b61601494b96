"""Prometheus metrics of the cloud side: ingest workers and the dashboard.

Ingest: messages and windows stored (the ingest rate), dead letters by reason, how late windows
arrive (lag), messages waiting in the worker, and database errors. Instruments live on an
`IngestMetrics` object the Ingestor owns (its own registry unless one is given, so several
workers in one process or test never collide); the hot path calls one method per batch.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

# Off-peak uploads arrive hours after the window closed; a box that was offline, days.
LAG_BUCKETS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400)
_REASON = re.compile(r"^[a-z][a-z ]*")


def reason_kind(reason: str) -> str:
    """The bounded label of a dead-letter reason: its leading words ('malformed', 'unauthorised')."""
    match = _REASON.match(reason.lower())
    return match.group(0).strip().replace(" ", "_") if match else "other"


class IngestMetrics:
    """Counted at commit: what a transaction rolled back (database down, batch retried) is not counted."""

    def __init__(self, registry=None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages = Counter("storelens_ingest_messages", "MQTT messages committed (any kind)", registry=r)
        self.windows = Counter("storelens_ingest_windows_stored", "Distinct AggregateWindows stored", registry=r)
        self.health = Counter("storelens_ingest_health_stored", "Health and status messages stored", registry=r)
        self.batches = Counter("storelens_ingest_batches", "Transactions committed", registry=r)
        self.dead_letters = Counter("storelens_ingest_dead_letters", "Messages put in the dead-letter table",
                                    ["reason"], registry=r)
        self.db_errors = Counter("storelens_ingest_db_errors", "Database errors (unreachable: batch retried; "
                                 "refused: stored one by one)", ["kind"], registry=r)
        self.lag = Histogram("storelens_ingest_window_lag_seconds", "From a window's end to its arrival at ingest",
                             buckets=LAG_BUCKETS, registry=r)
        self.last_commit = 0.0
        self._dead: list[str] = []
        self._lags: list[float] = []

    def begin(self) -> None:
        """A transaction starts: forget what an earlier, rolled-back one noted."""
        self._dead.clear()
        self._lags.clear()

    def dead_letter(self, reason: str) -> None:
        self._dead.append(reason_kind(reason))

    def arrived(self, windows: Iterable) -> None:
        now = datetime.now(UTC)
        self._lags.extend(max(0.0, (now - w.window_end).total_seconds()) for w in windows)

    def flush(self) -> None:
        """The transaction committed: count its dead letters and window lags."""
        for kind in self._dead:
            self.dead_letters.labels(kind).inc()
        for lag in self._lags:
            self.lag.observe(lag)
        self.begin()
        self.last_commit = time.time()

    def committed(self, messages: int, counts: tuple[int, ...]) -> None:
        """A batch is done (acknowledged to the broker): (windows, health, dead) as the Ingestor counts them."""
        self.messages.inc(messages)
        self.windows.inc(counts[0])
        self.health.inc(counts[1])
        self.batches.inc()

    def db_error(self, kind: str) -> None:
        self.db_errors.labels(kind).inc()


class IngestCollector:
    """Scrape-time state of one worker: inbox, links, and its IngestStats."""

    def __init__(self, ingestor) -> None:
        self.ingestor = ingestor

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator:
        from prometheus_client.core import GaugeMetricFamily

        ing = self.ingestor
        inbox = GaugeMetricFamily("storelens_ingest_inbox_messages", "Messages received and not yet committed")
        inbox.add_metric([], ing.inbox.qsize())
        broker = GaugeMetricFamily("storelens_ingest_broker_up", "1 while the broker has accepted this worker")
        broker.add_metric([], float(ing.link.state.up))
        db = GaugeMetricFamily("storelens_ingest_database_up", "0 while the last commit found the database down")
        db.add_metric([], float(not _db_down(ing)))
        last = GaugeMetricFamily("storelens_ingest_last_commit_timestamp_seconds", "Unix time of the last commit")
        last.add_metric([], ing.metrics.last_commit)
        yield from (inbox, broker, db, last)

    def problem(self) -> str | None:
        ing = self.ingestor
        if not ing.link.state.up:
            return "MQTT broker not connected"
        if _db_down(ing):
            return "database unreachable (batches kept unacknowledged and retried)"
        return None


def _db_down(ingestor) -> bool:
    return ingestor.db_state.failing


def watch_ingest(ops, cfg, ingestor) -> IngestCollector:
    """Hook a worker into `ops` (storelens.ops.ServiceOps): its metrics, /healthz, watchdog liveness."""
    ops.registry.register(_Forward(ingestor.metrics.registry))
    collector = IngestCollector(ingestor)
    ops.registry.register(collector)
    ops.add_check("ingest", collector.problem)
    ops.add_liveness(lambda: time.monotonic() - getattr(ingestor, "last_loop", time.monotonic())
                     < cfg.ops.stuck_s)
    return collector


class _Forward:
    """Exposes another registry's metrics through the service's registry."""

    def __init__(self, registry) -> None:
        self._registry = registry

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator:
        yield from self._registry.collect()
