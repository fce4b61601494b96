"""`storelens camera check|snapshot|calibrate|probe` end to end through the CLI, on real faces.

The camera is a video made in the test from the group photo in ../shared/media (6 frontal faces),
with the faults a technician meets in the field applied to it: backlight (dark faces against a
bright street), faces too small, focus blur. The RTSP variants are in test_rtsp_camera.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge_agent.detect.faces import build_face_detector
from edge_agent.technician.check import recommend, summarise
from edge_agent.technician.probe import DropCounter
from storelens.cli import main
from storelens.config import parse_config
from storelens.facehealth import backlight_stops

pytestmark = pytest.mark.vision
SIZE = (640, 442)  # even height: MJPG needs it


@pytest.fixture(scope="module")
def scene(media_dir: Path) -> np.ndarray:
    return cv2.resize(cv2.imread(str(media_dir / "faces" / "t1.jpg")), SIZE, interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def detector(models_cfg):
    return build_face_detector(parse_config({}).edge.faces, models_cfg)


@pytest.fixture
def config(tmp_path, model_dir) -> Path:
    path = tmp_path / "store.yaml"
    path.write_text(f"store_id: t-001\nmodels:\n  dir: {model_dir}\n  providers: [cpu]\n"
                    "edge:\n  analytics:\n    lines:\n      - {name: door, start: [20, 420], end: [620, 420]}\n"
                    "    zones:\n      - {name: table, polygon: [[100, 300], [500, 300], [500, 440], [100, 440]]}\n")
    return path


def write_video(path: Path, image: np.ndarray, frames: int = 20, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (image.shape[1], image.shape[0]))
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path


def backlit(image: np.ndarray, faces) -> np.ndarray:
    out = np.clip(image.astype(np.float32) * 2.0, 0, 255)
    for x1, y1, x2, y2 in faces.xyxy.astype(int):
        out[y1:y2, x1:x2] = image[y1:y2, x1:x2] * 0.3
    return out.astype(np.uint8)


def far_away(image: np.ndarray) -> np.ndarray:
    canvas = np.full_like(image, 90)
    small = cv2.resize(image, (SIZE[0] * 2 // 5, SIZE[1] * 2 // 5), interpolation=cv2.INTER_AREA)
    canvas[100:100 + small.shape[0], 200:200 + small.shape[1]] = small
    return canvas


def run_json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("fault,advice", [
    ("none", "looks good"),
    ("backlight", "enable WDR or backlight compensation"),
    ("small", "move the camera closer"),
    ("blur", "Faces are blurred"),
])
def test_check_advises_on_the_real_fault(tmp_path, capsys, scene, detector, config, fault, advice):
    image = {"none": lambda: scene, "backlight": lambda: backlit(scene, detector(scene)),
             "small": lambda: far_away(scene), "blur": lambda: cv2.GaussianBlur(scene, (0, 0), 2.5)}[fault]()
    video = write_video(tmp_path / f"{fault}.avi", image)
    report = run_json(capsys, ["camera", "check", str(video), "--seconds", "1", "--config", str(config), "--json"])
    assert report["faces_seen"] >= 4 * report["frames_with_faces"] > 0
    assert any(advice in line for line in report["recommendations"]), report
    if fault == "backlight":
        assert report["backlight_stops"] >= 1.5
    if fault == "none":
        assert report["recommendations"] == ["Camera placement looks good for faces and age."]
        assert 40 <= report["median_face_px"] <= 80 and report["backlight_stops"] < 1.0


def test_check_without_faces_says_where_to_point(tmp_path, capsys, config, media_dir):
    report = run_json(capsys, ["camera", "check", str(media_dir / "video" / "vtest_pets2009_480x360.avi"),
                               "--seconds", "2", "--config", str(config), "--json"])
    assert report["frames"] == 20
    assert "point the camera at the door" in report["recommendations"][0]


def test_snapshot_blurs_every_face_and_draws_the_layout(tmp_path, capsys, scene, detector, config):
    out = tmp_path / "install-report.png"
    assert main(["camera", "snapshot", str(write_video(tmp_path / "door.avi", scene)), "--out", str(out),
                 "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    faces, people = (int(n) for n in re.search(r"(\d+) face\(s\) blurred, heads of (\d+) person", printed).groups())
    assert faces >= 6 and people >= 4  # every face, and the heads of the people the person detector sees
    shot = cv2.imread(str(out))
    assert shot.shape == scene.shape
    gray_scene, gray_shot = (cv2.cvtColor(i, cv2.COLOR_BGR2GRAY) for i in (scene, shot))
    for x1, y1, x2, y2 in detector(scene).xyxy.astype(int):  # detail inside each face is gone
        before = cv2.Laplacian(gray_scene[y1:y2, x1:x2], cv2.CV_64F).var()
        after = cv2.Laplacian(gray_shot[y1:y2, x1:x2], cv2.CV_64F).var()
        assert after < 0.1 * before
    door_row = shot[420, 100:540].astype(int)  # the entrance line, in its colour
    assert (np.abs(door_row - [0, 220, 255]).sum(axis=1) < 60).mean() > 0.8
    assert not list(tmp_path.glob(".*.tmp"))


def test_snapshot_of_unreachable_camera_writes_nothing(tmp_path, capsys, config):
    out = tmp_path / "shot.png"
    assert main(["camera", "snapshot", "rtsp://127.0.0.1:9/door", "--out", str(out), "--config", str(config),
                 "--timeout", "2"]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["storelens: error: camera rtsp://127.0.0.1:9/door: cannot connect or open "
                   "(unreachable, wrong path or credentials, or not a video) within 2 s"]
    assert not out.exists()


@pytest.mark.parametrize("argv,message", [
    (["camera", "probe", "/no/such/video.avi"], "storelens: error: video /no/such/video.avi: no such file"),
    (["camera", "calibrate", "--pair", "1,2:3", "--config", "x.yaml"], "is not a point pair"),
    (["camera", "calibrate", "--pair", "1,2:3,4", "--config", "x.yaml"], "at least 4 point pairs, got 1"),
])
def test_bad_input_is_one_line(capsys, argv, message):
    assert main(argv) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_calibrate_cli_writes_homography_and_reports_error(tmp_path, capsys, config):
    pairs = ["20,420:0,0", "620,420:6,0", "500,120:6,9", "140,120:0,9", "320,250:3,4.2"]
    argv = ["camera", "calibrate", "--config", str(config), "--json"] + [a for p in pairs for a in ("--pair", p)]
    result = run_json(capsys, argv)
    assert result["pairs"] == 5 and 0 < result["rms_m"] < 0.5 and len(result["point_errors_m"]) == 5
    homography = parse_config(yaml.safe_load(config.read_text())).edge.analytics.homography
    assert homography.floor_width_m == 6.0 and len(homography.image_points) == 5


@pytest.mark.parametrize("stamps,fps,dropped", [
    ([0, 100, 200, 300], 10, 0),
    ([0, 100, 400, 500], 10, 2),  # 200 and 300 never came
    ([0, 40, 80, 200], 25, 2),
    ([0, 100, 200, 0, 100], 10, 0),  # reconnect: timestamps start again
    ([0, 100, 300], 0, 0),  # unknown fps: cannot tell
])
def test_drop_counter(stamps, fps, dropped):
    counter = DropCounter(fps)
    for ms in stamps:
        counter.update(ms)
    assert counter.dropped == dropped


@pytest.mark.parametrize("face,background,stops", [(0.1, 0.8, 3.0), (0.4, 0.4, 0.0), (0.6, 0.3, -1.0)])
def test_backlight_stops(face, background, stops):
    assert backlight_stops(face, background) == pytest.approx(stops)


def test_faces_at_the_top_edge_ask_for_a_tilt():
    from edge_agent.technician.check import FaceStats

    stats = FaceStats(frames=10, frames_with_faces=10, size_px=[80] * 10, sharpness=[500] * 10,
                      face_luma=[0.5] * 10, background_luma=[0.5] * 10, centre_y=[0.05] * 10)
    report = summarise(stats, parse_config({}).edge.quality, url="x", seconds=1)
    assert recommend(report, parse_config({}).edge.quality) == report.recommendations
    assert report.recommendations == ["Faces sit at the top edge of the picture: tilt the camera up or lower it."]


def test_snapshot_of_one_camera_draws_that_cameras_own_line(tmp_path, capsys, scene, model_dir):
    config = tmp_path / "two-cameras.yaml"
    config.write_text(f"models:\n  dir: {model_dir}\n  providers: [cpu]\n"
                      "edge:\n  cameras:\n"
                      "    - {id: door, url: door.avi, analytics: {lines: [{start: [20, 420], end: [620, 420]}]}}\n"
                      "    - {id: floor, url: floor.avi}\n")
    video = str(write_video(tmp_path / "door.avi", scene))
    shots = {}
    for camera in ("door", "floor"):
        out = tmp_path / f"{camera}.png"
        assert main(["camera", "snapshot", video, "--out", str(out), "--config", str(config), "--camera", camera]) == 0
        shots[camera] = cv2.imread(str(out))[420, 100:540].astype(int)
    line_colour = lambda row: (np.abs(row - [0, 220, 255]).sum(axis=1) < 60).mean()  # noqa: E731
    assert line_colour(shots["door"]) > 0.8 and line_colour(shots["floor"]) < 0.1
    capsys.readouterr()
    assert main(["camera", "snapshot", video, "--out", str(tmp_path / "x.png"), "--config", str(config),
                 "--camera", "till"]) == 3
    assert "no camera with id 'till'" in capsys.readouterr().err
