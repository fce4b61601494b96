"""`storelens edge run` puts face numbers into the live camera health it keeps in Redis.

A real edge process watches a camera that sees a backlit door (the group photo from ../shared/media,
people 3 stops under a bright street, as in devkit/bench/synth.py) and writes its heartbeat
into a real Redis; the health the sync process would forward carries faces seen, face size, the
backlight score and the problem label, and nothing else about the faces.
"""

from __future__ import annotations

import json
import signal

import cv2
import pytest
import yaml

from devkit.bench import synth
from edge_agent.detect.faces import build_face_detector
from edge_agent.live_status import EdgeStatus
from storelens.config import StorelensConfig
from storelens.facehealth import BACKLIGHT_PROBLEM_STOPS
from storelens.wire import CameraHealth
from tests.servers import storelens, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.vision, pytest.mark.slow]

SIZE = (640, 442)  # faces about 50 px: above the age gate's 40 px


def _backlit_video(path, media_dir, models_cfg, frames: int = 20, fps: float = 10.0):
    image = cv2.resize(cv2.imread(str(media_dir / "faces" / "t1.jpg")), SIZE, interpolation=cv2.INTER_AREA)
    boxes = build_face_detector(StorelensConfig(models=models_cfg).edge.faces, models_cfg)(image).xyxy
    image = synth.backlit(image, boxes, 3.0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path


def _config(tmp_path, video, model_dir, redis_url: str):
    raw = {"models": {"dir": str(model_dir), "providers": ["cpu"]},
           "edge": {"cameras": [{"id": "door", "url": str(video), "start_time": "2026-03-02T08:00:00Z",
                                 "realtime": True, "loop": True}]},
           "sync": {"redis_url": redis_url}}
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _faces_reported(status: EdgeStatus) -> CameraHealth | None:
    cams = status.cameras()
    return cams[0] if cams and cams[0].faces_seen > 0 else None


def test_live_health_in_redis_carries_the_face_numbers(tmp_path, media_dir, model_dir, models_cfg,
                                                       redis_server, redis_client) -> None:
    video = _backlit_video(tmp_path / "door.avi", media_dir, models_cfg)
    cfg = _config(tmp_path, video, model_dir, redis_server.url)
    proc = storelens(["edge", "run", "--config", str(cfg)], env={}, log_path=tmp_path / "edge.log")
    status = EdgeStatus(redis_client)
    try:
        # The first heartbeat goes out on the first frame, the next one HEALTH_EVERY_S (5 s) later.
        health = wait_for(lambda: _faces_reported(status), 60, "a heartbeat with faces")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    print(health)
    assert health.up and health.fps > 0
    assert health.faces_seen >= 6
    assert 40 <= health.median_face_px <= 70
    assert health.backlight_score >= BACKLIGHT_PROBLEM_STOPS
    assert health.small_face_fraction == 0.0
    assert health.problem == "backlit faces"
    raw = json.loads(redis_client.hget(status.cameras_key, "door"))  # what the sync process forwards
    assert set(raw) == set(CameraHealth.model_fields)  # numbers about faces, never crops or boxes
    assert raw["backlight_score"] == health.backlight_score and raw["faces_seen"] == health.faces_seen
