"""Face detection, quality and age on real photos through FacePipeline (YuNet default, SCRFD opt-in)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from devkit.bench.media import box_iou
from edge_agent.detect.faces import build_face_detector
from edge_agent.detect.yunet import from_yunet
from edge_agent.faces import FacePipeline, read_image
from storelens.agebands import PRESETS, band_names
from storelens.errors import ModelError
from tests.vision.faces_support import config_for

pytestmark = pytest.mark.vision


@pytest.fixture(scope="module")
def pipeline(model_dir) -> FacePipeline:
    return FacePipeline.from_config(config_for(model_dir))


@pytest.mark.parametrize(("name", "count"), [("t1.jpg", 6), ("astronaut.png", 1)])
def test_finds_every_face_with_landmarks_quality_and_age(pipeline, media_dir, name, count):
    image = read_image(media_dir / "faces" / name)
    faces = pipeline(image)
    assert len(faces) == count
    h, w = image.shape[:2]
    assert (
        (faces.xyxy >= -2).all()
        and (faces.xyxy[:, [0, 2]] <= w + 2).all()
        and (faces.xyxy[:, [1, 3]] <= h + 2).all()
    )
    inside = (faces.landmarks >= faces.xyxy[:, None, :2]) & (faces.landmarks <= faces.xyxy[:, None, 2:])
    assert inside.all(), "landmarks must lie in their own face box, in original image pixels"
    assert faces.data["quality_ok"].all() and (faces.data["quality"] > 0.7).all()
    ages = faces.data["age"]
    # Adults of about 25-35 (a studio photo): faceapi_age measured 13.1-30.5 here (15.3-26.9 with the mirror
    # view), age-v1 24-37: face-api.js reads these made-up faces young.
    assert ((ages > 12) & (ages < 60)).all(), f"adult faces got ages {ages}"
    assert ((faces.data["age_low"] < ages) & (ages < faces.data["age_high"])).all()
    assert ((faces.data["age_confidence"] > 0) & (faces.data["age_confidence"] <= 1)).all()
    assert faces.data["band"].tolist() == band_names(ages, PRESETS["fine"]).tolist()


def test_large_frames_are_detected_shrunk_and_mapped_back(model_dir, media_dir):
    """A 2560-px frame is detected at 640 px; boxes must come back in 2560-px coordinates."""
    image = read_image(media_dir / "faces" / "t1.jpg")
    big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    cfg = config_for(model_dir)
    assert cfg.edge.faces.input_width == 640
    native = build_face_detector(cfg.edge.faces.model_copy(update={"input_width": 1280}), cfg.models)
    shrunk = build_face_detector(cfg.edge.faces, cfg.models)
    reference, found = native(image), shrunk(big)
    assert len(found) == len(reference) == 6
    assert (box_iou(reference.xyxy * 2, found.xyxy).max(axis=1) > 0.7).all()


def test_blurred_and_tiny_faces_get_no_age(pipeline, media_dir):
    image = read_image(media_dir / "faces" / "astronaut.png")
    for frame in (
        cv2.GaussianBlur(image, (0, 0), 8),
        cv2.resize(image, (128, 128), interpolation=cv2.INTER_AREA),
    ):
        faces = pipeline(frame)
        assert len(faces) == 1
        assert not faces.data["quality_ok"][0]
        assert np.isnan(faces.data["age"][0]) and faces.data["band"][0] == ""
        assert np.isnan(faces.data["age_low"][0]) and np.isnan(faces.data["age_high"][0])


def test_from_yunet_converts_rows_and_scale():
    row = np.array([[10, 20, 30, 40, 15, 30, 35, 30, 25, 40, 18, 50, 32, 50, 0.9]], np.float32)
    faces = from_yunet(row, scale=2.0)
    assert faces.xyxy.tolist() == [[20, 40, 80, 120]]
    assert faces.landmarks[0, 2].tolist() == [50, 80]
    assert faces.confidence[0] == pytest.approx(0.9)
    assert len(from_yunet(None)) == 0 and from_yunet(None).landmarks.shape == (0, 5, 2)


def test_scrfd_needs_the_noncommercial_opt_in(model_dir):
    cfg = config_for(model_dir, faces={"type": "scrfd"})
    with pytest.raises(ModelError, match="allow_noncommercial"):
        build_face_detector(cfg.edge.faces, cfg.models)


def test_scrfd_opt_in_finds_the_six_faces(model_dir, media_dir):
    pytest.importorskip("insightface", reason="SCRFD is the optional extra storelens[insightface]")
    cfg = config_for(model_dir, faces={"type": "scrfd"})
    models = cfg.models.model_copy(update={"allow_noncommercial": True})
    faces = build_face_detector(cfg.edge.faces, models)(read_image(media_dir / "faces" / "t1.jpg"))
    assert len(faces) == 6 and faces.landmarks.shape == (6, 5, 2)
