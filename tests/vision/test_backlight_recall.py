"""Enhancement finds the faces of people standing in a sunlit doorway, and never costs a normal image.

Reference faces are YuNet's detections on the original images; variants follow bench/synth.py
(people 3-5 stops under a clipped street, veiling glare, sensor noise, JPEG). The floors are set on
the HELD-OUT set of bench/backlight_sets.py (other photos, scales and seeds than enhancement was
tuned on), with margin below what `storelens bench backlight --set heldout` measured:
backlit-3 99.4 %, backlit-4 97.2 %, flare 97.5 % with enhancement (89.6 % at 4 stops without).
"""

from __future__ import annotations

import numpy as np
import pytest

from devkit.bench import synth
from devkit.bench.backlight import FLOOR_VARIANTS, run_backlight
from devkit.bench.backlight_sets import backlight_set
from edge_agent.detect.faces import build_face_detector
from edge_agent.enhance.adaptive import AdaptiveEnhancer
from edge_agent.enhance.scene import luminance_thumbnail
from edge_agent.faces import read_image
from tests.vision.faces_support import config_for

pytestmark = pytest.mark.vision

FLOOR_MEAN = 0.96  # issue 9 asks >= 0.93 averaged over backlit-3, backlit-4 and flare; measured 0.980
FLOOR_4_STOPS = 0.95  # measured 0.972


@pytest.fixture(scope="module")
def cfg(model_dir):
    return config_for(model_dir)


@pytest.fixture(scope="module")
def heldout(cfg, media_dir):
    images = (("heldout", image) for image in backlight_set(media_dir, "heldout"))
    rows = run_backlight(cfg, images, ("original", *FLOOR_VARIANTS), ("off", "auto"))
    return {(r.group, r.variant): r.tally for r in rows}


def test_normal_images_take_the_single_pass_path_and_keep_every_face(heldout):
    for group in ("faces", "utk", "utk@0.5"):  # the persons/ crowd frame has faces 1.6 stops under its scene
        t = heldout[(group, "original")]
        assert t.faces > 0 and t.found == {"off": t.faces, "auto": t.faces}, group
        assert t.enhanced == 0, f"{group}: a normal image was enhanced"
    t = heldout[("all", "original")]
    assert t.found["auto"] == t.faces and t.false["auto"] == t.false["off"] == 0


def test_heldout_backlit_recall_meets_the_floor(heldout):
    recalls = {v: heldout[("all", v)].recall("auto") for v in FLOOR_VARIANTS}
    print(recalls)
    assert np.mean(list(recalls.values())) >= FLOOR_MEAN
    assert recalls["backlit-4"] >= FLOOR_4_STOPS
    assert all(heldout[("all", v)].enhanced == heldout[("all", v)].frames for v in FLOOR_VARIANTS)


@pytest.mark.parametrize("variant", FLOOR_VARIANTS)
def test_enhancement_adds_no_false_faces(heldout, variant):
    t = heldout[("all", variant)]
    assert t.false["auto"] <= t.false["off"]
    assert t.precision("auto") >= 0.99


def test_four_stops_under_a_sunlit_door_regression(heldout):
    """Issue 9: 0.77 at 4 stops on the authors' photos. The hardest held-out group (UTKFace groups of
    every skin tone on a clipped street) measured 85.6 % plain, 94.9 % with the old enhancement
    (gamma + CLAHE at the detector's 640 px), 97.5 % with the finer backlit pass."""
    t = heldout[("utk", "backlit-4")]
    assert t.recall("off") <= 0.90  # the case is hard: the plain detector loses faces here
    assert t.recall("auto") >= 0.95
    small = heldout[("utk@0.5", "backlit-4")]  # a 640x360 substream: measured 83.3 % -> 94.2 %
    assert small.recall("auto") >= small.recall("off") + 0.05


def test_backlit_flare_and_dark_variants_are_classified(cfg, media_dir):
    image = read_image(media_dir / "faces" / "t1.jpg")
    detector = build_face_detector(cfg.edge.faces, cfg.models)
    enhancer = AdaptiveEnhancer(cfg.edge.enhance)
    boxes = detector(image).xyxy
    assert enhancer.decide(image, detector(image)).kind == "normal"
    for frame in (synth.backlit(image, boxes, 4), synth.backlit(image, boxes, 3, flare=True)):
        assert enhancer.decide(frame, detector(frame)).kind == "backlit"
    dark = synth.dark(image, 4)
    assert enhancer.decide(dark, detector(dark)).kind == "dark"


def test_variants_are_seeded_and_as_harsh_as_a_sunlit_door(cfg, media_dir):
    image = read_image(media_dir / "faces" / "t1.jpg")
    boxes = build_face_detector(cfg.edge.faces, cfg.models)(image).xyxy
    frame = synth.backlit(image, boxes, 4, seed=7)
    assert np.array_equal(frame, synth.backlit(image, boxes, 4, seed=7)), "same seed, same variant"
    assert not np.array_equal(frame, synth.backlit(image, boxes, 4, seed=8))
    assert np.array_equal(synth.dark(image, 4), synth.dark(image, 4))
    lum = luminance_thumbnail(frame, 160)
    assert (lum >= 0.96).mean() >= 0.25, "the street behind the people is blown out"
    x1, y1, x2, y2 = boxes[0].astype(int)
    face, original = frame[y1:y2, x1:x2].mean(), image[y1:y2, x1:x2].mean()
    assert face < 0.5 * original, "the people are in shadow"
    flared, clean = (synth.backlit(image, boxes, 3, seed=7, flare=f)[y1:y2, x1:x2] for f in (True, False))
    # The dirty dome's veil lifts the faces and flattens them (measured: mean 94 vs 68, std 12 vs 17).
    assert flared.mean() > clean.mean() + 10 and flared.std() < 0.85 * clean.std()
