"""`storelens camera calibrate`: floor-plan homography from point pairs, written into the config.

The fit is the analytics' own (edge_agent.analytics.homography.FloorMapper), so what the
technician sees here is exactly what the heatmap will use. The config file is edited round-trip
(ruamel.yaml keeps the technician's comments and order), validated as a whole, and replaced
atomically; an invalid result is never written.

The fit is judged before it is written. RMS above half a heatmap cell (0.25 m with the default 0.5 m
cell) gets a warning: a typical person then lands in the neighbouring cell, which smears the layout
picture the heatmap exists for. Above 1 m (two default cells, half the group distance) the fit is
almost surely a mistyped or swapped pair and is refused unless forced. Either way the pair to
re-measure is named by leave-one-out: each pair is predicted from a fit over all the others. Floor
points outside the floor plan (negative, or beyond the floor size) are refused, named.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import ValidationError

from edge_agent.analytics.homography import FloorMapper
from storelens.config import format_errors, parse_config
from storelens.config.analytics import HomographyConfig
from storelens.errors import ConfigError, InputError
from storelens.files import write_atomic

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)"
_PAIR = re.compile(rf"^\s*({_NUMBER})\s*,\s*({_NUMBER})\s*[:=]\s*({_NUMBER})\s*,\s*({_NUMBER})\s*$")


@dataclass(frozen=True)
class Calibration:
    homography: HomographyConfig
    mapper: FloorMapper
    point_errors_m: np.ndarray  # per pair: distance between the mapped image point and its floor point

    @property
    def rms_m(self) -> float:
        return self.mapper.reprojection_error_m


def parse_pair(text: str, where: str = "--pair") -> tuple[tuple[float, float], tuple[float, float]]:
    """'x,y:X,Y' (image pixels : floor metres) -> ((x, y), (X, Y))."""
    match = _PAIR.match(text)
    if not match:
        raise InputError(f"{where}: {text!r} is not a point pair; expected x,y:X,Y (pixels:metres), e.g. 120,340:0,0")
    x, y, fx, fy = (float(v) for v in match.groups())
    return (x, y), (fx, fy)


def read_pairs_file(path: Path) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """One pair per line as 'x y X Y' or 'x,y:X,Y'; blank lines and # comments are skipped."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read point file: {exc.strerror}") from None
    pairs = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = re.split(r"[\s,:=]+", text)
        if len(fields) != 4:
            raise InputError(f"{path} line {number}: {line.strip()!r} is not 'x y X Y' (pixels, then metres)")
        pairs.append(parse_pair(f"{fields[0]},{fields[1]}:{fields[2]},{fields[3]}", f"{path} line {number}"))
    return pairs


def fit(pairs: list[tuple[tuple[float, float], tuple[float, float]]],
        floor_size: tuple[float, float] | None = None) -> Calibration:
    """The homography over all pairs (least squares), its RMS and per-point errors in metres."""
    if len(pairs) < 4:
        raise InputError(f"calibration needs at least 4 point pairs, got {len(pairs)}")
    image = [p[0] for p in pairs]
    floor = [p[1] for p in pairs]
    width, height = floor_size or (_extent([f[0] for f in floor]), _extent([f[1] for f in floor]))
    try:
        homography = HomographyConfig(image_points=image, floor_points=floor, floor_width_m=width, floor_height_m=height)
    except ValidationError as exc:
        raise InputError("; ".join(format_errors(exc, "calibration"))) from None
    mapper = FloorMapper.calibrate(homography)
    errors = np.linalg.norm(mapper.to_floor(np.array(image)) - np.array(floor), axis=1)
    return Calibration(homography, mapper, errors)


WARN_RMS_CELLS = 0.5  # warn above half a heatmap cell: a typical point then falls in the next cell
REFUSE_RMS_M = 1.0  # two default cells: no honest measurement is this far off, a pair is wrong
FLOOR_TOLERANCE_M = 0.05  # a tape-measure reading on the wall line may be a few cm past it


@dataclass(frozen=True)
class Verdict:
    """How good a fit is: warning lines, whether it is refused, and the pair(s) most likely wrong."""

    warnings: list[str]
    refused: str | None
    suspects: list[int]  # 1-based pair numbers, as the technician numbered them; best guess first
    rms_without_m: list[float]  # per pair: RMS of the fit over all the other pairs (leave-one-out)


def check_inside(pairs: list[tuple[tuple[float, float], tuple[float, float]]],
                 floor_size: tuple[float, float] | None) -> None:
    """InputError naming the first floor point that lies outside the floor plan (0..W x 0..H metres)."""
    width, height = floor_size or (math.inf, math.inf)
    tol = FLOOR_TOLERANCE_M
    for number, (_image, (fx, fy)) in enumerate(pairs, 1):
        if not (-tol <= fx <= width + tol and -tol <= fy <= height + tol):
            size = f"{width:g} x {height:g} m floor" if floor_size else "floor (coordinates start at 0,0)"
            raise InputError(f"pair {number}: floor point {fx:g},{fy:g} m lies outside the {size}; "
                             "re-measure it or give the right --floor-size")


