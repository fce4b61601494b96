"""Privacy, checked on the wire: every payload a box really published, captured from the broker,
holds no image, crop, embedding or track id."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from storelens.wire import AggregateWindow, Heatmap, ZoneStats
from tests.servers import EVERY_DEVICE_TOPIC, WireTap, wait_for

pytestmark = pytest.mark.integration

BASE64_RUN = re.compile(r"[A-Za-z0-9+/=]{40,}")
SUSPICIOUS_KEYS = re.compile(r"track|embed|image|crop|pixel|jpeg|png|snapshot|vector|feature", re.I)


def _rich_windows(n: int) -> list[AggregateWindow]:
    """Windows as a busy store produces them: ages, zones, heatmap cells by age band."""
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    out = []
    for i in range(n):
        ws = start + timedelta(minutes=15 * i)
        cells = [[c % 40, c // 40, 1 + c % 7] for c in range(0, 600, 3)]
        out.append(AggregateWindow(
            store_id="store-001", device_id="edge-001", camera_id="floor", window_start=ws,
            window_end=ws + timedelta(minutes=15), entries=30 + i, exits=28, unique_visitors=33,
            visitors_with_age=20, age_histogram=[(a * 7 + i) % 3 for a in range(91)],
            zone_visits={"window tables": ZoneStats(visits=12, mean_dwell_s=48.2), "till": ZoneStats(visits=9)},
            heatmap=Heatmap(cell_m=0.5, width_cells=40, height_cells=15, cells=cells,
                            by_band={"18-24": cells[:50], "25-34": cells[50:90]}),
            model_versions={"yunet": "2023mar", "age_v1": "1.0"}))
    return out


def _scan(value, path: str, problems: list[str]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            if SUSPICIOUS_KEYS.search(key):
                problems.append(f"{path}.{key}: suspicious key")
            _scan(sub, f"{path}.{key}", problems)
    elif isinstance(value, list):
        if len(value) >= 16 and all(isinstance(v, float) for v in value):
            problems.append(f"{path}: {len(value)} floats in a row (embedding-like)")
        for i, sub in enumerate(value):
            _scan(sub, f"{path}[{i}]", problems)
    elif isinstance(value, str) and (len(value) > 64 or BASE64_RUN.search(value)):
        problems.append(f"{path}: long or base64-like string")


def test_captured_payloads_carry_no_pixels_embeddings_or_track_ids(rig) -> None:
    tap = WireTap(rig.fleet.broker, EVERY_DEVICE_TOPIC, account="tap2")  # the rig has its own tap
    rig.start_ingest_thread()
    for w in _rich_windows(40):
        rig.buffer.append(w)
    rig.start_sync(heartbeat_s=0.5)
    rig.wait_arrived(40)
    wait_for(lambda: any(t.endswith("/health") for t, _ in tap.messages), 10, "a heartbeat")
    tap.close()
    captured = list(tap.messages)
    kinds = {t.rsplit("/", 1)[1] for t, _ in captured}
    assert {"aggregates", "health", "status"} <= kinds
    problems = []
    for topic_name, payload in captured:
        assert len(payload) < 64 * 1024, f"{topic_name}: {len(payload)} bytes is not an aggregate"
        if topic_name.endswith("/status"):
            assert payload in (b"online", b"offline")
            continue
        _scan(json.loads(payload), topic_name, problems)
    print(f"scanned {len(captured)} captured payloads ({sorted(kinds)}): {len(problems)} problems")
    assert problems == []


def test_the_scanner_flags_what_it_must() -> None:
    problems = []
    _scan({"track_id": 7, "emb": [0.1] * 128, "crop": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"}, "$", problems)
    assert len(problems) == 4  # the key track_id, the float run, the key crop and its base64 value
