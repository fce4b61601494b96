"""camera calibrate: point-pair parsing, the fit and its errors, and the round-trip config write."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.technician.calibrate import fit, parse_pair, read_pairs_file, write_into_config
from storelens.config import load_config
from storelens.errors import ConfigError, InputError

# A real camera-to-floor perspective: a 6 x 9 m floor seen obliquely by a 640x480 camera.
FLOOR = np.array([[0, 0], [6, 0], [6, 9], [0, 9], [3, 4.5], [1.5, 7], [4.5, 2]], np.float64)
TRUE_H = cv2.getPerspectiveTransform(np.float32([[0, 0], [6, 0], [6, 9], [0, 9]]),
                                     np.float32([[60, 470], [600, 460], [430, 130], [210, 135]]))


def image_points(floor=FLOOR):
    return cv2.perspectiveTransform(floor.reshape(-1, 1, 2), TRUE_H).reshape(-1, 2)


def pairs(noise_px=0.0, seed=0):
    img = image_points() + np.random.default_rng(seed).normal(0, noise_px, (len(FLOOR), 2))
    return [(tuple(i), tuple(f)) for i, f in zip(img.tolist(), FLOOR.tolist(), strict=True)]


@pytest.mark.parametrize("text,expected", [
    ("120,340:0,0", ((120, 340), (0, 0))),
    (" 120.5 , 340 = 1.25 , -2 ", ((120.5, 340), (1.25, -2))),
    ("0,0:.5,3.", ((0, 0), (0.5, 3.0))),
])
def test_parse_pair(text, expected):
    assert parse_pair(text) == expected


@pytest.mark.parametrize("text", ["120,340", "a,b:c,d", "1,2,3:4,5", "", "1;2:3;4"])
def test_parse_pair_rejects_with_the_expected_form(text):
    with pytest.raises(InputError, match=r"x,y:X,Y"):
        parse_pair(text)


def test_exact_pairs_fit_with_no_error():
    result = fit(pairs())
    assert result.rms_m < 1e-6
    assert result.point_errors_m.max() < 1e-6
    np.testing.assert_allclose(result.mapper.to_floor(image_points(np.array([[2.0, 3.0]]))), [[2.0, 3.0]], atol=1e-6)


def test_pixel_noise_shows_up_as_reprojection_error():
    result = fit(pairs(noise_px=3.0))
    assert 0.005 < result.rms_m < 0.3  # a few pixels on a far floor is centimetres to decimetres
    assert len(result.point_errors_m) == len(FLOOR)
    assert result.rms_m == pytest.approx(np.sqrt(np.mean(result.point_errors_m**2)), rel=1e-6)


@pytest.mark.parametrize("bad,match", [
    (pairs()[:3], "at least 4 point pairs, got 3"),
    ([((0, 0), (0, 0)), ((1, 1), (1, 1)), ((2, 2), (2, 2)), ((3, 3), (3, 3))], "degenerate"),
])
def test_fit_refuses_too_few_or_degenerate_points(bad, match):
    with pytest.raises((InputError, ConfigError), match=match):
        fit(bad)


def test_floor_size_defaults_to_the_points_extent_rounded_up():
    assert (fit(pairs()).homography.floor_width_m, fit(pairs()).homography.floor_height_m) == (6.0, 9.0)
    assert fit(pairs(), (10.0, 12.0)).homography.floor_width_m == 10.0


def test_points_file_with_comments(tmp_path):
    path = tmp_path / "points.txt"
    path.write_text("# door corners\n" + "\n".join(f"{i[0]} {i[1]}  {f[0]} {f[1]}" for i, f in pairs()) + "\n\n")
    assert len(read_pairs_file(path)) == len(FLOOR)
    path.write_text("1 2 3 4\n1 2 3\n")
    with pytest.raises(InputError, match=r"points.txt line 2: '1 2 3' is not 'x y X Y'"):
        read_pairs_file(path)


def test_write_keeps_comments_and_other_settings(tmp_path):
    cfg = tmp_path / "store.yaml"
    cfg.write_text("# store 42, Berlin\nstore_id: ber-042  # from the CRM\nedge:\n  analytics:\n    heatmap_cell_m: 0.25\n")
    write_into_config(cfg, fit(pairs()).homography)
    text = cfg.read_text()
    assert "# store 42, Berlin" in text and "# from the CRM" in text
    loaded = load_config(cfg)
    assert loaded.store_id == "ber-042" and loaded.edge.analytics.heatmap_cell_m == 0.25
    assert np.allclose(loaded.edge.analytics.homography.floor_points, FLOOR)


def test_write_refuses_to_break_an_invalid_config(tmp_path):
    cfg = tmp_path / "store.yaml"
    original = "store_id: ber-042\nedge:\n  no_such_key: 1\n"
    cfg.write_text(original)
    with pytest.raises(ConfigError, match="edge.no_such_key"):
        write_into_config(cfg, fit(pairs()).homography)
    assert cfg.read_text() == original  # nothing lost
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_creates_a_missing_config(tmp_path):
    cfg = tmp_path / "new.yaml"
    write_into_config(cfg, fit(pairs()).homography)
    assert yaml.safe_load(cfg.read_text())["edge"]["analytics"]["homography"]["floor_width_m"] == 6.0


def test_write_into_one_cameras_own_section(tmp_path):
    from storelens.config.edge import for_camera

    cfg = tmp_path / "store.yaml"
    cfg.write_text("edge:\n  cameras:\n    - {id: door, url: rtsp://127.0.0.1/door}\n"
                   "    - {id: floor, url: rtsp://127.0.0.1/floor}\n")
    write_into_config(cfg, fit(pairs()).homography, camera="floor")
    loaded = load_config(cfg)
    door, floor = loaded.edge.cameras
    assert loaded.edge.analytics.homography is None and door.analytics is None
    assert np.allclose(for_camera(loaded, floor).edge.analytics.homography.floor_points, FLOOR)


def test_write_for_an_unknown_camera_changes_nothing(tmp_path):
    cfg = tmp_path / "store.yaml"
    original = "edge:\n  cameras:\n    - {id: door, url: rtsp://127.0.0.1/door}\n"
    cfg.write_text(original)
    with pytest.raises(ConfigError, match="no camera with id 'till'"):
        write_into_config(cfg, fit(pairs()).homography, camera="till")
    assert cfg.read_text() == original
