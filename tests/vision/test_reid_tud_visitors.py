"""Unique visitors on TUD-Campus (8 people in the ground truth) through the whole camera pipeline:
every tracked person ends up a counted visitor (short tracks too, decided while still pending), and
re-ID joins no two people's tracks. Everyone here is in view together, so the busy rule keeps re-ID
from merging anyone; the separation itself is tested on ground-truth crops (test_reid_tud_separation)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from edge_agent.pipeline import CameraPipeline
from edge_agent.sources import FileSource
from edge_agent.tracking.evaluate import _iou_distance, load_mot_gt
from storelens.config import parse_config
from storelens.config.sources import CameraConfig

pytestmark = pytest.mark.vision


def test_tud_campus_counts_each_tracked_person_once(models_cfg, media_dir) -> None:
    cfg = parse_config({"edge": {"pipeline": {"faces": False}}}).model_copy(update={"models": models_cfg})
    camera = CameraConfig(id="cam1", url=str(media_dir / "video" / "TUD-Campus.mp4"),
                          start_time=datetime(2024, 5, 1, 9, tzinfo=UTC))
    gt = load_mot_gt(media_dir / "gt" / "TUD-Campus.gt.txt")
    pipeline = CameraPipeline.from_config(cfg, camera)
    person: dict[int, Counter] = {}  # track -> ground-truth ids it overlapped (IoU >= 0.5)
    visitor: dict[int, int] = {}  # track -> its final visitor
    for index, frame in enumerate(FileSource(camera), start=1):
        pipeline.process(frame)
        tracks = pipeline.last_tracks
        ids, boxes = gt.get(index, (np.zeros(0, int), np.zeros((0, 4))))
        dist = _iou_distance(boxes, tracks.xyxy)
        for col, (track, vid) in enumerate(zip(tracks.tracker_id.tolist(), tracks.data["visitor"].tolist(),
                                               strict=True)):
            hit = np.isfinite(dist[:, col]) if len(ids) else np.zeros(0, bool)
            if hit.any():
                person.setdefault(track, Counter())[int(ids[np.nanargmin(dist[:, col])])] += 1
            visitor[track] = vid
    unique = sum(w.unique_visitors for w in pipeline.flush())
    owners: dict[int, set[int]] = {}
    for track, vid in visitor.items():
        if track in person:
            owners.setdefault(vid, set()).add(person[track].most_common(1)[0][0])
    print(f"TUD-Campus: {unique} unique visitors from {len(visitor)} tracks; visitor -> people {owners}")
    # Measured: 7 visitors from 7 tracks (one tracker id switch joins two people in one track; no re-ID merge).
    assert all(len(people) == 1 for people in owners.values())  # re-ID never joined two people's tracks
    assert -1 not in owners and unique == len(owners)  # every track got a visitor, each counted once
    assert len(set().union(*owners.values())) >= 7
