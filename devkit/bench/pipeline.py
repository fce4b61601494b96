"""Benchmark of the full camera pipeline on a real video, decode included, against its bound.

Each frame is decoded twice from the same file, by two readers in lockstep, and timed twice in the
same loop: once through the whole `CameraPipeline` (decode, persons, tracking, re-ID, faces and
age, analytics, visits, windows) and once through decode plus the two detection models alone, as
the pipeline calls them (persons on every frame, faces on every `faces_every_frames`th). The
ratio of the two is what the pipeline's own work costs; measured frame by frame in one run, it
is far less sensitive to other load on the box than either fps.

Without `--video` the input is a 1280x720 crowd built honestly from what the media holds: the
PETS 2009 sample (a campus walkway with a steady stream of people; the bench prints how many it
tracked per frame, 6 on average over the first 300 frames) upscaled to 1280x720 and written as
H.264 by ffmpeg (an MPEG-4 fallback through OpenCV when ffmpeg is missing), with its scene config
(lines, zones, floor calibration) scaled to the new frame size.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2

from devkit.bench.speed import peak_rss_mib
from edge_agent.pipeline import CameraPipeline
from edge_agent.sources.frame import Frame
from edge_agent.timing import StageTimes
from storelens.config import StorelensConfig
from storelens.config.sources import CameraConfig
from storelens.progress import Progress

log = logging.getLogger(__name__)

START = datetime(2024, 1, 1, 9, tzinfo=UTC)


@dataclass(frozen=True)
class BenchResult:
    size: tuple[int, int]
    frames: int
    fps: float  # full pipeline, decode included
    bound_fps: float  # decode + persons every frame + faces every Nth, same frames, same run
    stage_ms: dict[str, float]
    decode_ms: float
    people_per_frame: float
    peak_rss_mb: float

    @property
    def ratio(self) -> float:
        return self.fps / self.bound_fps if self.bound_fps else 0.0


def crowd_video(sample: Path, cache: Path, size: tuple[int, int] = (1280, 720)) -> Path:
    """The PETS sample upscaled to `size`, written once into `cache` (H.264 when ffmpeg is there)."""
    width, height = size
    out = cache / f"{sample.stem}_{width}x{height}.mp4"
    if out.is_file():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    part = out.with_suffix(".part.mp4")
    if shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(sample), "-an", "-vf",
                        f"scale={width}:{height}:flags=bilinear", "-c:v", "libx264", "-preset", "veryfast",
                        "-crf", "20", "-pix_fmt", "yuv420p", str(part)], check=True)
    else:
        _write_with_opencv(sample, part, size)
    part.replace(out)
    return out


def _write_with_opencv(sample: Path, out: Path, size: tuple[int, int]) -> None:
    cap = cv2.VideoCapture(str(sample))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), cap.get(cv2.CAP_PROP_FPS) or 10.0, size)
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            writer.write(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))
    finally:
        cap.release()
        writer.release()


def scaled_scene(cfg: StorelensConfig, sx: float, sy: float) -> StorelensConfig:
    """The config with its image geometry (lines, zones, floor calibration points) scaled by (sx, sy)."""
    a = cfg.edge.analytics
    point = lambda p: (p[0] * sx, p[1] * sy)  # noqa: E731
    lines = [line.model_copy(update={"start": point(line.start), "end": point(line.end),
                                     "band_px": line.band_px * (sx + sy) / 2}) for line in a.lines]
    zones = [z.model_copy(update={"polygon": [point(p) for p in z.polygon]}) for z in a.zones]
    update = {"lines": lines, "zones": zones}
    if a.homography is not None:
        update["homography"] = a.homography.model_copy(update={"image_points": [point(p) for p in a.homography.image_points]})
    edge = cfg.edge.model_copy(update={"analytics": a.model_copy(update=update)})
    return cfg.model_copy(update={"edge": edge})


class _Bound:
    """Decode plus the two detectors alone, called as the pipeline calls them."""

    def __init__(self, cfg: StorelensConfig, video: Path) -> None:
        from edge_agent.detect.faces import build_face_detector
        from edge_agent.detect.persons import build_person_detector

        # The person model as the pipeline runs it (tiled when configured), without the tracker's
        # colour descriptors: those are bookkeeping, not a model.
        self.persons = build_person_detector(_without_colour(cfg.edge.persons), cfg.models)
        self.faces = build_face_detector(cfg.edge.faces, cfg.models) if cfg.edge.pipeline.faces else None
        self.every = cfg.edge.pipeline.faces_every_frames
        self.cap = cv2.VideoCapture(str(video))

    def step(self, index: int) -> bool:
        ok, image = self.cap.read()
        if not ok:
            return False
        self.persons(image)
        if self.faces is not None and index % self.every == 0:
            self.faces(image)
        return True


def _without_colour(persons):
    if "colour_descriptors" in type(persons).model_fields:
        return persons.model_copy(update={"colour_descriptors": False})
    return persons


def bench_pipeline(cfg: StorelensConfig, video: Path, frames: int = 300, warmup: int = 10) -> BenchResult:
    """Full pipeline and bound, frame by frame on the same frames; both include decoding."""
    pipeline = CameraPipeline.from_config(cfg, CameraConfig(id="bench", url=str(video)))
    bound = _Bound(cfg, video)
    cap = cv2.VideoCapture(str(video))
    full_s = bound_s = decode_s = 0.0
    n = people = 0
    image = None
    progress = Progress(f"bench pipeline {video.name}", frames + warmup)
    try:
        for i in range(frames + warmup):
            if i == warmup:  # measure after the warm-up only
                pipeline.times, full_s, bound_s, decode_s, n, people = StageTimes(), 0.0, 0.0, 0.0, 0, 0
            t0 = time.perf_counter()
            ok, image = cap.read()
            t1 = time.perf_counter()
            if not ok:
                break
            pipeline.process(Frame(image, START + timedelta(milliseconds=cap.get(cv2.CAP_PROP_POS_MSEC)), i, "bench"))
            t2 = time.perf_counter()
            if not bound.step(i):
                break
            t3 = time.perf_counter()
            full_s, bound_s, decode_s, n = full_s + t2 - t0, bound_s + t3 - t2, decode_s + t1 - t0, n + 1
            people += len(pipeline.last_tracks)
            progress.update()  # outside the timed spans
    finally:
        progress.close()
        cap.release()
        bound.cap.release()
    pipeline.flush()
    h, w = image.shape[:2] if image is not None else (0, 0)
    n = max(n, 1)
    return BenchResult((w, h), n, n / full_s, n / bound_s, pipeline.times.per_frame_ms(), 1000 * decode_s / n,
                       people / n, peak_rss_mib())
