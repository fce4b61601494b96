"""Make a frame safe to write: every face and every person's head masked, in any camera orientation.

A technician's snapshot is the only image storelens writes, so it fails closed:

- Faces are searched at 0/90/180/270 degrees (a corridor-format camera mounted on its side sees faces
  lying down; a flipped image is a rotated one for this purpose), at the detector's own width, at full
  resolution and, for small frames, at twice that, and again inside every small person's box, enlarged.
- People are found at the same four rotations; the view with the best score is the one they stand
  upright in, and there the head is the top of the box: it is masked even when no face was found (a
  profile, the back of a head, a face too small to detect). When the view turned half-way round scores
  nearly as well, both ends are masked; a box wider than tall is nobody standing: both ends again.
- Sure faces (upright landmarks, score >= 0.5, the best view of each) are masked with a margin, every
  other detection (>= 0.25) with its own box. Then the masked image is searched again, the same way,
  and what is still found is masked too, for a few rounds: what is written has no detection left at
  that threshold at any rotation. A face still found after that, a person whose head area is not covered, or a detector that
  fails refuses the snapshot (SnapshotRefused, one line) and nothing is written.

Masks are flat grey, not smeared pixels: nothing of a person survives, not even skin or hair colour,
and a smeared head reads to a face detector as one large face.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_agent.detect.yunet import shrink_to_width
from edge_agent.types import Detections
from storelens.errors import StorelensError

log = logging.getLogger(__name__)

FACE_SCORE = 0.25  # far below the pipeline's 0.6: a missed face here is written to disk
SURE_FACE = 0.5  # blurred in the first pass; the rest only if still found once those are blurred
SAME_PERSON_IOU = 0.4  # boxes of one person seen at two quarter turns overlap at least this much
UPSIDE_DOWN_SHARE = 0.8
ENGULF_SHARE, ENGULF_AREA = 0.6, 1.5
ENLARGE_BELOW = 1000  # views at most this wide are also searched at twice their size
MIN_CROP_ZOOM = 1.25  # a person crop not enlarged by this much adds nothing to the full-resolution pass
# A flat grey mask, not a smeared image: nothing of the person survives (not even skin or hair
# colour), and a smeared head reads to a face detector as a large face, which then needs masking too.
MASK_COLOUR = (128, 128, 128)
FACE_MARGIN = 0.25  # each side, of a sure face's box (hair, ears, chin)
LOOSE_MARGIN = 0.05  # of anything else found (its box is already loose)
HEAD_SHARE = 0.2  # of a standing person's box height at least, from its top
HEAD_WIDTHS = 0.6  # ... or this many box widths, whichever is more (short boxes: upper bodies)
HEAD_MAX_SHARE = 0.6
SCRUB_ROUNDS = 3
INSIDE_BLUR = 0.9  # share of a later detection's box already blurred for it to be the blur itself
MIN_HEAD_COVER = 0.95
CROP_LONG_SIDE = 640  # a person crop is enlarged to about this, so small faces become detectable
MAX_CROP_ZOOM = 4.0


class SnapshotRefused(StorelensError):
    """A frame that could not be made safe to write: nothing was written."""


@dataclass(frozen=True)
class Face:
    box: np.ndarray  # frame pixels
    score: float
    upright: bool  # landmarks as in an upright face, in the view it was found in

    @property
    def sure(self) -> bool:
        return self.upright and self.score >= SURE_FACE

    def moved(self, scale: float, dx: float, dy: float) -> Face:
        """This face in the pixels of the image its view was scaled (by 1/scale) and cut (at dx, dy) from."""
        return Face(self.box * scale + np.array([dx, dy, dx, dy], np.float32), self.score, self.upright)


@dataclass(frozen=True)
class Person:
    view_box: np.ndarray  # in the view turned k quarter turns, where the detector saw them
    k: int
    box: np.ndarray  # in frame pixels
    score: float


@dataclass
class Protected:
    """The safe image and what was blurred, in frame pixels (x1, y1, x2, y2)."""

    image: np.ndarray
    mask: np.ndarray  # True where the image was blurred
    faces: list[np.ndarray] = field(default_factory=list)  # every detection (several per face)
    heads: list[np.ndarray] = field(default_factory=list)
    person_boxes: list[np.ndarray] = field(default_factory=list)
    regions: list[np.ndarray] = field(default_factory=list)  # every blurred rectangle
    rounds: int = 0

    @property
    def persons(self) -> int:
        return len(distinct(self.person_boxes))

    @property
    def face_count(self) -> int:
        return len(distinct(self.faces))


def distinct(boxes: list[np.ndarray], overlap: float = 0.5) -> list[np.ndarray]:
    """One box per object: a box mostly inside a larger kept one is the same object seen again."""
    kept: list[np.ndarray] = []
    for box in sorted(boxes, key=lambda b: -float((b[2] - b[0]) * (b[3] - b[1]))):
        area = max(1e-6, float((box[2] - box[0]) * (box[3] - box[1])))
        if not any(_intersection(box, k) / area >= overlap for k in kept):
            kept.append(box)
    return kept


def _area(box: np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def _engulfs(big: Person, small: Person) -> bool:
    """`big`, seen at another quarter turn, holds most of `small` and is much larger."""
    return (big.k != small.k and _area(big.box) > ENGULF_AREA * _area(small.box)
            and _intersection(big.box, small.box) >= ENGULF_SHARE * _area(small.box))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = _intersection(a, b)
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


def _intersection(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return float(max(0.0, w) * max(0.0, h))


def rotate(image: np.ndarray, k: int) -> np.ndarray:
    """The image turned k quarter turns counter-clockwise (numpy's rot90)."""
    return np.ascontiguousarray(np.rot90(image, k))


def unrotate_boxes(xyxy: np.ndarray, k: int, width: int, height: int) -> np.ndarray:
    """Boxes found in rotate(image, k) in the pixels of `image` (width x height)."""
    if len(xyxy) == 0 or k % 4 == 0:
        return np.asarray(xyxy, np.float32).reshape(-1, 4)
    corners = np.stack([xyxy[:, [0, 1]], xyxy[:, [2, 1]], xyxy[:, [0, 3]], xyxy[:, [2, 3]]], axis=1)
    x, y = corners[..., 0], corners[..., 1]
    mapped = {1: (width - y, x), 2: (width - x, height - y), 3: (y, height - x)}[k % 4]
    xs, ys = mapped
    return np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1).astype(np.float32)


