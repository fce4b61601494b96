"""`storelens cloud alerts run`: evaluate the database every alerts.interval_s and notify.

Each round: read the conditions (conditions.py), store them (state.py), then for every destination
(a route's webhook or e-mail) work out what is due against what that destination was last told:
- a new condition: 'firing', unless the same alert fired less than refire_after_s ago (flapping);
- a condition gone that the destination heard about: 'resolved' (the recovery message);
- a condition still on after remind_after_h since the last message: a reminder.
Everything due goes out as one message, if the destination is within alerts.max_per_hour;
otherwise it waits for the next allowed round and goes out together. A message that fails is
retried next round. Only one alert service should run against a database (one systemd unit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud_sync.alerts import channels, state
from cloud_sync.alerts.conditions import Condition, evaluate
from cloud_sync.db.models import AlertState, utcnow
from cloud_sync.ingest import DATABASE_DOWN, first_line
from storelens.linkstate import LinkState
from storelens.retry import jittered

log = logging.getLogger(__name__)


@dataclass
class Destination:
    name: str  # route/channel, the key of what this destination was told
    route: str
    covers: Callable[[str, str], bool]
    send: Callable[[dict], None]
    link: LinkState = field(repr=False, default=None)


@dataclass
class Round:
    firing: int = 0
    sent: dict[str, int] = field(default_factory=dict)  # destination -> events delivered
    held: dict[str, int] = field(default_factory=dict)  # destination -> events waiting (rate limit, failure)


def destinations(cfg) -> list[Destination]:
    """One destination per channel of every route; production checks webhook URLs first."""
    out = []
    for route in cfg.alerts.routes:
        if route.webhook is not None:
            channels.check_webhook(route.webhook, production=cfg.mode == "production",
                                   where=f"alerts.routes[{route.name}].webhook")
            out.append(Destination(f"{route.name}/webhook", route.name, route.covers,
                                   lambda body, w=route.webhook: channels.post_webhook(w, body)))
        if route.email is not None:
            out.append(Destination(f"{route.name}/email", route.name, route.covers,
                                   lambda body, e=route.email: channels.send_email(cfg.alerts.smtp, e, body)))
    for dest in out:
        dest.link = LinkState(f"alert destination {dest.name}", log)
    return out


class AlertService:
    def __init__(self, cfg, engine: Engine) -> None:
        self.cfg, self.engine = cfg, engine
        self.destinations = destinations(cfg)
        self._limited: set[str] = set()

    def run_once(self, now: datetime | None = None) -> Round:
        now = now or utcnow()
        conditions = evaluate(self.engine, self.cfg, now)
        with Session(self.engine, expire_on_commit=False) as session:  # the rows are read after the commit
            states = state.sync_states(session, conditions, now)
            session.commit()
        result = Round(firing=sum(1 for s in states if s.active))
        for dest in self.destinations:
            self._deliver(dest, states, conditions, now, result)
        with Session(self.engine) as session:
            state.prune(session, now)
            session.commit()
        return result

    def _deliver(self, dest: Destination, states: list[AlertState], conditions: dict[str, Condition],
                 now: datetime, result: Round) -> None:
        with Session(self.engine) as session:
            due = self._due(dest, states, state.notices(session, dest.name), conditions, now)
            if not due:
                return
            if state.sent_last_hour(session, dest.name, now) >= self.cfg.alerts.max_per_hour:
                self._rate_limited(dest, len(due), result)
                return
        self._limited.discard(dest.name)
        body = channels.payload(dest.route, [e for e, _s in due], now, self.cfg.alerts.dashboard_url)
        try:
            dest.send(body)
        except channels.DeliveryError as exc:
            dest.link.failed(str(exc))
            result.held[dest.name] = len(due)
            return
        dest.link.recovered()
        with Session(self.engine) as session:
            state.record_sent(session, dest.name, [(e.event, s) for e, s in due], now)
            session.commit()
        log.info("alerts to %s: %s", dest.name, body["summary"])
        result.sent[dest.name] = len(due)

    def _due(self, dest: Destination, states: list[AlertState], told: dict, conditions: dict[str, Condition],
             now: datetime) -> list[tuple[channels.Event, AlertState]]:
        alerts = self.cfg.alerts
        due = []
        for s in states:
            if not dest.covers(s.kind, s.store_id):
                continue
            notice = told.get(s.key)
            event = _event(s, notice, now, refire=timedelta(seconds=alerts.refire_after_s),
                           remind=timedelta(hours=alerts.remind_after_h) if alerts.remind_after_h else None)
            if event is not None:
                cond = conditions.get(s.key)
                due.append((channels.Event(event, s.key, s.kind, s.store_id, s.device_id, s.camera_id, s.problem,
                                           s.summary, cond.advice if cond else "", s.since), s))
        return due

    def _rate_limited(self, dest: Destination, count: int, result: Round) -> None:
        result.held[dest.name] = count
        if dest.name not in self._limited:
            self._limited.add(dest.name)
            log.warning("alerts to %s held: %d messages in the last hour is the limit (alerts.max_per_hour); "
                        "%d alert(s) go out together when it allows", dest.name, self.cfg.alerts.max_per_hour, count)


def _event(s: AlertState, notice, now: datetime, *, refire: timedelta, remind: timedelta | None) -> str | None:
    """What this destination should hear about `s` now, if anything."""
    told_firing = notice is not None and notice.sent_state == "firing"
    if not s.active:
        return "resolved" if told_firing else None
    if not told_firing:
        recent = notice is not None and notice.fired_at is not None and now - notice.fired_at < refire
        return None if recent else "firing"
    if remind is not None and now - notice.sent_at >= remind:
        return "reminder"
    return None


def run_alerts(cfg, stop: threading.Event, *, once: bool = False) -> None:
    """Evaluate until `stop` (or once); waits for the database, logs (once) while it is down."""
    from cloud_sync.db.engine import database_engine
    from cloud_sync.ingest_service import wait_for_database

    engine = database_engine(cfg)
    if not wait_for_database(engine, stop):
        return
    service = AlertService(cfg, engine)
    database = LinkState("alerts database", log)
    log.info("alerts: %d destination(s), every %g s", len(service.destinations), cfg.alerts.interval_s)
    while not stop.is_set():
        try:
            service.run_once()
            database.recovered()
        except DATABASE_DOWN as exc:
            database.failed(first_line(exc))
        if once:
            break
        stop.wait(jittered(cfg.alerts.interval_s, 0.2))  # failed deliveries retry next round, not in step
    engine.dispose()


def send_test(cfg) -> list[tuple[str, str]]:
    """A test message to every destination, to check addresses and credentials at install time."""
    now = utcnow()
    event = channels.Event("firing", "test", "test", "", "", "", "test",
                           "Test message from storelens alerts: this destination works.", "Nothing to do.", now)
    outcomes = []
    for dest in destinations(cfg):
        try:
            dest.send(channels.payload(dest.route, [event], now, cfg.alerts.dashboard_url))
            outcomes.append((dest.name, "sent"))
        except channels.DeliveryError as exc:
            outcomes.append((dest.name, f"failed: {exc}"))
    return outcomes
