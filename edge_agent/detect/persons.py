"""Person detectors: YOLOX-nano (default) and NanoDet-m, both ONNX, both returning Detections.

Each backend turns a BGR frame into its network input, decodes its own output layout, and hands
back person boxes in the frame's pixels. Nothing downstream sees a backend's format.

YOLOX is fully convolutional: its graph's fixed 416x416 input is freed in memory at load (the file
is still checked against its sha256), so the input may be larger and need not be square. By
default (`keep_aspect`) a frame is fed at its own aspect ratio, its long side scaled to
`target_scale` of the frame's within [input_size, max_input_size]: small frames cost less than
the old 416x416 letterbox, and wide frames, where people are small, are seen at a larger scale.
NanoDet's graph hard-codes its 320x320 shape.
Optional stages wrap the backend: tiling (detect/tiling.py) for small people in wide frames, and
a colour descriptor per box (`data["colour"]`) that the tracker uses to keep crossing people apart.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge_agent.detect.boxes import nms
from edge_agent.types import Detections
from storelens.errors import ConfigError

if TYPE_CHECKING:
    from storelens.config.detect import NanoDetConfig, PersonDetectorConfig, YoloxConfig
    from storelens.config.models import ModelsConfig

log = logging.getLogger(__name__)

PERSON_CLASS = 0  # COCO
EDGE_PX = 2.0  # a box this close to the frame's side is cut by it
_NANODET_MEAN = np.array([103.53, 116.28, 123.675], np.float32)
_NANODET_STD = np.array([57.375, 57.12, 58.395], np.float32)


def _grid(width: int, height: int, strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) cell coordinates and (K,) strides for a `width` x `height` input, row-major per stride."""
    cells, cell_strides = [], []
    for stride in strides:
        ny, nx = height // stride, width // stride
        ys, xs = np.mgrid[0:ny, 0:nx]
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        cell_strides.append(np.full(nx * ny, stride))
    return np.concatenate(cells).astype(np.float32), np.concatenate(cell_strides).astype(np.float32)


def free_input_size(path: Path) -> bytes:
    """The ONNX model at `path` with its input height and width made symbolic (in memory only)."""
    import onnx

    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    del model.graph.value_info[:]  # shapes inferred for 416x416 would contradict other sizes
    for out in model.graph.output:
        for dim in out.type.tensor_type.shape.dim[1:]:
            dim.dim_param = "n"
    return model.SerializeToString()


def _finish(xyxy: np.ndarray, scores: np.ndarray, shape: tuple[int, ...], cfg: PersonDetectorConfig) -> Detections:
    """NMS, clip to the frame, drop boxes too short to be a person at this camera."""
    keep = nms(xyxy, scores, cfg.score_threshold, cfg.nms_threshold)
    xyxy, scores = xyxy[keep], scores[keep]
    h, w = shape[:2]
    xyxy = np.clip(xyxy, 0, [w - 1, h - 1, w - 1, h - 1]).astype(np.float32)
    tall = (xyxy[:, 3] - xyxy[:, 1]) >= cfg.min_height_px
    return Detections(xyxy=xyxy[tall], confidence=scores[tall], class_id=np.zeros(int(tall.sum()), np.int32))


