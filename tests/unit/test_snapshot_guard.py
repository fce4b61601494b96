"""The snapshot's privacy guard on hand-built detections: orientation of heads, and failing closed.

The real-model cases (t1.jpg turned and mirrored, street frames) are tests/vision/test_snapshot_privacy.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.technician import privacy
from edge_agent.technician.privacy import MASK_COLOUR, PrivacyGuard, SnapshotRefused, rotate, unrotate_boxes
from edge_agent.types import Detections

W, H = 300, 200


def _none(_view: np.ndarray) -> Detections:
    return Detections(xyxy=np.zeros((0, 4)), landmarks=np.zeros((0, 5, 2)))


def _frame() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_a_box_found_in_a_turned_view_maps_back_onto_the_frame(k: int) -> None:
    frame = np.zeros((H, W), np.uint8)
    frame[40:90, 200:260] = 255  # x 200..260, y 40..90
    ys, xs = np.nonzero(rotate(frame, k))
    view_box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    assert unrotate_boxes(view_box, k, W, H).round().tolist() == [[200, 40, 260, 90]]


# A person standing in the view turned k quarter turns (box 80 x 160 in that view), as a corridor camera
# mounted on its side sees everyone. Where their head is in the frame: the view's top, turned back.
@pytest.mark.parametrize(("k", "head_side"), [(0, "top"), (1, "right"), (2, "bottom"), (3, "left")])
def test_the_head_of_a_person_standing_in_a_turned_view_is_masked_at_their_top(k: int, head_side: str) -> None:
    def persons(view: np.ndarray) -> Detections:
        if not np.array_equal(view, rotate(frame, k)):
            return _none(view)
        vh, vw = view.shape[:2]
        x1, y1 = vw / 2 - 40, vh / 2 - 80
        return Detections(xyxy=np.array([[x1, y1, x1 + 80, y1 + 160]]), confidence=np.array([0.9]))

    frame = _frame()
    shot = PrivacyGuard(_none, persons).protect(frame)
    box = unrotate_boxes(np.array([[W / 2 - 40, H / 2 - 80, W / 2 + 40, H / 2 + 80]] if k % 2 == 0 else
                                  [[H / 2 - 40, W / 2 - 80, H / 2 + 40, W / 2 + 80]], np.float32), k, W, H)[0]
    x1, y1, x2, y2 = box.astype(int)
    ends = {"top": shot.mask[y1:y1 + 10, x1:x2], "bottom": shot.mask[y2 - 10:y2, x1:x2],
            "left": shot.mask[y1:y2, x1:x1 + 10], "right": shot.mask[y1:y2, x2 - 10:x2]}
    opposite = {"top": "bottom", "bottom": "top", "left": "right", "right": "left"}[head_side]
    assert ends[head_side].all() and not ends[opposite].any()  # the head, not the feet
    assert (shot.image[shot.mask] == MASK_COLOUR).all() and (shot.image[~shot.mask] == frame[~shot.mask]).all()


def test_a_person_lying_across_the_view_has_both_ends_masked() -> None:
    def persons(view: np.ndarray) -> Detections:
        if view.shape[:2] != (H, W):
            return _none(view)
        return Detections(xyxy=np.array([[50, 80, 250, 130]]), confidence=np.array([0.9]))  # wider than tall

    shot = PrivacyGuard(_none, persons).protect(_frame())
    assert shot.mask[100, 55] and shot.mask[100, 245] and not shot.mask[100, 150]


def test_faces_that_keep_appearing_refuse_the_snapshot() -> None:
    rng = np.random.default_rng(1)

    def faces(view: np.ndarray) -> Detections:  # a detector that finds a new face on every look
        vh, vw = view.shape[:2]
        x, y = rng.uniform(0, vw - 20), rng.uniform(0, vh - 20)
        eyes_nose_mouth = [[x + 5, y + 6], [x + 15, y + 6], [x + 10, y + 11], [x + 6, y + 16], [x + 14, y + 16]]
        return Detections(xyxy=np.array([[x, y, x + 20, y + 20]]), confidence=np.array([0.9]),
                          landmarks=np.array([eyes_nose_mouth]))

    with pytest.raises(SnapshotRefused, match=r"^snapshot refused: a face at .* is still detectable after "
                                              r"3 rounds of blurring; nothing written$"):
        PrivacyGuard(faces, _none).protect(_frame())


@pytest.mark.parametrize(("detector", "message"), [
    (lambda _v: (_ for _ in ()).throw(RuntimeError("CUDA out of memory\nstack")),
     "snapshot refused: the person detector failed (RuntimeError: CUDA out of memory); nothing written"),
    (lambda _v: Detections(xyxy=np.array([[np.nan, 0, 10, 10]])),
     "snapshot refused: the person detector returned boxes that are not numbers; nothing written"),
])
def test_a_broken_person_detector_refuses_in_one_line(detector, message: str) -> None:
    with pytest.raises(SnapshotRefused) as refused:
        PrivacyGuard(_none, detector).protect(_frame())
    assert str(refused.value) == message


def test_a_refused_snapshot_writes_nothing_and_says_so_in_one_line(tmp_path, capsys, monkeypatch) -> None:
    from storelens.cli import main

    video = tmp_path / "door.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    for _ in range(10):
        writer.write(_frame())
    writer.release()
    broken = PrivacyGuard(_none, lambda _v: Detections(xyxy=np.array([[np.nan, 0, 10, 10]])))
    monkeypatch.setattr(privacy, "build_privacy_guard", lambda _cfg: broken)
    (tmp_path / "store.yaml").write_text("store_id: t-001\n")
    out = tmp_path / "report.png"
    code = main(["camera", "snapshot", str(video), "--out", str(out), "--config", str(tmp_path / "store.yaml")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and not out.exists() and not list(tmp_path.glob(".*"))
    assert err == ["storelens: error: snapshot refused: the person detector returned boxes that are not numbers; "
                   "nothing written"]
