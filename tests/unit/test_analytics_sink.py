"""DeepStream's detections through the shared analytics, without DeepStream: pyds-shaped metadata ->
ProbeAdapter -> AnalyticsSink -> CameraPipeline (real tracker, age vote, line, windowing) -> windows.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace as NS

import numpy as np
import pytest

from edge_agent.attributes.age_faceapi import SINGLE_VIEW_POLICY, readout_for
from edge_agent.pipeline import CameraPipeline, build_gallery
from edge_agent.types import Detections
from hardware.analytics_sink import AnalyticsSink, FrameClock, geometry_only, is_live
from hardware.probe_adapter import FaceApiDecoder, FrameDetections, NvdsReader, ProbeAdapter
from storelens.config import parse_config
from storelens.errors import ConfigError
from tests.unit.test_probe_adapter import (
    AGE,
    FACE,
    MUX,
    PERSON,
    FakePyds,
    faceapi_layers,
    frame_meta,
    glist,
    obj,
    tensor_user_meta,
)

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
SOURCE = (1920, 1080)  # camera pixels; the mux runs at 1280x720, so the adapter scales by 1.5
SCALE = MUX[0] / SOURCE[0]
FRAME_NS = 100_000_000  # 10 fps
VISITOR_AGE = 35
# The network output that the default calibration (edge.age.calibration: cal1) reports as VISITOR_AGE + 0.4.
_CAL1 = readout_for(SINGLE_VIEW_POLICY).age_map
NETWORK_AGE = float(np.interp(VISITOR_AGE + 0.4, _CAL1.values, _CAL1.knots))
SCENE = {
    "store_id": "s-1", "device_id": "jetson-1",
    "edge": {
        "window_minutes": 15,
        "reid": {"enabled": False},
        "cameras": [{"id": "door", "url": "rtsp://127.0.0.1:8554/door"}],
        "analytics": {"lines": [{"name": "door", "start": [960, 0], "end": [960, 1080], "in_side": "left"}]},
    },
}


class Windows:
    """Records what reaches the sink, with the same `put` as edge_agent.app.WindowSink."""

    def __init__(self) -> None:
        self.put_calls: list[tuple[list, bool]] = []

    def put(self, windows, *, partial=False) -> None:
        self.put_calls.append((list(windows), partial))

    @property
    def windows(self) -> list:
        return [w for ws, _ in self.put_calls for w in ws]


def _must_not_run(_image):
    raise AssertionError("the CPU detector ran although DeepStream gave the detections")


def _person_box(i: int) -> tuple[float, float, float, float]:
    """Camera pixels: a person 600 px tall walking left to right across x = 960, 30 px per frame."""
    x = 500 + 30 * i
    return x - 80, 300, x + 80, 900


def _batch(pyds: FakePyds, i: int):
    """Frame i as nvstreammux metadata (mux pixels): the person, and their face with an age tensor."""
    x1, y1, x2, y2 = (v * SCALE for v in _person_box(i))
    person = obj(x1, y1, x2 - x1, y2 - y1, comp=PERSON, oid=11, conf=0.9)
    face_x, face_w = (x1 + x2) / 2 - 20, 40
    user = [tensor_user_meta(pyds.tensor(faceapi_layers(NETWORK_AGE)))] if i % 3 == 0 else []
    face = obj(face_x, y1 + 10, face_w, 40, comp=FACE, oid=12, conf=0.8, user=user)
    meta = frame_meta([person, face], pad=0, num=i, size=SOURCE)
    meta.buf_pts = i * FRAME_NS
    return NS(frame_meta_list=glist([meta]))


def _walk_through(sink: AnalyticsSink, frames: int = 34) -> None:
    pyds = FakePyds({})
    probe = ProbeAdapter(NvdsReader(pyds, age_component_id=AGE), sink, ok="OK", face_component_id=FACE,
                         person_component_id=PERSON, mux_size=MUX, age=FaceApiDecoder())
    for i in range(frames):
        buffer = object()
        pyds.batches[hash(buffer)] = _batch(pyds, i)
        assert probe(None, NS(get_buffer=lambda b=buffer: b)) == "OK"


def _sink(windows: Windows, cfg=None) -> AnalyticsSink:
    cfg = cfg or parse_config(SCENE)
    camera = cfg.edge.cameras[0]
    pipeline = CameraPipeline(cfg, camera, detector=_must_not_run, faces=_must_not_run, embedder=None,
                              gallery=build_gallery(cfg), mapper=None)
    return AnalyticsSink([pipeline], [camera.id], windows, clock=FrameClock([False], lambda: START),
                         persons_given=True)


def test_a_person_crossing_the_entrance_with_an_aged_face_gives_an_entry_and_the_voted_age():
    windows = Windows()
    sink = _sink(windows)
    _walk_through(sink)
    assert sink.flush(partial=False) == 1
    [(closed, partial)] = windows.put_calls
    [w] = closed
    assert partial is False
    assert (w.store_id, w.device_id, w.camera_id) == ("s-1", "jetson-1", "door")
    assert (w.entries, w.exits, w.unique_visitors, w.visitors_with_age) == (1, 0, 1, 1)
    assert [a for a, n in enumerate(w.age_histogram) if n] == [VISITOR_AGE]
    assert w.frames == 34 and w.window_start == START


def test_the_heatmap_covers_the_camera_frame_without_pixels():
    windows = Windows()
    sink = _sink(windows)
    _walk_through(sink, frames=10)
    sink.flush(partial=False)
    heat = windows.windows[0].heatmap
    # no homography: 1 px = 1 cm over the camera's own 1920x1080, not the mux's 1280x720
    assert heat.width_cells == math.ceil(19.2 / heat.cell_m) and heat.height_cells == math.ceil(10.8 / heat.cell_m)
    assert sum(count for *_, count in heat.cells) > 0


def test_windows_close_on_pts_time_and_a_signal_flush_is_partial():
    windows = Windows()
    cfg = parse_config({**SCENE, "edge": {**SCENE["edge"], "window_minutes": 1}})
    sink = _sink(windows, cfg)
    sink(_frame(0))
    sink(_frame(61 * 10))  # 61 s of pts later: the first window is closed and pushed at once
    assert [(len(ws), p) for ws, p in windows.put_calls] == [(1, False)]
    sink.flush(partial=True)
    assert [(len(ws), p) for ws, p in windows.put_calls] == [(1, False), (1, True)]
    assert [w.seq for w in windows.windows] == [0, 1]
    assert windows.windows[1].window_start == START + timedelta(minutes=1)


def _frame(i: int, source_id: int = 0) -> FrameDetections:
    return FrameDetections(source_id, i, i * FRAME_NS, Detections.empty(), Detections.empty(), SOURCE)


def test_a_frame_from_an_unconfigured_source_is_ignored_and_logged_once(caplog):
    windows = Windows()
    sink = _sink(windows)
    stray = _frame(0, source_id=3)
    with caplog.at_level(logging.WARNING):
        sink(stray)
        sink(stray)
        sink(_frame(1))
    assert sink.frames == 1
    assert caplog.text.count("frame from source 3, but only 1 camera(s) configured; ignored") == 1


@pytest.mark.parametrize(("live", "pts_s", "expected_s"), [
    ([True], [0, 5, 99], [0, 0, 0]),  # live: the wall clock (fixed here), whatever the pts say
    ([False], [0, 5, 99], [0, 5, 99]),  # file: first frame at the wall clock, then pts
    ([False], [7, 8], [0, 1]),  # a file whose pts do not start at 0
])
def test_frame_clock(live, pts_s, expected_s):
    clock = FrameClock(live, lambda: START)
    got = [clock(0, s * 1_000_000_000) for s in pts_s]
    assert got == [START + timedelta(seconds=s) for s in expected_s]


@pytest.mark.parametrize(("url", "live"), [("rtsp://cam/1", True), ("RTSP://cam/1", True), ("/dev/video0", True),
                                           ("v4l2:///dev/video0", True), ("file:///v/door.mp4", False),
                                           ("/v/door.mp4", False)])
def test_is_live(url, live):
    assert is_live(url) is live


def test_geometry_only_has_the_frame_size_and_no_pixels():
    image = geometry_only((1920, 1080))
    assert image.shape == (1080, 1920, 0) and image.nbytes == 0


def test_without_persons_and_without_pixels_it_refuses_in_one_line():
    with pytest.raises(ConfigError, match="no person detector in the pipeline .* and no pixels"):
        AnalyticsSink.from_config(parse_config(SCENE), Windows(), pixels=False, persons_given=False)


def test_from_config_builds_a_pipeline_per_camera_in_order_with_reid_off_without_pixels(models_cfg):
    scene = {**SCENE, "models": {"dir": str(models_cfg.dir), "providers": ["cpu"]},
             "edge": {**SCENE["edge"], "reid": {"enabled": True},
                      "cameras": [{"id": "door", "url": "rtsp://127.0.0.1:8554/door"},
                                  {"id": "floor", "url": "/videos/floor.mp4"}]}}
    windows = Windows()
    sink = AnalyticsSink.from_config(parse_config(scene), windows, pixels=False, persons_given=True,
                                     now=lambda: START)
    _walk_through(sink)
    sink(_frame(0, source_id=1))  # pad 1 = the second camera
    sink.flush(partial=False)
    door, floor = windows.windows
    assert (door.camera_id, floor.camera_id) == ("door", "floor")
    assert (door.entries, door.unique_visitors, door.visitors_with_age) == (1, 1, 1)
    assert [a for a, n in enumerate(door.age_histogram) if n] == [VISITOR_AGE]
    assert "reid" not in door.model_versions  # re-ID was switched off: there were no pixels to embed
    assert (floor.frames, floor.unique_visitors) == (1, 0)


def test_with_pixels_and_no_deepstream_persons_the_cpu_detector_runs_on_the_copied_frame():
    seen: list[tuple[int, ...]] = []

    def detector(image):
        seen.append(image.shape)
        return Detections(xyxy=np.array([_person_box(len(seen) - 1)]), confidence=np.array([0.9]))

    cfg = parse_config(SCENE)
    pipeline = CameraPipeline(cfg, cfg.edge.cameras[0], detector=detector, faces=_must_not_run, embedder=None,
                              gallery=build_gallery(cfg), mapper=None)
    windows = Windows()
    sink = AnalyticsSink([pipeline], ["door"], windows, clock=FrameClock([False], lambda: START), persons_given=False)
    image = np.zeros((SOURCE[1], SOURCE[0], 3), np.uint8)
    for i in range(34):
        sink(FrameDetections(0, i, i * FRAME_NS, Detections.empty(), Detections.empty(), SOURCE, image))
    sink.flush(partial=False)
    assert seen == [(1080, 1920, 3)] * 34
    assert (windows.windows[0].entries, windows.windows[0].unique_visitors) == (1, 1)


def test_deepstream_faces_feed_camera_health_only_when_pixels_were_copied():
    cfg = parse_config(SCENE)
    face = Detections(xyxy=np.array([[900.0, 300.0, 980.0, 390.0]]), confidence=np.array([0.9]),
                      data={"age": np.array([np.nan]), "age_confidence": np.array([np.nan]),
                            "age_probs": np.full((1, 81), np.nan)})
    person = Detections(xyxy=np.array([_person_box(0)]), confidence=np.array([0.9]))
    health = {}
    for name, image in [("pixels", np.full((SOURCE[1], SOURCE[0], 3), 128, np.uint8)),
                        ("no pixels", geometry_only(SOURCE))]:
        pipeline = CameraPipeline(cfg, cfg.edge.cameras[0], detector=_must_not_run, faces=_must_not_run,
                                  embedder=None, gallery=build_gallery(cfg), mapper=None)
        sink = AnalyticsSink([pipeline], ["door"], Windows(), clock=FrameClock([False], lambda: START),
                             persons_given=True)
        sink(FrameDetections(0, 0, 0, face, person, SOURCE, image))
        health[name] = pipeline.face_health()
    assert health["pixels"].faces_seen == 1 and health["pixels"].median_face_px > 0
    assert health["no pixels"].faces_seen == 0


def test_a_failing_stage_is_counted_and_the_camera_goes_on_with_its_window(caplog):
    """The DeepStream path is supervised like `edge run`: one log line, the pipeline rebuilt, nothing lost."""
    windows = Windows()
    cfg = parse_config({**SCENE, "edge": {**SCENE["edge"], "window_minutes": 1}})
    sink = _sink(windows, cfg)
    calls = []

    def rebuild(old):
        new = CameraPipeline(cfg, cfg.edge.cameras[0], detector=_must_not_run, faces=_must_not_run, embedder=None,
                             gallery=old.gallery, mapper=None)
        new.adopt_windows(old)
        calls.append(new)
        return new

    sink._rebuild = rebuild
    pipeline = sink._pipelines[0]
    original = pipeline.scene.update
    pipeline.scene.update = lambda *a, **k: (_ for _ in ()).throw(ValueError("bad geometry"))
    with caplog.at_level(logging.ERROR):
        for i in range(5):
            sink(_frame(i))  # frame 0 fails; the rebuilt pipeline takes the next ones
        sink(_frame(61 * 10))  # closes the first window: it still holds every frame
    pipeline.scene.update = original
    sink.flush(partial=False)
    first, second = windows.windows
    assert (first.frames, second.frames) == (5, 1) and len(calls) == 1
    assert sink.supervisors[0].errors == 1
    assert [r.getMessage() for r in caplog.records if "stage analytics failed" in r.getMessage()] == [
        "camera door: stage analytics failed (ValueError: bad geometry); rebuilding the pipeline with its open window "
        "kept, the other cameras keep running"]