def head_regions(box: np.ndarray) -> list[np.ndarray]:
    """Where the head of a person boxed in an upright view is: the top of the box (with a margin
    above, as boxes often clip the crown). A wide box is nobody upright: both ends of its long side."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    if h >= w:
        length = min(max(HEAD_SHARE * h, HEAD_WIDTHS * w), HEAD_MAX_SHARE * h)
        return [np.array([x1 - 0.1 * w, y1 - 0.1 * h, x2 + 0.1 * w, y1 + length], np.float32)]
    length = min(max(HEAD_SHARE * w, HEAD_WIDTHS * h), HEAD_MAX_SHARE * w)
    return [np.array([x1 - 0.1 * w, y1 - 0.1 * h, x1 + length, y2 + 0.1 * h], np.float32),
            np.array([x2 - length, y1 - 0.1 * h, x2 + 0.1 * w, y2 + 0.1 * h], np.float32)]


def upright_landmarks(box: np.ndarray, points: np.ndarray) -> bool:
    """Eyes above the nose above the mouth, eyes apart, all inside the box: a face upright in this view."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    eyes, nose, mouth = points[:2], points[2], points[3:5]
    inside = bool(((points[:, 0] >= x1 - 0.1 * w) & (points[:, 0] <= x2 + 0.1 * w)
                   & (points[:, 1] >= y1 - 0.1 * h) & (points[:, 1] <= y2 + 0.1 * h)).all())
    ordered = eyes[:, 1].max() < nose[1] < mouth[:, 1].min()
    apart = abs(eyes[0, 0] - eyes[1, 0]) >= 0.2 * w and abs(mouth[0, 0] - mouth[1, 0]) >= 0.1 * w
    return inside and bool(ordered) and bool(apart)


def best_views(faces: list[Face]) -> list[Face]:
    """One detection per face: the best-scoring view (upright, at the right scale); the others are
    echoes of it, usually larger, and mostly vanish once it is masked."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -f.score):
        if not any(_intersection(face.box, k.box) >= 0.5 * min(_area(face.box), _area(k.box)) for k in kept):
            kept.append(face)
    return kept


def widen(box: np.ndarray, margin: float) -> np.ndarray:
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return np.array([x1 - mx, y1 - my, x2 + mx, y2 + my], np.float32)


def clip(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    return (int(np.floor(max(0, x1))), int(np.floor(max(0, y1))),
            int(np.ceil(min(width, x2))), int(np.ceil(min(height, y2))))


def blur_region(image: np.ndarray, mask: np.ndarray, box: np.ndarray) -> bool:
    """Pixelate then smooth `box` of `image` in place and mark it in `mask`; False if it is empty."""
    h, w = image.shape[:2]
    a, b, c, d = clip(box, w, h)
    if c - a < 1 or d - b < 1:
        return False
    image[b:d, a:c] = MASK_COLOUR
    mask[b:d, a:c] = True
    return True


def _run(detector, view: np.ndarray, what: str) -> Detections:
    """A detector's answer, or a refusal: a snapshot never goes out on a detector that failed."""
    try:
        found = detector(view)
    except Exception as exc:  # noqa: BLE001  (whatever broke, the frame is not known to be safe)
        raise SnapshotRefused(f"snapshot refused: the {what} detector failed ({exc.__class__.__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); nothing written") from None
    if len(found) and not np.isfinite(found.xyxy).all():
        raise SnapshotRefused(f"snapshot refused: the {what} detector returned boxes that are not numbers; "
                              "nothing written")
    return found


