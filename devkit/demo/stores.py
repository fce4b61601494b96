"""The simulated stores of `storelens demo`: two shops watched through the same sample video.

They differ the way real stores do: floor size and plan, zones, the camera-to-floor calibration,
time zone, and how strict the face quality gate is. Each store becomes one config tree, validated
exactly as a real device's YAML would be.

The sample video's faces are far too small for the age gate, so live windows carry visitors, dwell,
zones and heatmap but no ages. Each store's age mix comes from a seeded past instead (its `profile`,
through devkit.demo.seed, on its own floor and zones), stored seeded=True under a device and camera id
no live window uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from devkit.demo.floorplan import Fixture, data_uri, render_png
from devkit.demo.seed import PROFILES, SeedStore
from edge_agent.samples import get_sample, sample_config_path
from storelens.config import StorelensConfig, parse_config


@dataclass(frozen=True)
class DemoStore:
    store_id: str
    name: str
    timezone: str
    floor_m: tuple[float, float]
    floor_points: tuple[tuple[float, float], ...]  # where the sample's six calibration points land
    zones: tuple[tuple[str, tuple[tuple[int, int], ...]], ...]
    fixtures: tuple[Fixture, ...]
    min_face_px: int
    area_m2: float
    opening_hours_per_week: float
    profile: str  # age mix of the seeded history (a devkit.demo.seed profile)
    visitors_per_hour: float  # seeded history's mean visitors per opening hour

    @property
    def device_id(self) -> str:
        return f"{self.store_id}-edge"

    @property
    def history_device_id(self) -> str:
        """Device id of the seeded past: not a registered device, so it never shows as one."""
        return f"{self.store_id}-history"


DEMO_STORES = (
    DemoStore("demo-north", "Demo North (high street)", "Europe/Berlin", (32.0, 30.0),
              ((10, 2), (22, 2), (32, 28), (0, 28), (16.1, 11.3), (10.6, 14.2)),
              (("crossroads", ((300, 120), (480, 80), (480, 300), (300, 200))),
               ("left-path", ((0, 115), (200, 125), (200, 180), (0, 160)))),
              (Fixture("new in", 12, 8, 4, 2), Fixture("denim", 4, 16, 3, 4), Fixture("shoes", 24, 16, 4, 3),
               Fixture("till", 26, 4, 4, 1.5)), 40, 960.0, 72.0, "young", 45.0),
    DemoStore("demo-south", "Demo South (family mall)", "Europe/London", (24.0, 20.0),
              ((7, 1), (17, 1), (24, 18), (0, 18), (12.1, 7.5), (8, 9.5)),
              (("toys", ((240, 100), (480, 60), (480, 200), (240, 180))),
               ("kids-shoes", ((0, 180), (240, 190), (240, 360), (0, 360))),
               ("checkout", ((0, 60), (200, 70), (200, 120), (0, 110)))),
              (Fixture("toys", 14, 5, 4, 3), Fixture("kids shoes", 3, 12, 4, 3), Fixture("till", 2, 3, 4, 1.2)),
              60, 480.0, 84.0, "family", 25.0),
)


HISTORY_CAMERA = "history"  # camera id of the seeded past; the live camera is "entrance"


def history_store(store: DemoStore) -> SeedStore:
    """The store as the seed generator sees it: same floor, fixtures and zones, its own age profile."""
    width, height = store.floor_m
    return SeedStore(store.store_id, store.name, store.profile, store.timezone, width, height, store.fixtures,
                     store.visitors_per_hour, PROFILES[store.profile]["coverage"],
                     tuple(name for name, _polygon in store.zones))


def floorplan_uri(store: DemoStore) -> str:
    width, height = store.floor_m
    return data_uri(render_png(width, height, list(store.fixtures), (width / 2 - 2, width / 2 + 2)))


def _scene(store: DemoStore) -> dict[str, Any]:
    """The sample's scene config with this store's zones and floor calibration."""
    scene = yaml.safe_load(sample_config_path(get_sample()).read_text())["edge"]["analytics"]  # a fresh copy
    scene["zones"] = [{"name": name, "polygon": [list(p) for p in poly]} for name, poly in store.zones]
    scene["homography"]["floor_points"] = [list(p) for p in store.floor_points]
    scene["homography"]["floor_width_m"], scene["homography"]["floor_height_m"] = store.floor_m
    return scene


@dataclass(frozen=True)
class Endpoints:
    """Where the demo's servers listen and where each secret file lies."""

    mqtt_port: int
    ca_file: Path
    video: Path | None
    window_minutes: int
    started: datetime  # the video's first frame is stamped with this (live-looking windows)
    edge_fps: float  # frames analysed per second of video (the sample has 10)


def store_config(store: DemoStore, ends: Endpoints, redis_url: str, password_file: Path,
                 redis_password_file: Path | None = None) -> StorelensConfig:
    """One edge box's full config: camera on the looping sample video, buffer, always-open upload window.
    Both secrets (MQTT, Redis) come from files, as on a real box."""
    camera = {"id": "entrance", "url": str(ends.video or "missing.avi"), "realtime": True, "loop": True,
              "start_time": ends.started.isoformat(), "max_fps": ends.edge_fps}
    raw = {"mode": "development", "store_id": store.store_id, "device_id": store.device_id,
           "timezone": store.timezone,
           "edge": {"window_minutes": ends.window_minutes, "cameras": [camera], "analytics": _scene(store),
                    "quality": {"min_face_px": store.min_face_px}},
           "sync": {"redis_url": redis_url, "redis_password_file": str(redis_password_file) if redis_password_file else None,
                    "stream": f"storelens:{store.store_id}", "mqtt_host": "127.0.0.1",
                    "mqtt_port": ends.mqtt_port, "mqtt_tls": True, "mqtt_ca_file": str(ends.ca_file),
                    "mqtt_password_file": str(password_file), "offpeak": ["00:00-24:00"], "heartbeat_s": 10,
                    "idle_poll_s": 2, "bandwidth_bytes_per_s": 0}}
    return parse_config(raw, f"<demo {store.store_id}>")


def cloud_config(database_url: str, ends: Endpoints, password_file: Path) -> StorelensConfig:
    raw = {"mode": "development",
           "cloud": {"database_url": database_url, "mqtt_host": "127.0.0.1", "mqtt_port": ends.mqtt_port,
                     "mqtt_tls": True, "mqtt_ca_file": str(ends.ca_file),
                     "ingest_password_file": str(password_file)}}
    return parse_config(raw, "<demo cloud>")
