"""Floor calibration: homography from >= 4 pairs, reprojection error, heatmap cells and bands."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.analytics.heatmap import FloorHeatmap
from edge_agent.analytics.homography import FloorMapper
from edge_agent.types import Detections
from storelens.config.analytics import HomographyConfig
from storelens.errors import ConfigError

# A known perspective: the floor 0..10 m x 0..20 m seen by a camera looking down the room.
TRUE_H = cv2.getPerspectiveTransform(
    np.float32([[100, 400], [540, 400], [400, 100], [240, 100]]), np.float32([[0, 0], [10, 0], [10, 20], [0, 20]])
)


def _floor(points: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(np.asarray(points, np.float64).reshape(-1, 1, 2), TRUE_H).reshape(-1, 2)


IMAGE_POINTS = np.array([[100, 400], [540, 400], [400, 100], [240, 100], [320, 250], [200, 300]], float)


@pytest.mark.parametrize(
    ("name", "n_points", "noise_m", "max_error_m"),
    [
        ("four exact pairs", 4, 0.0, 1e-6),
        ("six exact pairs", 6, 0.0, 1e-6),
        ("six pairs measured with 10 cm error", 6, 0.1, 0.25),
    ],
)
def test_calibration_and_reprojection_error(name: str, n_points: int, noise_m: float, max_error_m: float) -> None:
    rng = np.random.default_rng(3)
    floor = _floor(IMAGE_POINTS[:n_points]) + rng.normal(0, noise_m, (n_points, 2))
    mapper = FloorMapper.calibrate(HomographyConfig(
        image_points=IMAGE_POINTS[:n_points].tolist(), floor_points=floor.tolist(), floor_width_m=10, floor_height_m=20))
    assert mapper.reprojection_error_m <= max_error_m, name
    if noise_m:
        assert mapper.reprojection_error_m > 0  # redundant noisy pairs cannot fit exactly
    probe = np.array([[320, 350], [300, 150]])
    assert np.allclose(mapper.to_floor(probe), _floor(probe), atol=max(3 * noise_m, 1e-3))


def test_degenerate_points_are_refused_with_the_key() -> None:
    cfg = HomographyConfig(image_points=[[0, 0], [1, 1], [2, 2], [3, 3]],
                           floor_points=[[0, 0], [1, 1], [2, 2], [3, 3]], floor_width_m=5, floor_height_m=5)
    with pytest.raises(ConfigError, match="edge.analytics.homography"):
        FloorMapper.calibrate(cfg)


def test_config_requires_matching_pairs() -> None:
    with pytest.raises(ValueError, match="same number of points"):
        HomographyConfig(image_points=[[0, 0]] * 5, floor_points=[[0, 0]] * 4, floor_width_m=1, floor_height_m=1)


def _person(track: int, foot: tuple[float, float]) -> Detections:
    x, y = foot
    return Detections(xyxy=np.array([[x - 10, y - 80, x + 10, y]]), tracker_id=np.array([track]))


def test_heatmap_cells_sampling_and_bands() -> None:
    mapper = FloorMapper.calibrate(HomographyConfig(
        image_points=IMAGE_POINTS[:4].tolist(), floor_points=_floor(IMAGE_POINTS[:4]).tolist(),
        floor_width_m=10, floor_height_m=20))
    heat = FloorHeatmap(mapper, cell_m=1.0, sample_s=1.0)
    assert (heat.width_cells, heat.height_cells) == (10, 20)
    floor_spot = np.array([[[5.5, 0.5]]])  # cell column 5, row 0
    foot = tuple(cv2.perspectiveTransform(floor_spot, np.linalg.inv(TRUE_H)).reshape(2))
    for t in (0.0, 0.3, 0.6, 1.0, 2.5):  # counted at 0, 1.0 and 2.5 only
        heat.update(_person(1, foot), now=t, bands=["18-21"])
    heat.update(_person(2, (10.0, 10.0)), now=3.0, bands=[""])  # far off the floor plan
    cells, by_band = heat.take()
    assert dict(cells) == {(5, 0): 3}
    assert {b: dict(c) for b, c in by_band.items()} == {"18-21": {(5, 0): 3}}
    assert heat.off_floor == 1
    assert heat.take() == ({}, {})  # taken: the next window starts empty
