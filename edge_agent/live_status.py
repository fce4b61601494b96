"""Live edge state kept in Redis beside the buffer: camera health and the edge app's versions.

The edge app writes it (one hash field per camera); the sync process reads it for the heartbeat,
so the two processes share nothing but Redis.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import redis
from pydantic import ValidationError

from storelens.wire import CameraHealth

log = logging.getLogger(__name__)

STALE_AFTER_S = 120.0  # a camera that reported nothing for this long is shown as down


class EdgeStatus:
    def __init__(self, client: redis.Redis, *, stream: str = "storelens:aggregates") -> None:
        self.client = client  # keys live beside the buffer's stream, so one setting names both
        self.cameras_key = f"{stream}:health:cameras"
        self.info_key = f"{stream}:health:edge"

    def put_camera(self, health: CameraHealth) -> None:
        self.client.hset(self.cameras_key, health.camera_id, health.model_dump_json())

    def put_edge_info(self, *, model_versions: dict[str, str], started_at: datetime) -> None:
        self.client.hset(self.info_key, mapping={"model_versions": json.dumps(model_versions),
                                                 "started_at": started_at.isoformat()})

    def cameras(self, now: datetime | None = None) -> list[CameraHealth]:
        now = now or datetime.now(UTC)
        out = []
        for camera_id, raw in sorted(self.client.hgetall(self.cameras_key).items()):
            try:
                cam = CameraHealth.model_validate_json(raw)
            except ValidationError as exc:
                log.warning("ignoring unreadable health of camera %s: %s", camera_id.decode(), exc.errors()[0]["msg"])
                continue
            if cam.up and (cam.last_frame_at is None or (now - cam.last_frame_at).total_seconds() > STALE_AFTER_S):
                cam = cam.model_copy(update={"up": False, "fps": 0.0, "problem": "no recent frames"})
            out.append(cam)
        return out

    def model_versions(self) -> dict[str, str]:
        raw = self.client.hget(self.info_key, "model_versions")
        return json.loads(raw) if raw else {}
