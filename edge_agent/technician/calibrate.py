"""`storelens camera calibrate`: floor-plan homography from point pairs, written into the config.

The fit is the analytics' own (edge_agent.analytics.homography.FloorMapper), so what the
technician sees here is exactly what the heatmap will use. The config file is edited round-trip
(ruamel.yaml keeps the technician's comments and order), validated as a whole, and replaced
atomically; an invalid result is never written.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

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