def leave_one_out(pairs: list[tuple[tuple[float, float], tuple[float, float]]]) -> list[float]:
    """Per pair, the RMS of a fit over all the *other* pairs: dropping the wrong pair makes it small.

    Needs 6+ pairs: with 5, every fit over 4 is exact (RMS 0) and cannot tell the pairs apart.
    """
    if len(pairs) < 6:
        return []
    image = np.array([p[0] for p in pairs], np.float64)
    floor = np.array([p[1] for p in pairs], np.float64)
    out = []
    for i in range(len(pairs)):
        rest = np.arange(len(pairs)) != i
        # the analytics' own fit (least squares over all given pairs), without its per-fit log line
        matrix, _ = cv2.findHomography(image[rest], floor[rest], 0)
        if matrix is None or abs(np.linalg.det(matrix)) < 1e-12:
            out.append(math.inf)  # the others alone are degenerate: this pair carries the fit
            continue
        mapped = cv2.perspectiveTransform(image[rest].reshape(-1, 1, 2), matrix).reshape(-1, 2)
        out.append(float(np.sqrt(np.mean(np.sum((mapped - floor[rest]) ** 2, axis=1)))))
    return out


def _suspects(rms_without: list[float]) -> list[int]:
    """The pair whose removal fixes the fit best, plus any other whose removal does about as well
    (two pairs can explain one error equally, e.g. with only 6 pairs: then both are named)."""
    if not rms_without:
        return []
    order = np.argsort(rms_without)
    best = rms_without[order[0]]
    return [int(i) + 1 for i in order if rms_without[i] <= 2 * best + 0.02]


def judge(pairs: list[tuple[tuple[float, float], tuple[float, float]]], result: Calibration,
          cell_m: float = 0.5) -> Verdict:
    """Warn above half a heatmap cell RMS, refuse above REFUSE_RMS_M, name the pair(s) to re-measure."""
    without = leave_one_out(pairs)
    suspects = _suspects(without)
    warn_m = WARN_RMS_CELLS * cell_m
    warnings = []
    if len(pairs) < 6:
        warnings.append(f"{len(pairs)} pairs cannot show which pair is wrong "
                        f"({'4 always fit exactly' if len(pairs) == 4 else 'every 4 of 5 fit exactly'}); "
                        "measure 6 or more points spread over the floor")
    if result.rms_m <= warn_m:
        return Verdict(warnings, None, suspects, without)
    warnings.append(f"reprojection error {result.rms_m:.2f} m RMS is above {warn_m:.2f} m (half a "
                    f"{cell_m:g} m heatmap cell){_blame(suspects, without)}")
    refused = None
    if result.rms_m > REFUSE_RMS_M:
        refused = (f"reprojection error {result.rms_m:.2f} m RMS is above {REFUSE_RMS_M:g} m: a pair is wrong "
                   f"(typo, swapped x/y, or pixel and floor points that do not match){_blame(suspects, without)}")
    return Verdict(warnings, refused, suspects, without)


def _blame(suspects: list[int], without: list[float]) -> str:
    if not suspects:
        return ""
    named = " or ".join(f"pair {n}" for n in suspects[:3])
    return f"; re-measure {named} (without pair {suspects[0]} the RMS is {without[suspects[0] - 1]:.2f} m)"


def _extent(values: list[float]) -> float:
    """Floor extent from the points: the largest coordinate rounded up to the next half metre."""
    return max(0.5, math.ceil(max(values) * 2) / 2)


def write_into_config(path: Path, homography: HomographyConfig, camera: str | None = None) -> None:
    """Set the homography in the YAML at `path` (created if missing), keeping comments.

    Without `camera` it goes to edge.analytics.homography; with it, to that camera's own
    edge.cameras[i].analytics.homography (each camera sees the floor from its own pixels).
    """
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    try:
        doc = yaml.load(path.read_text()) if path.exists() else None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    except Exception as exc:  # ruamel raises several parser error types
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    doc = doc if doc is not None else {}
    edge = doc.setdefault("edge", {})
    analytics = _camera_section(edge, camera, path).setdefault("analytics", {})
    analytics["homography"] = {k: [_flow(p) for p in v] if isinstance(v, list) else v
                               for k, v in homography.model_dump().items()}
    parse_config(_plain(doc), str(path))  # the whole file must still be valid before it is written
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    write_atomic(path, buffer.getvalue().encode(), what="config", error=ConfigError)


def _camera_section(edge, camera: str | None, path: Path):
    """The mapping that owns `analytics`: edge itself, or the named camera's entry."""
    if camera is None:
        return edge
    for entry in edge.get("cameras") or []:
        if isinstance(entry, dict) and entry.get("id") == camera:
            return entry
    raise ConfigError(f"{path}: edge.cameras has no camera with id {camera!r}")


def _flow(point) -> list:
    """[x, y] on one line, as a person would write it."""
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq([round(float(v), 4) for v in point])
    seq.fa.set_flow_style()
    return seq


def _plain(doc):
    """ruamel's round-trip containers as plain dicts/lists, for validation."""
    return json.loads(json.dumps(doc, default=str))
