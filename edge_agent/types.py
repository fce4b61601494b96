"""The one data contract between pipeline stages.

Detections is a dataclass of numpy arrays (after roboflow/supervision): one row per detected
object. A stage returns a new Detections (`replace`, `with_data`, `filter`) instead of mutating.
Backend converters (`from_yunet`, `from_nvds`, ...) live beside each backend, not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

# Keys stages may put in `data` (one value per row): age, age_confidence, quality, embedding, zone, ...


def _as(arr: Any, dtype: Any, shape_tail: tuple[int, ...], n: int, name: str) -> np.ndarray:
    a = np.asarray(arr, dtype=dtype)
    if a.shape != (n, *shape_tail):
        raise ValueError(f"Detections.{name} has shape {a.shape}, expected {(n, *shape_tail)}")
    return a


@dataclass(frozen=True)
class Detections:
    xyxy: np.ndarray  # (N, 4) float32 pixel boxes in the frame they came from
    confidence: np.ndarray = field(default=None)  # type: ignore[assignment]  # (N,) float32
    class_id: np.ndarray = field(default=None)  # type: ignore[assignment]  # (N,) int32; 0 = person/face
    tracker_id: np.ndarray | None = None  # (N,) int64 once a tracker ran; -1 = unmatched
    landmarks: np.ndarray | None = None  # (N, 5, 2) float32 for faces (eyes, nose, mouth corners)
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(xyxy)
        set_ = object.__setattr__
        set_(self, "xyxy", xyxy)
        conf = np.ones(n, np.float32) if self.confidence is None else self.confidence
        set_(self, "confidence", _as(conf, np.float32, (), n, "confidence"))
        cls = np.zeros(n, np.int32) if self.class_id is None else self.class_id
        set_(self, "class_id", _as(cls, np.int32, (), n, "class_id"))
        if self.tracker_id is not None:
            set_(self, "tracker_id", _as(self.tracker_id, np.int64, (), n, "tracker_id"))
        if self.landmarks is not None:
            set_(self, "landmarks", _as(self.landmarks, np.float32, (5, 2), n, "landmarks"))
        for key, value in self.data.items():
            arr = np.asarray(value)
            if len(arr) != n:
                raise ValueError(f"Detections.data[{key!r}] has {len(arr)} rows, expected {n}")
            self.data[key] = arr

    @classmethod
    def empty(cls) -> Detections:
        return cls(xyxy=np.zeros((0, 4), np.float32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def filter(self, mask: np.ndarray) -> Detections:
        """Rows where `mask` (bool array or index array) selects."""
        return Detections(
            xyxy=self.xyxy[mask],
            confidence=self.confidence[mask],
            class_id=self.class_id[mask],
            tracker_id=None if self.tracker_id is None else self.tracker_id[mask],
            landmarks=None if self.landmarks is None else self.landmarks[mask],
            data={k: v[mask] for k, v in self.data.items()},
        )

    def with_data(self, **columns: np.ndarray) -> Detections:
        return replace(self, data={**self.data, **columns})

    def with_tracker_id(self, tracker_id: np.ndarray) -> Detections:
        return replace(self, tracker_id=tracker_id, data=dict(self.data))

    @property
    def foot_points(self) -> np.ndarray:
        """(N, 2) bottom-centre of each box: where a standing person touches the floor."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)

    @property
    def centers(self) -> np.ndarray:
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2], axis=1)

    @property
    def widths(self) -> np.ndarray:
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def heights(self) -> np.ndarray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]
