"""Entrance-line counts of ground-truth trajectories, by the product's own line counter.

Ground-truth people go through `LineCounter` exactly as tracked people do (foot point = bottom
centre of the box, the same hysteresis band and the same beside-the-segment rule), so a
difference between the two counts is the tracker's and detector's, never a second reading of the
counting rules. A ground-truth identity is never forgotten: it is one person for the whole video.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge_agent.analytics.line import LineCounter
from edge_agent.audit.groundtruth import GroundTruth
from storelens.config.analytics import LineConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineTally:
    name: str
    entries: int
    exits: int


def gt_line_counts(gt: GroundTruth, lines: list[LineConfig], last_frame: int | None = None) -> list[LineTally]:
    """Entries and exits per line over frames 1..`last_frame` (default: all of the ground truth)."""
    counters = [LineCounter(line) for line in lines]
    for number in sorted(gt.frames):
        if last_frame is not None and number > last_frame:
            break
        tracks = gt.frames[number].as_tracks()
        for counter in counters:
            counter.update(tracks)
    return [LineTally(c.cfg.name, c.entries, c.exits) for c in counters]
