"""Enhancement raises face recall on backlit and dark variants of real photos and never lowers it.

Reference faces are YuNet's detections on the original images; variants follow bench/synth.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from devkit.bench import synth
from devkit.bench.backlight import run_backlight
from edge_agent.detect.faces import build_face_detector
from edge_agent.enhance.adaptive import AdaptiveEnhancer
from edge_agent.faces import read_image
from tests.vision.faces_support import config_for

pytestmark = pytest.mark.vision


@pytest.fixture(scope="module")
def cfg(model_dir):
    return config_for(model_dir)


@pytest.fixture(scope="module")
def rows(cfg, media_dir):
    detector = build_face_detector(cfg.edge.faces, cfg.models)
    result = run_backlight(detector, cfg.edge.enhance, media_dir / "faces", stops=(3, 6))
    return {(r.variant, r.stops): r for r in result}


def test_normal_images_are_left_alone_and_lose_nothing(rows):
    original = rows[("original", 0.0)]
    assert original.faces == 47
    assert original.found == {"off": 47, "auto": 47, "always": 47}
    assert original.enhanced == 0


@pytest.mark.parametrize("key", [("backlit", 3.0), ("backlit", 6.0), ("dark", 3.0), ("dark", 6.0)])
def test_enhancement_never_lowers_recall_and_auto_notices_the_scene(rows, key):
    row = rows[key]
    assert row.found["auto"] >= row.found["off"]
    assert row.found["always"] >= row.found["off"]
    assert row.enhanced == 4, "auto mode should enhance every backlit/dark variant"


@pytest.mark.parametrize("variant", ["backlit", "dark"])
def test_enhancement_raises_recall_where_the_plain_detector_fails(rows, variant):
    row = rows[(variant, 6.0)]
    assert row.recall("off") < 0.95
    assert row.recall("auto") >= row.recall("off") + 0.05


def test_backlit_and_dark_variants_are_classified(cfg, media_dir):
    image = read_image(media_dir / "faces" / "t1.jpg")
    detector = build_face_detector(cfg.edge.faces, cfg.models)
    enhancer = AdaptiveEnhancer(cfg.edge.enhance)
    boxes = detector(image).xyxy
    assert enhancer.decide(image, detector(image)).kind == "normal"
    backlit = synth.backlit(image, boxes, 3)
    assert enhancer.decide(backlit, detector(backlit)).kind == "backlit"
    dark = synth.dark(image, 4)
    assert enhancer.decide(dark, detector(dark)).kind == "dark"
    assert np.array_equal(synth.dark(image, 4), dark), "variants are seeded and reproducible"