class PrivacyGuard:
    """face_detector and person_detector: frame -> Detections (the product's, built with low thresholds)."""

    def __init__(self, face_detector, person_detector, *, face_width: int = 640) -> None:
        self.faces = face_detector
        self.persons = person_detector
        self.face_width = face_width

    def protect(self, frame: np.ndarray) -> Protected:
        """A blurred copy of `frame`; SnapshotRefused if it cannot be made safe."""
        result = Protected(frame.copy(), np.zeros(frame.shape[:2], bool))
        people = self.find_people(frame)
        result.person_boxes = [p.box for p in people]
        result.heads = [r for person in people for r in self._heads_in_frame(person, frame)]
        for head in result.heads:
            self._blur(result, head)
        # Sure faces first: once blurred, the weaker echoes of the same face in turned views are gone
        # too, and the low-threshold rounds below only meet what is really left.
        found = self.find_faces(frame, result.person_boxes)
        best = best_views([f for f in found if f.sure])
        for face in best:
            result.faces.append(face.box)
            self._blur(result, widen(face.box, FACE_MARGIN))
        for face in (f for f in found if not any(f is b for b in best)):
            self._blur(result, widen(face.box, LOOSE_MARGIN))  # echoes and weak ones: their own box
        self.settle(result)
        self._check_heads(result)
        return result

    # --- finding -------------------------------------------------------------------------------

    def find_people(self, frame: np.ndarray) -> list[Person]:
        """People seen at any quarter turn, in the view where each stands upright.

        One person is usually seen at several turns; the view with the highest score is the one where
        they stand (the detector learned upright people). The view turned half-way round from it is
        kept too when it scores nearly as well: then it is unclear which end the head is.
        """
        h, w = frame.shape[:2]
        seen = []
        for k in range(4):
            found = _run(self.persons, rotate(frame, k), "person")
            view = found.xyxy.astype(np.float32)
            seen += [Person(v, k, f, float(c)) for v, f, c in
                     zip(view, unrotate_boxes(view, k, w, h), found.confidence, strict=True)]
        seen.sort(key=lambda p: -p.score)
        people: list[Person] = []
        for person in seen:
            if any(_engulfs(person, p) for p in people):
                continue  # a crowd, or people lying down, boxed as one blob in a turned view
            same = [p for p in people if _iou(p.box, person.box) >= SAME_PERSON_IOU]
            if not same:
                people.append(person)
            elif all(p.k == (person.k + 2) % 4 and person.score >= UPSIDE_DOWN_SHARE * p.score for p in same):
                people.append(person)  # upright or upside down: blur both ends
        return people

    def find_faces(self, image: np.ndarray, person_boxes: list[np.ndarray], crops: bool = True) -> list[Face]:
        """Faces (frame pixels) in the whole image at several scales and in every small person's box
        enlarged, each at four rotations."""
        h, w = image.shape[:2]
        boxes = self._faces_rotated(image, whole=True)
        for crop_box in (widen(box, 0.2) for box in person_boxes if crops):
            a, b, c, d = clip(crop_box, w, h)
            if c - a < 8 or d - b < 8:
                continue
            zoom = min(MAX_CROP_ZOOM, CROP_LONG_SIDE / max(c - a, d - b))
            if zoom < MIN_CROP_ZOOM:
                continue
            crop = cv2.resize(image[b:d, a:c], None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
            boxes += [f.moved(1 / zoom, a, b) for f in self._faces_rotated(crop)]
        return boxes

    def _faces_rotated(self, image: np.ndarray, whole: bool = False) -> list[Face]:
        """Faces in each quarter-turned view of `image`, in its pixels. A whole frame's views are also
        searched shrunk to the detector's own width (exactly as the detector shrinks a frame: large
        faces are found best small) and, when small, enlarged twice (small faces found best large).

        One whose landmarks do not sit as in an upright face in its view (an echo of a face seen turned,
        or a pattern) is not sure: masked with its own box, not the wide margin of a sure face."""
        h, w = image.shape[:2]
        boxes = []
        for k in range(4):
            view = rotate(image, k)
            for scaled, factor in self._scalings(view, whole):
                found = _run(self.faces, scaled, "face")
                upright = [upright_landmarks(found.xyxy[i], found.landmarks[i]) if found.landmarks is not None else True
                           for i in range(len(found))]
                in_image = unrotate_boxes(found.xyxy * factor, k, w, h)
                boxes += [Face(box, float(c), ok) for box, c, ok in
                          zip(in_image, found.confidence, upright, strict=True)]
        return boxes

    def _scalings(self, view: np.ndarray, whole: bool) -> list[tuple[np.ndarray, float]]:
        """(image, factor from its pixels to the view's) to search."""
        out = [(view, 1.0)]
        if whole and view.shape[1] > self.face_width:
            out.append(shrink_to_width(view, self.face_width))
        if whole and view.shape[1] <= ENLARGE_BELOW:
            out.append((cv2.resize(view, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC), 0.5))
        return out

    # --- blurring and checking -----------------------------------------------------------------

    def _heads_in_frame(self, person: Person, frame: np.ndarray) -> list[np.ndarray]:
        """The head regions of a person, found in their view, in frame pixels."""
        h, w = frame.shape[:2]
        return list(unrotate_boxes(np.stack(head_regions(person.view_box)), person.k, w, h))

    def _blur(self, result: Protected, box: np.ndarray) -> None:
        if blur_region(result.image, result.mask, box):
            result.regions.append(box)

    def settle(self, result: Protected, crops: bool = True) -> None:
        """Search result.image again at the low threshold; blur what is still found; refuse if faces
        survive. Run once more (crops=False) on the finished image, layout drawn: that is what is written."""
        for round_ in range(1, SCRUB_ROUNDS + 1):
            left = self._outside_blur(result, self.find_faces(result.image, result.person_boxes, crops))
            if not left:
                return
            result.rounds += 1
            log.info("snapshot: %d face detection(s) left after blurring (round %d): blurring them too", len(left), round_)
            for face in left:
                result.faces.append(face.box)
                self._blur(result, widen(face.box, FACE_MARGIN if face.sure else LOOSE_MARGIN))
        left = self._outside_blur(result, self.find_faces(result.image, result.person_boxes, crops))
        if left:
            x1, y1, x2, y2 = (int(v) for v in left[0].box)
            raise SnapshotRefused(f"snapshot refused: a face at ({x1}, {y1})-({x2}, {y2}) is still detectable after "
                                  f"{SCRUB_ROUNDS} rounds of blurring; nothing written")

    def _outside_blur(self, result: Protected, faces: list[Face]) -> list[Face]:
        """Faces not already inside blur: a detection within blurred pixels is the detector reading a
        face into a few colours' gradient, and blurring it again would only spread the blur."""
        h, w = result.mask.shape
        left = []
        for face in faces:
            a, b, c, d = clip(face.box, w, h)
            if c - a < 1 or d - b < 1 or result.mask[b:d, a:c].mean() < INSIDE_BLUR:
                left.append(face)
        return left

    def _check_heads(self, result: Protected) -> None:
        """Every visible part of every head region is blurred, or nothing is written."""
        h, w = result.mask.shape
        for head in result.heads:
            a, b, c, d = clip(head, w, h)
            if c - a < 1 or d - b < 1:
                continue  # the head lies outside the frame: nothing of it is in the image
            cover = float(result.mask[b:d, a:c].mean())
            if cover < MIN_HEAD_COVER:
                raise SnapshotRefused(f"snapshot refused: a person's head at ({a}, {b})-({c}, {d}) could not be "
                                      f"blurred ({cover:.0%} covered); nothing written")


def build_privacy_guard(cfg) -> PrivacyGuard:
    """The product's own face and person detectors with the snapshot's low thresholds (and faces looked
    for at full resolution); a missing or corrupt model fails here, before any frame is taken."""
    from edge_agent.detect.faces import build_face_detector
    from edge_agent.detect.persons import build_person_detector

    faces = cfg.edge.faces
    face_update = {"score_threshold": min(faces.score_threshold, FACE_SCORE)}
    if hasattr(faces, "input_width"):
        face_update["input_width"] = 4096  # the guard chooses the scales itself
    persons = cfg.edge.persons  # at its own threshold: lower, it boxes groups and shadows
    person_update = {"colour_descriptors": False}
    return PrivacyGuard(build_face_detector(faces.model_copy(update=face_update), cfg.models),
                        build_person_detector(persons.model_copy(update=person_update), cfg.models),
                        face_width=getattr(faces, "input_width", 640))
