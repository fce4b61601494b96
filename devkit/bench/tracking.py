"""`storelens bench tracking`: the audit on every derived scenario of an annotated clip, as one table,
and PETS 2009: its entrance counts against the hand-made crossing list
(tests/data/audit/pets2009_crossings.yaml), plus fragmentation and track take-overs."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from devkit.bench.audit_scenarios import Scenario, derive
from edge_agent.audit.audit import audit
from edge_agent.audit.groundtruth import load_ground_truth
from edge_agent.audit.report import AuditReport, count_accuracy
from edge_agent.audit.run import run_pipeline
from edge_agent.samples import get_sample, sample_config_path
from edge_agent.sources.video import decoded_images
from edge_agent.tracking.appearance import colour_histograms
from storelens.config import StorelensConfig, load_config
from storelens.config.models import ModelsConfig
from storelens.config.sources import CameraConfig
from storelens.paths import PROJECT_ROOT

log = logging.getLogger(__name__)

PETS_CROSSINGS = PROJECT_ROOT / "tests" / "data" / "audit" / "pets2009_crossings.yaml"


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    report: AuditReport


def audit_scenarios(video: Path, gt: Path, lines: Path, models: ModelsConfig, names: list[str] | None = None,
                    overrides: dict | None = None) -> Iterator[ScenarioResult]:
    """Audit each derived variant with the lines config in `lines` (edge settings from it, models from `models`)."""
    with tempfile.TemporaryDirectory(prefix="storelens-scenarios-") as tmp:
        for sc in derive(video, gt, lines, Path(tmp), names):
            cfg = _config(sc, models, overrides)
            camera = CameraConfig(id="cam1", url=str(sc.video))
            yield ScenarioResult(sc.name, audit(cfg, camera, load_ground_truth(sc.gt)).report)


def _config(sc: Scenario, models: ModelsConfig, overrides: dict | None) -> StorelensConfig:
    cfg = load_config(sc.config).model_copy(update={"models": models})
    for section, fields in (overrides or {}).items():
        edge = cfg.edge
        updated = getattr(edge, section).model_copy(update=fields)
        cfg = cfg.model_copy(update={"edge": edge.model_copy(update={section: updated})})
    return cfg


def header(line_names: list[str]) -> str:
    cells = " ".join(f"{n[:10]:>10}" for n in line_names)
    return (f"{'scenario':<10} {cells} {'all lines':>9} {'in/out gt':>9} {'counted':>8} {'visitors':>9} "
            f"{'error':>7} {'IDSW':>5} {'IDF1':>6} {'IDF1 re-ID':>10}")


def row(result: ScenarioResult, line_names: list[str]) -> str:
    r = result.report
    acc = {line.name: line.accuracy for line in r.lines}
    cells = " ".join(f"{_fmt(acc.get(n)):>10}" for n in line_names)
    t, v = r.total, r.visitors
    err = "-" if v.error is None else f"{100 * v.error:+.0f}%"
    idsw = r.tracks.id_switches if r.tracks else "-"
    idf1 = f"{r.tracks.idf1:.3f}" if r.tracks else "-"
    vidf1 = f"{r.visitor_tracks.idf1:.3f}" if r.visitor_tracks else "-"
    return (f"{result.scenario:<10} {cells} {_fmt(t.accuracy):>9} {f'{t.expected_in}/{t.expected_out}':>9} "
            f"{f'{t.counted_in}/{t.counted_out}':>8} {f'{v.counted}/{v.expected}':>9} {err:>7} {idsw:>5} "
            f"{idf1:>6} {vidf1:>10}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@dataclass(frozen=True)
class PetsSanity:
    frames: int
    tracks: int
    visitors: int
    entries: int
    exits: int
    occupancy_max: int
    impure: int  # long tracks whose first and last thirds differ in colour (taken over by someone else)
    long_tracks: int
    expected_in: int = 0  # the hand-made crossing list's totals
    expected_out: int = 0

    @property
    def accuracy(self) -> float:
        return count_accuracy(self.expected_in, self.expected_out, self.entries, self.exits)


def pets_sanity(video: Path, models: ModelsConfig, min_frames: int = 30, same_colour: float = 0.75) -> PetsSanity:
    """The full pipeline on the PETS sample with its scene config (faces off: they do not change tracks)."""
    cfg = load_config(sample_config_path(get_sample())).model_copy(update={"models": models})
    cfg = cfg.model_copy(update={"edge": cfg.edge.model_copy(
        update={"pipeline": cfg.edge.pipeline.model_copy(update={"faces": False})})})
    run = run_pipeline(cfg, CameraConfig(id="cam1", url=str(video)))
    colours = _track_colours(video, run.tracks)
    long = [np.asarray(c) for c in colours.values() if len(c) >= min_frames]
    impure = sum(_cosine(c[: len(c) // 3].mean(0), c[-(len(c) // 3):].mean(0)) < same_colour for c in long)
    visitors = {int(v) for ids, _ in run.visitors.values() for v in ids}
    totals = yaml.safe_load(PETS_CROSSINGS.read_text())["totals"]
    return PetsSanity(run.frames, len(colours), run.summary["unique_visitors"] or len(visitors),
                      run.summary["entries"], run.summary["exits"], run.summary["occupancy_max"], int(impure),
                      len(long), totals["in"], totals["out"])


def _track_colours(video: Path, tracks: dict) -> dict[int, list[np.ndarray]]:
    out: dict[int, list[np.ndarray]] = {}
    for number, image in enumerate(decoded_images(video), start=1):
        ids, boxes = tracks.get(number, ([], np.zeros((0, 4))))
        for track, colour in zip(np.asarray(ids).tolist(), colour_histograms(image, boxes), strict=True):
            out.setdefault(track, []).append(colour)
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-6))