class YoloxPersonDetector:
    """YOLOX-nano: letterbox (pad 114) to a square or to the frame's aspect, decode grid + strides,
    keep class person."""

    _STRIDES = (8, 16, 32)

    def __init__(self, session, cfg: YoloxConfig) -> None:
        self._session = session
        self._cfg = cfg
        self._input = session.get_inputs()[0].name
        self._grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, frame_bgr: np.ndarray) -> Detections:
        blob, scale = self._letterbox(frame_bgr)
        cells, strides = self._grid(blob.shape[3], blob.shape[2])
        out = self._session.run(None, {self._input: blob})[0][0]
        centres = (out[:, :2] + cells) * strides[:, None]
        sizes = np.exp(out[:, 2:4]) * strides[:, None]
        scores = out[:, 4] * out[:, 5 + PERSON_CLASS]
        mask = scores >= self._cfg.score_threshold
        xyxy = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)[mask] / scale
        return _finish(xyxy, scores[mask], frame_bgr.shape, self._cfg)

    def _grid(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        if (width, height) not in self._grids:
            self._grids[(width, height)] = _grid(width, height, self._STRIDES)
        return self._grids[(width, height)]

    def input_shape(self, height: int, width: int) -> tuple[int, int]:
        """(network height, network width) for a frame: a square, or the frame's aspect (rounded up to 32)
        with the long side at `target_scale` of the frame's, kept within [input_size, max_input_size]."""
        cfg = self._cfg
        if not cfg.keep_aspect:
            return cfg.input_size, cfg.input_size
        long = max(height, width)
        side = min(max(cfg.input_size, cfg.target_scale * long), max(cfg.max_input_size, cfg.input_size))
        return _round32(height * side / long), _round32(width * side / long)

    def _letterbox(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        h, w = frame.shape[:2]
        in_h, in_w = self.input_shape(h, w)
        scale = min(in_h / h, in_w / w)
        resized = cv2.resize(frame, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((in_h, in_w, 3), 114, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        return canvas.transpose(2, 0, 1)[None].astype(np.float32), scale


def _round32(value: float) -> int:
    return max(32, int(np.ceil(value / 32)) * 32)


class NanoDetPersonDetector:
    """NanoDet-m (GFL head): per-stride class scores and distance distributions (reg_max 7)."""

    _STRIDES = (8, 16, 32)
    _REG_MAX = 7

    def __init__(self, session, cfg: NanoDetConfig) -> None:
        self._session = session
        self._cfg = cfg
        inp = session.get_inputs()[0]
        self._input = inp.name
        if inp.shape[2:] != [cfg.input_size, cfg.input_size]:
            raise ConfigError(f"edge.persons.input_size: {cfg.input_size} does not fit this NanoDet model, whose "
                              f"graph fixes its input at {inp.shape[2]}x{inp.shape[3]}")
        names = [o.name for o in session.get_outputs()]
        self._cls_names = sorted((n for n in names if n.startswith("cls")), key=_stride_of)
        self._dis_names = sorted((n for n in names if n.startswith("dis")), key=_stride_of)
        cells, strides = _grid(cfg.input_size, cfg.input_size, self._STRIDES)
        self._centres = (cells + 0.5) * strides[:, None]
        self._strides = strides

    def __call__(self, frame_bgr: np.ndarray) -> Detections:
        size = self._cfg.input_size
        h, w = frame_bgr.shape[:2]
        img = (cv2.resize(frame_bgr, (size, size)).astype(np.float32) - _NANODET_MEAN) / _NANODET_STD
        outs = self._session.run(self._cls_names + self._dis_names, {self._input: img.transpose(2, 0, 1)[None]})
        cls = np.concatenate([o[0] for o in outs[: len(self._STRIDES)]])[:, PERSON_CLASS]
        dis = np.concatenate([o[0] for o in outs[len(self._STRIDES):]])
        mask = cls >= self._cfg.score_threshold
        dist = self._integral(dis[mask]) * self._strides[mask, None]
        c = self._centres[mask]
        xyxy = np.concatenate([c - dist[:, :2], c + dist[:, 2:]], axis=1)
        xyxy *= np.array([w / size, h / size, w / size, h / size], np.float32)
        return _finish(xyxy, cls[mask], frame_bgr.shape, self._cfg)

    def _integral(self, dis: np.ndarray) -> np.ndarray:
        """Expected distance per side from each side's softmax over 0..reg_max bins."""
        bins = dis.reshape(-1, 4, self._REG_MAX + 1)
        bins = np.exp(bins - bins.max(axis=2, keepdims=True))
        bins /= bins.sum(axis=2, keepdims=True)
        return bins @ np.arange(self._REG_MAX + 1, dtype=np.float32)


def _stride_of(name: str) -> int:
    return int(name.rsplit("_", 1)[-1])


def build_person_detector(cfg: PersonDetectorConfig, models_cfg: ModelsConfig):
    """The configured backend, its model resolved (sha256-checked) and loaded, with tiling and
    colour descriptors as configured: a callable frame -> Detections."""
    from edge_agent.detect.tiling import TiledDetector
    from edge_agent.tracking.appearance import ColourDescribed

    detector = build_backend(cfg, models_cfg)
    if cfg.tiling.enabled:
        detector = TiledDetector(detector, cfg.tiling, cfg.nms_threshold)
    if cfg.edge_width_ratio > 0:
        detector = EdgeCompleted(detector, cfg.edge_width_ratio)
    return ColourDescribed(detector) if cfg.colour_descriptors else detector


class EdgeCompleted:
    """Wraps a detector: a person cut by the left or right frame edge gets the box they would have whole.

    A detector boxes what it sees, so someone half out of the frame has a narrow box whose bottom
    centre (the foot point lines and heatmaps use) sits inside the frame, short of where they
    stand; a line near the frame edge then misses people leaving past it. Such a box (touching a
    side edge, narrower than `ratio` times its height) is widened outwards to that width, as
    MOTChallenge ground truth boxes people who leave the view.
    """

    def __init__(self, detector, ratio: float) -> None:
        self._detector = detector
        self._ratio = ratio

    def __call__(self, frame_bgr: np.ndarray) -> Detections:
        people = self._detector(frame_bgr)
        width = frame_bgr.shape[1]
        xyxy = people.xyxy.copy()
        want = self._ratio * (xyxy[:, 3] - xyxy[:, 1])
        short = (xyxy[:, 2] - xyxy[:, 0]) < want
        left = short & (xyxy[:, 0] <= EDGE_PX) & (xyxy[:, 2] < width - 1 - EDGE_PX)
        right = short & (xyxy[:, 2] >= width - 1 - EDGE_PX) & (xyxy[:, 0] > EDGE_PX)
        xyxy[left, 0] = xyxy[left, 2] - want[left]
        xyxy[right, 2] = xyxy[right, 0] + want[right]
        return replace(people, xyxy=xyxy, data=dict(people.data))


def build_backend(cfg: PersonDetectorConfig, models_cfg: ModelsConfig):
    """The bare network: frame -> Detections."""
    from edge_agent.models import create_session, resolve_model

    path = resolve_model(cfg.model, models_cfg)
    if cfg.type == "yolox":
        session = create_session(path, models_cfg, name=cfg.model, model_bytes=free_input_size(path))
        return YoloxPersonDetector(session, cfg)
    return NanoDetPersonDetector(create_session(path, models_cfg, name=cfg.model), cfg)
