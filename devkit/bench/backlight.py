"""Backlight benchmark: face recall, false faces and ms per frame on synthetic backlit and dark
variants of real photos, per enhancement mode.

Reference faces are the detections on the ORIGINAL image (enhancement off). Recall is the share of
them found again (IoU >= 0.5) on a variant; a false face is a detection that overlaps no reference
face (IoU < 0.3): precision = 1 - false / detections. Variants follow bench/synth.py: `backlit-N`
(people N stops under a sunlit door, clean-lens glare), `flare` (3 stops, a dirty dome's glare),
`dark-N` (the whole frame N stops under). Image sets: bench/backlight_sets.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from devkit.bench import synth
from devkit.bench.backlight_sets import BenchImage
from devkit.bench.media import box_iou, matched
from edge_agent.detect.faces import FaceDetector, build_face_detector
from edge_agent.enhance.two_pass import TwoPassDetector
from storelens.config import StorelensConfig
from storelens.errors import InputError

MODES = ("off", "auto", "always")
DEFAULT_MODES = ("off", "auto")
DEFAULT_VARIANTS = ("original", "backlit-3", "backlit-4", "backlit-5", "flare", "dark-3", "dark-5")
FLARE_STOPS = 3.0
FALSE_IOU = 0.3  # a detection overlapping no reference face this much is a false face

Render = Callable[[np.ndarray, np.ndarray, int], np.ndarray]  # (image, reference boxes, seed) -> frame


def variant_renderer(name: str) -> Render:
    """The rendering a variant name stands for; InputError names a bad one."""
    if name == "original":
        return lambda image, boxes, seed: image
    if name == "flare":
        return lambda image, boxes, seed: synth.backlit(image, boxes, FLARE_STOPS, seed, flare=True)
    kind, _, stops = name.partition("-")
    try:
        value = float(stops)
    except ValueError:
        value = None
    if kind == "backlit" and value is not None:
        return lambda image, boxes, seed: synth.backlit(image, boxes, value, seed)
    if kind == "dark" and value is not None:
        return lambda image, boxes, seed: synth.dark(image, value, seed)
    raise InputError(f"backlight variant {name!r}: expected original, flare, backlit-STOPS or dark-STOPS")


@dataclass
class Tally:
    faces: int = 0  # reference faces over all renderings
    frames: int = 0
    enhanced: int = 0  # frames the auto mode chose to enhance
    found: dict[str, int] = field(default_factory=dict)  # mode -> reference faces found again
    detections: dict[str, int] = field(default_factory=dict)
    false: dict[str, int] = field(default_factory=dict)  # detections matching no reference face
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, mode: str, found: int, detections: int, false: int, seconds: float) -> None:
        for counter, value in ((self.found, found), (self.detections, detections), (self.false, false),
                               (self.seconds, seconds)):
            counter[mode] = counter.get(mode, 0) + value

    def recall(self, mode: str) -> float:
        return self.found.get(mode, 0) / self.faces if self.faces else float("nan")

    def precision(self, mode: str) -> float:
        n = self.detections.get(mode, 0)
        return 1.0 - self.false.get(mode, 0) / n if n else float("nan")

    def ms(self, mode: str) -> float:
        return 1000.0 * self.seconds.get(mode, 0.0) / self.frames if self.frames else float("nan")


@dataclass(frozen=True)
class RecallRow:
    set: str  # tune, heldout
    group: str  # faces, persons, utk, or "all"
    variant: str
    tally: Tally


def false_faces(reference: np.ndarray, found: np.ndarray) -> int:
    if len(found) == 0:
        return 0
    if len(reference) == 0:
        return len(found)
    return int((box_iou(found, reference).max(axis=1) < FALSE_IOU).sum())


def build_finders(cfg: StorelensConfig, detector: FaceDetector, modes: Sequence[str]) -> dict[str, TwoPassDetector]:
    """One finder per enhance mode, as the face pipeline builds it (the reference detector shared)."""
    edge = cfg.edge
    return {
        m: TwoPassDetector.from_config(detector, edge.faces, edge.enhance.model_copy(update={"mode": m}), cfg.models)
        for m in modes
    }


@dataclass(frozen=True)
class FrameResult:
    faces: int
    modes: dict[str, tuple[int, int, int, float]]  # mode -> (found, detections, false, seconds)
    enhanced: bool  # the auto mode enhanced this frame

    def into(self, tally: Tally) -> None:
        tally.faces += self.faces
        tally.frames += 1
        tally.enhanced += int(self.enhanced)
        for mode, values in self.modes.items():
            tally.add(mode, *values)


def measure_frame(finders: dict[str, TwoPassDetector], frame: np.ndarray, reference: np.ndarray) -> FrameResult:
    modes, enhanced = {}, False
    for mode, finder in finders.items():
        start = time.perf_counter()
        result = finder(frame)
        seconds = time.perf_counter() - start
        boxes = result.faces.xyxy
        modes[mode] = (matched(reference, boxes), len(boxes), false_faces(reference, boxes), seconds)
        enhanced = enhanced or (mode == "auto" and result.decision.enhance)
    return FrameResult(len(reference), modes, enhanced)


def run_backlight(
    cfg: StorelensConfig,
    images: Iterable[tuple[str, BenchImage]],
    variants: Sequence[str] = DEFAULT_VARIANTS,
    modes: Sequence[str] = DEFAULT_MODES,
) -> list[RecallRow]:
    """Rows per (set, image group, variant), then per (set, "all", variant); `images` are (set, image)."""
    renders = {v: variant_renderer(v) for v in variants}
    detector = build_face_detector(cfg.edge.faces, cfg.models)
    finders = build_finders(cfg, detector, modes)
    tallies: dict[tuple[str, str, str], Tally] = {}
    for set_name, item in images:
        reference = detector(item.image).xyxy
        for variant, render in renders.items():
            for seed in item.seeds[:1] if variant == "original" else item.seeds:
                result = measure_frame(finders, render(item.image, reference, seed), reference)
                for group in (item.group, "all"):
                    result.into(tallies.setdefault((set_name, group, variant), Tally()))
    return [RecallRow(s, g, v, t) for (s, g, v), t in tallies.items()]


FLOOR_VARIANTS = ("backlit-3", "backlit-4", "flare")  # issue 9's floor: recall averaged over these


def _cells(t: Tally, modes: Sequence[str], fmt: Callable[[Tally, str], str]) -> str:
    return "/".join(fmt(t, m) for m in modes)


def report(rows: Sequence[RecallRow], modes: Sequence[str]) -> Iterator[str]:
    """The table `storelens bench backlight` prints: one line per row, then the floor average per set."""
    cols = "/".join(modes)
    yield ("face recall against detections on the original images (IoU >= 0.5); false = detections "
           f"overlapping no reference face (IoU < {FALSE_IOU}); columns per edge.enhance.mode: {cols}")
    yield (f"{'set':<8} {'group':<8} {'variant':<10} {'frames':>6} {'faces':>5}  {'recall ' + cols:>22}  "
           f"{'false ' + cols:>14}  {'precision ' + cols:>22}  {'ms ' + cols:>14}  enhanced")
    set_order = {name: i for i, name in enumerate(dict.fromkeys(r.set for r in rows))}
    for r in sorted(rows, key=lambda r: (set_order[r.set], r.group == "all", r.group)):
        t = r.tally
        yield (f"{r.set:<8} {r.group:<8} {r.variant:<10} {t.frames:>6} {t.faces:>5}  "
               f"{_cells(t, modes, lambda t, m: f'{t.recall(m):6.1%}'):>22}  "
               f"{_cells(t, modes, lambda t, m: str(t.false.get(m, 0))):>14}  "
               f"{_cells(t, modes, lambda t, m: f'{t.precision(m):6.1%}'):>22}  "
               f"{_cells(t, modes, lambda t, m: f'{t.ms(m):.0f}'):>14}  {t.enhanced:>4}/{t.frames}")
    for set_name in dict.fromkeys(r.set for r in rows):
        picked = [r.tally for r in rows if r.set == set_name and r.group == "all" and r.variant in FLOOR_VARIANTS]
        if len(picked) == len(FLOOR_VARIANTS):
            means = "  ".join(f"{m} {np.mean([t.recall(m) for t in picked]):.3f}" for m in modes)
            yield f"{set_name}: recall averaged over {', '.join(FLOOR_VARIANTS)}: {means}"
