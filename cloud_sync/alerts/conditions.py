"""What is wrong right now, read from the database with the dashboard's own rules.

Device and camera problems come from dashboard.problems.camera_problems over the same devices
table the technician page shows (so an alert and a red tag always agree); face advice comes from
storelens.facehealth, the words `storelens camera check` prints. Dead letters count per store
(from the MQTT topic) over a sliding window. Devices never seen at all are not "offline" (not
installed yet); synthetic (seeded) stores are left out unless alerts.include_seeded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from cloud_sync.db.models import DeadLetter
from dashboard import data
from dashboard.auth import Principal
from dashboard.problems import camera_problems, is_missing
from storelens.facehealth import BACKLIT_FACES, SMALL_FACES, FaceSummary, advice

log = logging.getLogger(__name__)

FLEET = Principal("alerts", "analyst", ())  # the service watches every store
DEVICE_LEVEL = {"offline": "device_offline", "sync overdue": "sync_overdue"}
DEVICE_ADVICE = {
    "device_offline": "Check the box's power and network at the store; on the box, `storelens sync status` "
                      "and `systemctl status storelens-edge` say what it is doing.",
    "sync_overdue": "The box is online but has not delivered aggregates: check its off-peak window and "
                    "`storelens sync status` (backlog, broker errors) on the box.",
    "no frames": "The box runs but this camera sends no frames: check the camera's power and cable, and "
                 "`storelens camera probe URL` on the box.",
}


@dataclass(frozen=True)
class Condition:
    key: str
    kind: str
    store_id: str
    device_id: str
    camera_id: str
    problem: str
    summary: str
    advice: str


def evaluate(engine: Engine, cfg, now: datetime) -> dict[str, Condition]:
    """Every alert condition that holds at `now` (aware UTC), by key."""
    found: dict[str, Condition] = {}
    for condition in device_conditions(engine, cfg, now) + dead_letter_conditions(engine, cfg, now):
        found.setdefault(condition.key, condition)
    return found


def device_conditions(engine: Engine, cfg, now: datetime) -> list[Condition]:
    frame = data.devices(engine, FLEET)
    if frame.empty:
        return []
    if not cfg.alerts.include_seeded and "seeded" in frame:
        frame = frame[~frame["seeded"].astype(bool)]
    out = []
    for row in frame.to_dict("records"):
        if row.get("status") == "never seen":
            continue
        for problem in camera_problems(row, now, cfg.dashboard):
            out.append(_device_condition(row, problem, now, cfg))
    return out


def _device_condition(row: dict, problem: str, now: datetime, cfg) -> Condition:
    store, device, camera = row["store_id"], row["device_id"], row.get("camera_id") or ""
    kind = DEVICE_LEVEL.get(problem)
    if kind is not None:  # one alert per device, whichever camera row carried it
        key = f"{kind}:{store}:{device}"
        when = row.get("last_heartbeat") if kind == "device_offline" else row.get("last_sync")
        what = "is offline" if kind == "device_offline" else "has not synced"
        summary = f"Device {device} of store {store} {what}: last {'heartbeat' if kind == 'device_offline' else 'sync'} {_ago(when, now)}"
        return Condition(key, kind, store, device, "", problem, summary, DEVICE_ADVICE[kind])
    key = f"camera_problem:{store}:{device}:{camera}:{problem}"
    summary = f"Camera {camera or '-'} of device {device} (store {store}): {problem}"
    return Condition(key, "camera_problem", store, device, camera, problem, summary,
                     _camera_advice(row, problem, cfg))


def _camera_advice(row: dict, problem: str, cfg) -> str:
    if problem not in (BACKLIT_FACES, SMALL_FACES):
        return DEVICE_ADVICE.get(problem, "See the devices page of the dashboard for this camera.")
    summary = FaceSummary(int(_num(row.get("faces_seen")) or 1), _num(row.get("median_face_px")),
                          _num(row.get("backlight_score")), _num(row.get("small_face_fraction")), None, None)
    lines = advice(summary, min_face_px=cfg.edge.quality.min_face_px, good_sharpness=cfg.edge.quality.good_sharpness)
    return " ".join(lines)


def _num(value) -> float | None:
    return None if is_missing(value) else float(value)


def _ago(moment, now: datetime) -> str:
    if is_missing(moment):
        return "never"
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    minutes = int((pd.Timestamp(now) - stamp).total_seconds() // 60)
    span = f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"
    return f"{span} ago ({stamp:%Y-%m-%d %H:%M} UTC)"


def store_of(topic: str) -> str:
    """storelens/v1/{store_id}/{device_id}/... -> store_id ('' when the topic is not ours)."""
    parts = topic.split("/")
    return parts[2] if len(parts) >= 4 and parts[0] == "storelens" and parts[1] == "v1" else ""


def dead_letter_conditions(engine: Engine, cfg, now: datetime) -> list[Condition]:
    since = now - timedelta(minutes=cfg.alerts.dead_letter_window_min)
    D = DeadLetter.__table__.c
    with engine.connect() as conn:
        topics = conn.execute(select(D.topic, func.count()).where(D.received_at >= since).group_by(D.topic)).all()
    per_store: dict[str, int] = {}
    for topic, count in topics:
        per_store[store_of(topic)] = per_store.get(store_of(topic), 0) + int(count)
    window = f"{cfg.alerts.dead_letter_window_min:g} min"
    return [Condition(f"dead_letters:{store}", "dead_letters", store, "", "", "dead letters",
                      f"{count} messages from {'store ' + store if store else 'unknown senders'} were refused "
                      f"(dead-lettered) in the last {window}",
                      "The deadletter table of the cloud database holds each refused message with its reason; a device "
                      "sending malformed windows needs its software checked.")
            for store, count in sorted(per_store.items()) if count >= cfg.alerts.dead_letter_burst]
