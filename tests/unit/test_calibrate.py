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


def _typo(pairs_in, index: int, delta=(0.0, 10.0)):
    """One pair with a mistyped floor coordinate (9 typed as 19, say)."""
    out = list(pairs_in)
    (img, (fx, fy)) = out[index]
    out[index] = (img, (fx + delta[0], fy + delta[1]))
    return out


@pytest.mark.parametrize("bad", range(len(FLOOR)))
def test_leave_one_out_names_the_mistyped_pair(bad):
    from edge_agent.technician.calibrate import judge

    typed = _typo(pairs(noise_px=2.0, seed=bad), bad, (0.0, 3.0))
    verdict = judge(typed, fit(typed))
    assert verdict.suspects[0] == bad + 1
    assert verdict.rms_without_m[bad] < 0.2  # dropping it leaves a good fit
    assert any(f"re-measure pair {bad + 1}" in w for w in verdict.warnings)


def test_a_good_fit_has_no_warning_and_a_bad_one_is_refused():
    from edge_agent.technician.calibrate import REFUSE_RMS_M, judge

    good = pairs(noise_px=1.0)
    assert judge(good, fit(good)).warnings == [] and judge(good, fit(good)).refused is None
    typed = _typo(good, 5, (0.0, 10.0))  # 7 -> 17
    result = fit(typed)
    assert result.rms_m > REFUSE_RMS_M
    verdict = judge(typed, result)
    assert verdict.refused and "pair 6" in verdict.refused


def test_half_a_heatmap_cell_is_the_warning_line():
    from edge_agent.technician.calibrate import judge

    noisy = pairs(noise_px=8.0, seed=3)
    result = fit(noisy)
    assert 0.1 < result.rms_m < 1.0
    assert judge(noisy, result, cell_m=0.1).warnings  # 0.05 m line: warned
    assert not judge(noisy, result, cell_m=4.0).warnings  # 2 m line: fine


@pytest.mark.parametrize("count,says", [(4, "4 always fit exactly"), (5, "every 4 of 5 fit exactly")])
def test_too_few_pairs_to_check_say_so(count, says):
    from edge_agent.technician.calibrate import judge

    few = pairs()[:count]
    verdict = judge(few, fit(few))
    assert verdict.suspects == [] and says in verdict.warnings[0]


@pytest.mark.parametrize("point,size,named", [
    ((7.5, 2.0), (6.0, 9.0), "pair 3: floor point 7.5,2 m lies outside the 6 x 9 m floor"),
    ((-1.0, 2.0), None, "pair 3: floor point -1,2 m lies outside the floor"),
])
def test_floor_points_outside_the_floor_are_refused(point, size, named):
    from edge_agent.technician.calibrate import check_inside

    bad = list(pairs())
    bad[2] = (bad[2][0], point)
    with pytest.raises(InputError, match=named):
        check_inside(bad, size)
    check_inside(pairs(), (6.0, 9.0))  # the corners themselves are on the floor


CAMERAS_YAML = """edge:
  analytics:
    lines: [{name: door, start: [0, 300], end: [640, 300]}]
    zones: [{name: till, polygon: [[0, 0], [100, 0], [100, 100]]}]
  cameras:
    - {id: door, url: rtsp://127.0.0.1/door}
    - {id: floor, url: rtsp://127.0.0.1/floor, analytics: {zones: []}}
"""


def test_calibrating_one_camera_keeps_its_shared_lines_and_zones(tmp_path):
    from storelens.config.edge import for_camera

    cfg = tmp_path / "store.yaml"
    cfg.write_text(CAMERAS_YAML)
    write_into_config(cfg, fit(pairs()).homography, camera="door")
    loaded = load_config(cfg)
    door, floor = loaded.edge.cameras
    seen = for_camera(loaded, door).edge.analytics
    assert [line.name for line in seen.lines] == ["door"] and [z.name for z in seen.zones] == ["till"]
    assert np.allclose(seen.homography.floor_points, FLOOR)
    assert loaded.edge.analytics.homography is None  # the shared section is untouched
    # a key the camera sets itself replaces the shared one, even as an empty list
    assert for_camera(loaded, floor).edge.analytics.zones == []
    assert [line.name for line in for_camera(loaded, floor).edge.analytics.lines] == ["door"]


def _cli(argv, capsys):
    import json

    from storelens.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in argv else out), err


def _pair_args(items):
    return [a for (x, y), (fx, fy) in items for a in ("--pair", f"{x},{y}:{fx},{fy}")]


def test_cli_refuses_a_5_m_fit_and_names_the_pair(tmp_path, capsys):
    cfg = tmp_path / "store.yaml"
    cfg.write_text(CAMERAS_YAML)
    before = cfg.read_text()
    typed = _typo(pairs(noise_px=1.0), 3, (0.0, -9.0))  # (0, 9) typed as (0, 0): the fit is metres off
    assert fit(typed).rms_m > 1.0
    code, _out, err = _cli(["camera", "calibrate", "--config", str(cfg), "--camera", "door", "--json",
                            *_pair_args(typed)], capsys)
    assert code == 4 and cfg.read_text() == before
    assert "re-measure pair 4" in err and "config not changed" in err
    code, out, err = _cli(["camera", "calibrate", "--config", str(cfg), "--camera", "door", "--json", "--force",
                           *_pair_args(typed)], capsys)
    assert code == 0 and out["suspect_pairs"][0] == 4 and "storelens: warning: reprojection error" in err


def test_cli_checks_new_points_against_the_calibrated_floor(tmp_path, capsys):
    cfg = tmp_path / "store.yaml"
    cfg.write_text(CAMERAS_YAML)
    assert _cli(["camera", "calibrate", "--config", str(cfg), "--camera", "door", "--json",
                 *_pair_args(pairs())], capsys)[0] == 0
    wide = list(pairs())
    wide[1] = (wide[1][0], (60.0, 0.0))  # 6 typed as 60
    code, _out, err = _cli(["camera", "calibrate", "--config", str(cfg), "--camera", "door",
                            *_pair_args(wide)], capsys)
    assert code == 4 and "pair 2: floor point 60,0 m lies outside the 6 x 9 m floor" in err
