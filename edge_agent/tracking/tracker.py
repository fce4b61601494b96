"""Multi-object tracking stage, backend chosen by `edge.tracking.type`.

'appearance' (default): our ByteTrack with a colour gate and lost-track recovery (bytetrack.py).
'bytetrack': roboflow's motion-only ByteTrack from the `trackers` package (supervision >= 0.27
moved its ByteTrack there; ids are allocated per tracker instance). Our Detections are converted
to sv.Detections only here, at the boundary, with a row index riding along so every column of
ours is kept.
"""

from __future__ import annotations

import logging

import numpy as np

from edge_agent.types import Detections
from storelens.config.tracking import TrackingConfig

log = logging.getLogger(__name__)


class PersonTracker:
    """`update(detections) -> detections` with `tracker_id` set; unconfirmed rows are dropped."""

    def __init__(self, cfg: TrackingConfig) -> None:
        from edge_agent.tracking.bytetrack import AppearanceByteTrack

        self._impl = AppearanceByteTrack(cfg) if cfg.type == "appearance" else RoboflowByteTrack(cfg)

    def update(self, detections: Detections) -> Detections:
        return self._impl.update(detections)


class RoboflowByteTrack:
    """roboflow `trackers` ByteTrack behind our Detections."""

    def __init__(self, cfg: TrackingConfig) -> None:
        from trackers import ByteTrackTracker

        self._tracker = ByteTrackTracker(
            lost_track_buffer=cfg.track_buffer_frames,
            frame_rate=30.0,  # the library counts its buffer in 30 fps frames; ours is in frames
            track_activation_threshold=cfg.activation_threshold,
            minimum_consecutive_frames=cfg.min_consecutive_frames,
            minimum_iou_threshold=cfg.min_iou,
            high_conf_det_threshold=cfg.high_conf_threshold,
        )

    def update(self, detections: Detections) -> Detections:
        import supervision as sv

        rows = np.arange(len(detections))
        sv_dets = sv.Detections(
            xyxy=detections.xyxy.astype(np.float32).reshape(-1, 4),
            confidence=detections.confidence,
            class_id=detections.class_id,
            data={"row": rows},
        )
        tracked = self._tracker.update(sv_dets)
        if len(tracked) == 0:
            return detections.filter(np.zeros(0, np.int64)).with_tracker_id(np.zeros(0, np.int64))
        ids = np.asarray(tracked.tracker_id, np.int64)
        keep = ids >= 0
        picked = detections.filter(np.asarray(tracked.data["row"])[keep])
        return picked.with_tracker_id(ids[keep])
