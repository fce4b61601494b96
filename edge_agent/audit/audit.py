"""An audit: the pipeline's entrance counts, unique visitors and tracks against a reference.

The reference is MOTChallenge ground truth (lines applied to its trajectories by the product's own
counter, identities for unique visitors, boxes for ID switches and IDF1) or a technician's hand
count of entries and exits (and optionally of people).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_agent.audit.crossings import LineTally, gt_line_counts
from edge_agent.audit.groundtruth import GroundTruth
from edge_agent.audit.report import AuditReport, LineResult, VisitorResult
from edge_agent.audit.run import PipelineRun, run_pipeline
from edge_agent.audit.scoring import score
from storelens.config import StorelensConfig
from storelens.config.edge import for_camera
from storelens.config.sources import CameraConfig
from storelens.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HandCount:
    entries: int
    exits: int
    visitors: int | None = None


@dataclass
class AuditOutcome:
    report: AuditReport
    error: InputError | None  # the video broke part-way: the report covers the frames before it


def audit(cfg: StorelensConfig, camera: CameraConfig, reference: GroundTruth | HandCount,
          max_frames: int | None = None, progress: Callable[..., None] | None = None) -> AuditOutcome:
    """`progress(frame, pipeline)` after each frame (storelens.progress.Progress)."""
    lines = for_camera(cfg, camera).edge.analytics.lines
    run = run_pipeline(cfg, camera, max_frames, progress)
    if isinstance(reference, GroundTruth):
        report = _against_gt(run, reference, lines)
    else:
        report = _against_count(run, reference)
    report.video = Path(camera.url).name
    if not lines:
        report.notes.append("no entrance lines configured (edge.analytics.lines): nothing to count")
    if run.error is not None:
        report.notes.append(f"the video broke after frame {run.frames}: {run.error}")
    return AuditOutcome(report, run.error)


def _against_gt(run: PipelineRun, gt: GroundTruth, lines) -> AuditReport:
    truth = gt_line_counts(gt, lines, last_frame=run.frames)
    rows = [_row(got, want) for got, want in zip(run.lines, truth, strict=True)]
    # The all-lines accuracy adds up each line's own errors: one line's extra entry must not hide
    # another line's missed one. Its counted numbers are what the windows report.
    total = LineResult("all lines", run.summary["entries"], run.summary["exits"], sum(t.entries for t in truth),
                       sum(t.exits for t in truth), errors=sum(r.error_count for r in rows))
    people = {i for n, f in gt.frames.items() if n <= run.frames for i in f.ids.tolist()}
    report = AuditReport("", f"ground truth {Path(gt.source).name} ({len(people)} people)", run.frames, run.fps,
                         rows, total, VisitorResult(run.summary["unique_visitors"], len(people)))
    if importlib.util.find_spec("motmetrics") is None:
        report.notes.append("ID switches and IDF1 need py-motmetrics (the 'bench' extra, which the edge stack "
                            "leaves out): pip install 'storelens[bench]'")
    else:
        report.tracks, report.visitor_tracks = score(run.tracks, gt, run.frames), score(run.visitors, gt, run.frames)
    if gt.last_frame > run.frames:
        report.notes.append(f"ground truth runs to frame {gt.last_frame}, the video to {run.frames}: "
                            "later ground truth is not scored")
    return report


def _against_count(run: PipelineRun, count: HandCount) -> AuditReport:
    rows = [LineResult(t.name, t.entries, t.exits) for t in run.lines]
    total = LineResult("all lines", run.summary["entries"], run.summary["exits"], count.entries, count.exits)
    return AuditReport("", "a hand count", run.frames, run.fps, rows, total,
                       VisitorResult(run.summary["unique_visitors"], count.visitors))


def _row(got: LineTally, want: LineTally) -> LineResult:
    return LineResult(got.name, got.entries, got.exits, want.entries, want.exits)
