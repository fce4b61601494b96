"""Re-ID gallery and identity stage: returning visitors count once, TTL, busy visitors, store level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edge_agent.tracking.gallery import ReidGallery
from edge_agent.tracking.identity import VisitorIdentity
from edge_agent.types import Detections
from storelens.config.tracking import ReidConfig


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


FRONT, SIDE, BACK, STRANGER = _unit(1, 0, 0), _unit(1, 1, 0), _unit(0, 1, 0), _unit(0, 0, 1)  # FRONT.SIDE 0.71


@pytest.mark.parametrize(
    ("name", "max_prototypes", "query", "same"),
    [
        ("entry view still known after the visitor turned", 3, FRONT, True),
        ("the turned view is known too", 3, BACK, True),
        ("one prototype forgets the entry view", 1, FRONT, False),
        ("a stranger is new", 3, STRANGER, False),
    ],
)
def test_prototypes_keep_each_tracks_view(name: str, max_prototypes: int, query, same: bool) -> None:
    gallery = ReidGallery(ttl_s=600, match_threshold=0.65, max_prototypes=max_prototypes)
    vid, _ = gallery.assign("cam1", 1, FRONT, now=0)
    gallery.release("cam1", 1, vid, now=1)
    again, _ = gallery.assign("cam1", 2, SIDE, now=2)  # returns, seen from the side
    gallery.update(again, "cam1", 2, BACK, now=3, weight=1.0)  # ...and then walks away from the camera
    gallery.release("cam1", 2, again, now=4)
    third, is_new = gallery.assign("cam1", 3, query, now=5)
    assert again == vid and (third == vid) is same and is_new is not same, name


def test_reserved_id_is_withdrawn_when_the_track_matches_someone() -> None:
    gallery = ReidGallery(ttl_s=600, match_threshold=0.65)
    alice, _ = gallery.assign("cam1", 1, ALICE, now=0)
    gallery.release("cam1", 1, alice, now=1)
    tentative = gallery.reserve("cam1", 2, now=2)
    assert gallery.assign("cam1", 3, ALICE, now=2) == (alice, False)  # someone free matches, not the reserved id
    gallery.release("cam1", 3, alice, now=2)
    assert gallery.assign("cam1", 2, ALICE_LATER, now=3, reserved=tentative) == (alice, False)
    assert not gallery.knows(tentative)
    kept = gallery.reserve("cam1", 4, now=4)
    assert gallery.assign("cam1", 4, BOB, now=5, reserved=kept) == (kept, True)


class _ScriptedEmbedder:
    """Stands in for the ONNX model (tests the bookkeeping only): hands out the given vectors in order."""

    def __init__(self, *vectors: np.ndarray) -> None:
        self._vectors = list(vectors)
        self.crops = 0

    def embed(self, frame, xyxy):
        self.crops += len(xyxy)
        return np.stack([self._vectors.pop(0) if self._vectors else ALICE for _ in range(len(xyxy))])


FRAME = np.zeros((500, 1000, 3), np.uint8)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _tracks(*rows: tuple[int, float, float]) -> Detections:
    """(track id, x1, height) rows; boxes 40 px wide, 10 px below the frame's top edge."""
    return Detections(xyxy=np.array([[x, 10, x + 40, 10 + h] for _, x, h in rows], float).reshape(-1, 4),
                      tracker_id=np.array([t for t, _, _ in rows]))


def _run(ident: VisitorIdentity, frames: list[Detections], start_s: float = 0) -> list[Detections]:
    return [ident.update(FRAME, f, T0 + timedelta(seconds=start_s + i)) for i, f in enumerate(frames)]


@pytest.mark.parametrize(
    ("name", "k", "every", "box", "decided_at", "crops"),
    [
        ("decides on its k-th usable crop", 3, 2, (1, 100, 100), 4, 3),
        ("k=1 decides at once", 1, 2, (1, 100, 100), 0, 1),
        ("every frame while pending", 3, 1, (1, 100, 100), 2, 3),
        ("too short: waits out the deadline, no crop", 3, 2, (1, 100, 20), 9, 0),
        ("cut by the frame's left edge: never embedded", 3, 2, (1, 0, 100), 9, 0),
        ("squat box (not a standing person): never embedded", 3, 2, (1, 100, 50), 9, 0),
    ],
)
def test_new_track_decides_after_k_usable_crops(name, k, every, box, decided_at, crops) -> None:
    cfg = ReidConfig(embeddings_to_decide=k, pending_every_frames=every, decide_within_frames=9, embed_every_frames=50)
    embedder = _ScriptedEmbedder()
    ident = VisitorIdentity(cfg, "cam1", ReidGallery(600, 0.65), embedder)
    counted = []
    for i in range(12):
        out = ident.update(FRAME, _tracks(box), T0 + timedelta(seconds=i))
        counted.append(len(ident.new_visitors))
        assert out.data["visitor"][0] >= 1, name  # a tentative id from birth: sightings are kept
    assert counted.index(1) == decided_at and counted[-1] == 1 and embedder.crops == crops, name


