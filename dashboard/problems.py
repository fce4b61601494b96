"""What is wrong with a camera or device, from its latest health row: pure rules, no I/O."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from storelens.config.dashboard import DashboardConfig
from storelens.facehealth import face_problems


def is_missing(value) -> bool:
    """None, or pandas' NaN/NaT standing for a cell the devices frame has no value in; lists are values."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _age_s(moment, now: datetime) -> float | None:
    if is_missing(moment):
        return None
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:  # naive values in the database are UTC
        stamp = stamp.tz_localize("UTC")
    return (pd.Timestamp(now) - stamp).total_seconds()


def _value(row: dict, key: str):
    """The field, with pandas' NaN/NaT read as missing."""
    value = row.get(key)
    return None if is_missing(value) else value


def camera_problems(row: dict, now: datetime, cfg: DashboardConfig) -> list[str]:
    """Short labels such as 'offline' or 'backlit' for one devices-table row (now: aware UTC)."""
    problems: list[str] = []
    heartbeat_age = _age_s(row.get("last_heartbeat"), now)
    if row.get("status") != "online" or heartbeat_age is None or heartbeat_age > cfg.heartbeat_timeout_s:
        problems.append("offline")
    elif _value(row, "camera_up") is not True or not _value(row, "fps"):
        problems.append("no frames")  # also when the heartbeat names no camera at all
    sync_age = _age_s(row.get("last_sync"), now)
    if sync_age is None or sync_age > cfg.sync_overdue_h * 3600:
        problems.append("sync overdue")
    # The edge's own rule on the edge's numbers, so both always name a face problem the same way.
    problems += face_problems(_value(row, "backlight_score"), _value(row, "small_face_fraction"),
                              backlight_limit=cfg.backlight_problem_stops,
                              small_limit=cfg.small_face_problem_fraction)
    if _value(row, "edge_problem"):
        problems.append(str(row["edge_problem"]))
    return list(dict.fromkeys(problems))
