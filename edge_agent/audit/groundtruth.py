"""MOTChallenge ground truth: `frame,id,x,y,w,h,conf,class,visibility`, 1-based frames, boxes in pixels.

Flags are honoured as the MOTChallenge evaluation does: a row with conf 0 is ignored; only class 1
(pedestrian) is a person to find; classes 2, 7, 8 and 12 (person on a vehicle, static person,
distractor, reflection) are distractors (a track on one is neither right nor wrong); other classes
(vehicles, occluders) are ignored. MOT15 files have 10 columns whose last three are world
coordinates, not class and visibility: every row of those is a pedestrian. A class of -1 (unknown)
counts as pedestrian too.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.types import Detections
from storelens.errors import InputError

log = logging.getLogger(__name__)

PEDESTRIAN = 1
UNKNOWN_CLASS = -1
DISTRACTORS = frozenset({2, 7, 8, 12})
MOT15_COLUMNS = 10
LAYOUT = "frame,id,x,y,w,h[,conf,class,visibility]"


@dataclass(frozen=True)
class FrameTruth:
    ids: np.ndarray  # (N,) int64 person ids
    xyxy: np.ndarray  # (N, 4) float64 boxes
    distractors: np.ndarray  # (M, 4) float64 boxes a track may cover without being wrong

    def as_tracks(self) -> Detections:
        """The ground-truth people as tracked Detections (id = tracker id), for the product's own counters."""
        return Detections(xyxy=self.xyxy, tracker_id=self.ids)


@dataclass(frozen=True)
class GroundTruth:
    source: str
    frames: dict[int, FrameTruth]  # 1-based frame number -> people in it

    @property
    def identities(self) -> set[int]:
        return {int(i) for f in self.frames.values() for i in f.ids}

    @property
    def last_frame(self) -> int:
        return max(self.frames, default=0)

    def frame(self, number: int) -> FrameTruth:
        return self.frames.get(number) or _EMPTY


_EMPTY = FrameTruth(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros((0, 4)))


@dataclass(frozen=True)
class _Row:
    frame: int
    person: int
    xyxy: tuple[float, float, float, float]
    kind: str  # "person", "distractor" or "ignored"


def load_ground_truth(path: Path | str) -> GroundTruth:
    """Parse and check a MOTChallenge gt file; a bad one raises InputError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"ground truth {path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    rows, seen, width = [], set(), None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        row, columns = _parse(line, path, number)
        if width is not None and columns != width:
            raise InputError(f"ground truth {path}:{number}: {columns} columns where earlier lines have {width}")
        width = columns
        if row.kind != "ignored" and (row.frame, row.person) in seen:
            raise InputError(f"ground truth {path}:{number}: person {row.person} appears twice in frame {row.frame}")
        seen.add((row.frame, row.person))
        rows.append(row)
    frames = _by_frame(rows)
    if not any(len(f.ids) for f in frames.values()):
        raise InputError(f"ground truth {path}: no pedestrian boxes (expected lines like {LAYOUT})")
    return GroundTruth(str(path), frames)


def _parse(line: str, path: Path, number: int) -> tuple[_Row, int]:
    where = f"ground truth {path}:{number}"
    fields = [f.strip() for f in line.split(",")]
    if len(fields) < 6:
        raise InputError(f"{where}: {len(fields)} fields, expected {LAYOUT}")
    try:
        values = [float(f) for f in fields]
    except ValueError:
        raise InputError(f"{where}: not a number in {line.strip()!r} (expected {LAYOUT})") from None
    if not all(math.isfinite(v) for v in values[:6]):
        raise InputError(f"{where}: frame, id and box must be finite numbers")
    frame, person, x, y, w, h = values[:6]
    if frame != int(frame) or frame < 1:
        raise InputError(f"{where}: frame {fields[0]} must be a whole number >= 1 (MOTChallenge frames start at 1)")
    if person != int(person) or person < 0:
        raise InputError(f"{where}: id {fields[1]} must be a whole number >= 0 (an id of -1 marks a detection "
                         "file, not ground truth)")
    if w <= 0 or h <= 0:
        raise InputError(f"{where}: box width and height must be positive, got {fields[4]} x {fields[5]}")
    return _Row(int(frame), int(person), (x, y, x + w, y + h), _kind(values)), len(fields)


def _kind(values: list[float]) -> str:
    conf = values[6] if len(values) > 6 else 1.0
    cls = int(values[7]) if 7 < len(values) < MOT15_COLUMNS else PEDESTRIAN
    if cls in DISTRACTORS:
        return "distractor"  # MOTChallenge uses distractors whatever their conf flag
    if conf == 0 or cls not in (PEDESTRIAN, UNKNOWN_CLASS):
        return "ignored"
    return "person"


def _by_frame(rows: list[_Row]) -> dict[int, FrameTruth]:
    grouped: dict[int, list[_Row]] = {}
    for r in rows:
        grouped.setdefault(r.frame, []).append(r)
    frames: dict[int, FrameTruth] = {}
    for frame, here in sorted(grouped.items()):
        people = [r for r in here if r.kind == "person"]
        frames[frame] = FrameTruth(
            np.array([r.person for r in people], np.int64),
            np.array([r.xyxy for r in people], np.float64).reshape(-1, 4),
            np.array([r.xyxy for r in here if r.kind == "distractor"], np.float64).reshape(-1, 4),
        )
    return frames