def test_returning_visitor_is_matched_on_the_mean_not_the_first_crop() -> None:
    cfg = ReidConfig(embeddings_to_decide=3, pending_every_frames=1, embed_every_frames=50)
    # Track 2's first crop looks like Bob (say, half hidden); its next two are Alice again.
    embedder = _ScriptedEmbedder(ALICE, ALICE, ALICE, BOB, ALICE_LATER, ALICE_LATER)
    ident = VisitorIdentity(cfg, "cam1", ReidGallery(600, 0.65), embedder)
    first = _run(ident, [_tracks((1, 100, 100))] * 3)[-1].data["visitor"][0]
    ident.end((1,), T0 + timedelta(seconds=5))
    outs = _run(ident, [_tracks((2, 120, 100))] * 3, start_s=10)
    tentative = outs[0].data["visitor"][0]
    assert outs[-1].data["visitor"][0] == first and tentative != first
    assert ident.new_visitors == [first]  # counted once; the tentative id was withdrawn, never counted
    assert not ident.gallery.knows(tentative)


def test_identity_refreshes_sparingly_and_busy_visitors_stay_apart() -> None:
    cfg = ReidConfig(embeddings_to_decide=2, pending_every_frames=1, embed_every_frames=5)
    embedder = _ScriptedEmbedder(ALICE, BOB, ALICE, BOB)  # two people side by side, alike or not
    ident = VisitorIdentity(cfg, "cam1", ReidGallery(600, 0.65), embedder)
    outs = _run(ident, [_tracks((1, 100, 100), (2, 400, 100))] * 10)
    assert embedder.crops == 2 * 2 + 2  # two each to decide, then one refresh each at the 5th frame after
    assert len(set(outs[-1].data["visitor"].tolist())) == 2 and len(ident.new_visitors) == 2


def test_track_ending_while_pending_is_decided_and_counted() -> None:
    cfg = ReidConfig(embeddings_to_decide=3, pending_every_frames=2)
    ident = VisitorIdentity(cfg, "cam1", ReidGallery(600, 0.65), _ScriptedEmbedder())
    out = _run(ident, [_tracks((1, 100, 100))] * 2)
    assert ident.new_visitors == []
    ident.end((1,), T0 + timedelta(seconds=3))
    assert ident.new_visitors == [out[-1].data["visitor"][0]] and ident.gallery.knows(ident.new_visitors[0])


def test_a_fragment_may_join_a_visitor_whose_track_is_only_lost() -> None:
    gallery = ReidGallery(ttl_s=600, match_threshold=0.65)
    alice, _ = gallery.assign("cam1", 1, ALICE, now=0)
    gallery.seen("cam1", [(1, alice)], now=5)  # last in view at t=5; track 1 is still in the tracker's buffer
    # A track born at t=6 (after Alice was last seen) may be her; one born at t=4 was beside her: someone else.
    assert gallery.assign("cam1", 2, ALICE_LATER, now=7, since=6) == (alice, False)
    other, is_new = gallery.assign("cam1", 3, ALICE_LATER, now=7, since=4)
    assert is_new and other != alice


def test_identity_splits_a_visitor_seen_twice_in_one_frame() -> None:
    cfg = ReidConfig(embeddings_to_decide=1, pending_every_frames=1, embed_every_frames=50)
    ident = VisitorIdentity(cfg, "cam1", ReidGallery(600, 0.65), _ScriptedEmbedder(ALICE, ALICE_LATER))
    out = _run(ident, [_tracks((1, 100, 100))])  # Alice on track 1
    alice = int(out[0].data["visitor"][0])
    out = _run(ident, [Detections.empty().with_tracker_id(np.zeros(0, np.int64)), _tracks((2, 400, 100))], 1)
    assert int(out[1].data["visitor"][0]) == alice  # track 1 out of view: track 2 (a look-alike) joins Alice
    both = _run(ident, [_tracks((1, 100, 100), (2, 400, 100))], 3)[0]  # ...until both show at once
    assert sorted(both.data["visitor"].tolist())[0] == alice and len(set(both.data["visitor"].tolist())) == 2
    assert len(ident.new_visitors) == 2  # Alice, then the split-off look-alike


@pytest.mark.parametrize(("margin", "same"), [(0.0, True), (0.1, False)])
def test_two_look_alikes_matching_alike_make_a_new_visitor(margin: float, same: bool) -> None:
    gallery = ReidGallery(ttl_s=600, match_threshold=0.6, ambiguity_margin=margin)
    a, _ = gallery.assign("cam1", 1, _unit(1, 0.05, 0), now=0)
    b, _ = gallery.assign("cam1", 2, _unit(1, -0.05, 0), now=0)
    gallery.release("cam1", 1, a, now=1)
    gallery.release("cam1", 2, b, now=1)
    vid, is_new = gallery.assign("cam1", 3, _unit(1, 0, 0), now=2)  # as like one as the other
    assert (vid in (a, b)) is same and is_new is not same
