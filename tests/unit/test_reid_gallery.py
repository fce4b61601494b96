"""Re-ID gallery and identity stage: returning visitors count once, TTL, busy visitors, store level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edge_agent.tracking.config import ReidConfig
from edge_agent.tracking.gallery import ReidGallery
from edge_agent.tracking.identity import VisitorIdentity
from edge_agent.types import Detections


def _unit(*v: float) -> np.ndarray:
    a = np.asarray(v, np.float32)
    return a / np.linalg.norm(a)


ALICE, BOB = _unit(1, 0, 0), _unit(0, 1, 0)
ALICE_LATER = _unit(0.9, 0.2, 0.1)  # cos 0.97 with ALICE


@pytest.mark.parametrize(
    ("name", "second", "gap_s", "busy", "same"),
    [
        ("returns within the TTL", ALICE_LATER, 60, False, True),
        ("returns after the TTL", ALICE_LATER, 700, False, False),
        ("someone else", BOB, 60, False, False),
        ("look-alike while the first is still in view", ALICE_LATER, 1, True, False),
        ("no vector (crop too small) is always new", None, 60, False, False),
    ],
)
def test_gallery_assignment(name: str, second, gap_s: float, busy: bool, same: bool) -> None:
    gallery = ReidGallery(ttl_s=600, match_threshold=0.7)
    first, new1 = gallery.assign("cam1", 1, ALICE, now=0)
    if not busy:
        gallery.release("cam1", 1, first, now=0)
    vid, new2 = gallery.assign("cam1", 2, second, now=gap_s)
    assert new1 and (vid == first) is same and new2 is not same, name


def test_expiry_forgets_only_idle_visitors() -> None:
    gallery = ReidGallery(ttl_s=10, match_threshold=0.7)
    a, _ = gallery.assign("cam1", 1, ALICE, now=0)
    b, _ = gallery.assign("cam1", 2, BOB, now=0)
    gallery.release("cam1", 1, a, now=0)
    assert gallery.expire(now=100) == [a]  # BOB's track is still live
    assert gallery.knows(b) and not gallery.knows(a)


def test_store_level_gallery_recognises_across_cameras() -> None:
    gallery = ReidGallery(ttl_s=600, match_threshold=0.7)
    vid, _ = gallery.assign("door", 5, ALICE, now=0)
    gallery.release("door", 5, vid, now=10)
    again, is_new = gallery.assign("floor", 1, ALICE_LATER, now=30)
    assert (again, is_new, gallery.owner(again)) == (vid, False, "door")


class _FakeEmbedder:
    """Stands in for the ONNX model: the 'appearance' is the box's x position (tests the bookkeeping only)."""

    def __init__(self) -> None:
        self.crops = 0

    def embed(self, frame, xyxy):
        self.crops += len(xyxy)
        return np.stack([_unit(1, x1 / 100, 0) if x1 < 300 else _unit(0, 1, x1 / 1000) for x1 in xyxy[:, 0]])


def _tracks(*rows: tuple[int, float, float]) -> Detections:
    """(track id, x1, height) rows."""
    return Detections(xyxy=np.array([[x, 0, x + 40, h] for _, x, h in rows], float).reshape(-1, 4),
                      tracker_id=np.array([t for t, _, _ in rows]))


def test_identity_embeds_sparingly_and_reunites_a_returning_track() -> None:
    cfg = ReidConfig(embed_every_frames=5, max_crops_per_frame=8, min_crop_height_px=48, match_threshold=0.9)
    embedder = _FakeEmbedder()
    ident = VisitorIdentity(cfg, "cam1", ReidGallery(600, 0.9), embedder)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    frame = np.zeros((10, 10, 3), np.uint8)
    for i in range(10):
        out = ident.update(frame, _tracks((1, 10, 100), (2, 400, 100)), t0 + timedelta(seconds=i))
    assert embedder.crops == 2 + 2  # on birth, then once more at the 5th frame
    first = out.data["visitor"].tolist()
    ident.end((1,), t0 + timedelta(seconds=10))
    back = ident.update(frame, _tracks((3, 12, 100), (2, 400, 100)), t0 + timedelta(seconds=20))
    assert back.data["visitor"].tolist() == first  # track 3 is visitor of track 1 again
    assert sorted(ident.new_visitors) == sorted(first)


def test_identity_without_usable_crop_waits_then_gives_a_fresh_visitor() -> None:
    cfg = ReidConfig(embed_every_frames=3, min_crop_height_px=48)
    ident = VisitorIdentity(cfg, "cam1", ReidGallery(600, 0.7), _FakeEmbedder())
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    visitors = [ident.update(np.zeros((4, 4, 3), np.uint8), _tracks((1, 10, 20)), t0).data["visitor"][0]
                for _ in range(4)]
    assert visitors[:3] == [-1, -1, -1] and visitors[3] >= 1
