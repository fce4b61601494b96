"""What is wrong with a camera or device, from its latest health row: pure rules, no I/O."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from dashboard.config import DashboardConfig


def _age_s(moment, now: datetime) -> float | None:
    if moment is None or (not isinstance(moment, datetime) and pd.isna(moment)):
        return None
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:  # naive values in the database are UTC
        stamp = stamp.tz_localize("UTC")
    return (pd.Timestamp(now) - stamp).total_seconds()


def camera_problems(row: dict, now: datetime, cfg: DashboardConfig) -> list[str]:
    """Short labels such as 'offline' or 'backlit' for one devices-table row (now: aware UTC)."""
    problems: list[str] = []
    heartbeat_age = _age_s(row.get("last_heartbeat"), now)
    if row.get("status") != "online" or heartbeat_age is None or heartbeat_age > cfg.heartbeat_timeout_s:
        problems.append("offline")
    elif row.get("camera_up") is False or not row.get("fps"):
        problems.append("no frames")
    sync_age = _age_s(row.get("last_sync"), now)
    if sync_age is None or sync_age > cfg.sync_overdue_h * 3600:
        problems.append("sync overdue")
    if (row.get("backlight_score") or 0.0) >= cfg.backlight_problem_stops:
        problems.append("backlit faces")
    if (row.get("small_face_fraction") or 0.0) >= cfg.small_face_problem_fraction:
        problems.append("faces too small")
    if row.get("edge_problem"):
        problems.append(str(row["edge_problem"]))
    return list(dict.fromkeys(problems))
