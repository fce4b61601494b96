"""The `storelens bench faces` report: face detection per frame size, the age stage, peak memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from devkit.bench.media import read_image
from devkit.bench.speed import Timing, age_timings, frame_of_size, peak_rss_mib, time_call
from edge_agent.attributes.age_stage import build_age_stage
from edge_agent.detect.faces import build_face_detector
from edge_agent.enhance.adaptive import AdaptiveEnhancer
from edge_agent.enhance.two_pass import TwoPassDetector
from storelens.config.detect import YuNetConfig

if TYPE_CHECKING:
    from storelens.config import StorelensConfig

SIZES = ((640, 360), (1280, 720))


def _line(t: Timing, per_item: int = 0) -> str:
    rate = f"  = {per_item * 1000.0 / t.ms:7.0f} faces/s" if per_item else ""
    return f"  {t.name:<58} {t.ms:8.2f} ms  (p90 {t.ms_p90:7.2f}){rate}"


def _detection_timings(cfg: StorelensConfig, photo, repeat: int) -> Iterator[Timing]:
    faces_cfg = cfg.edge.faces
    always = AdaptiveEnhancer(cfg.edge.enhance.model_copy(update={"mode": "always"}))
    for width, height in SIZES:
        frame = frame_of_size(photo, width, height)
        variants = {"configured": faces_cfg}
        if isinstance(faces_cfg, YuNetConfig) and faces_cfg.input_width < width:
            variants["full resolution"] = faces_cfg.model_copy(update={"input_width": width})
        for label, fcfg in variants.items():
            detector = build_face_detector(fcfg, cfg.models)
            yield time_call(
                f"{fcfg.type} {width}x{height} ({label})", lambda d=detector, f=frame: d(f), repeat
            )
        two_pass = TwoPassDetector(build_face_detector(faces_cfg, cfg.models), always)
        yield time_call(
            f"{faces_cfg.type} {width}x{height} + enhancement, 2 passes",
            lambda p=two_pass, f=frame: p(f),
            repeat,
        )


def bench_faces(cfg: StorelensConfig, media: Path, repeat: int) -> Iterator[str]:
    photo = read_image(media / "faces" / "t1.jpg")
    yield f"face detection, median of {repeat} runs on a real photo resized to each size:"
    for t in _detection_timings(cfg, photo, repeat):
        yield _line(t)
    age = build_age_stage(cfg.edge.age, cfg.models)
    faces = build_face_detector(cfg.edge.faces, cfg.models)(photo)
    yield f"age ({age.model}; real faces from t1.jpg, repeated to 8):"
    for timing in age_timings(age, photo, faces, repeat):
        yield _line(timing, 8)
    yield f"peak RSS: {peak_rss_mib():.0f} MiB (whole process: Python, OpenCV, ONNX Runtime, all models above)"
