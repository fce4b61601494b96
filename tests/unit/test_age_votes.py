"""The per-visitor age vote: faces weighted by their interval and quality; the visitor's interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_agent.tracking.faces import (
    FALLBACK_HALF_WIDTH,
    SHARED_ERROR_FRACTION,
    AgeVotes,
    combine,
    face_half_widths,
)
from edge_agent.types import Detections

HEAD = [118, 105, 142, 135]  # a face in the head of the one person below
PERSON = Detections(xyxy=np.array([[100, 100, 160, 300]], float), data={"visitor": np.array([7])})


def _face(age: float, low: float, high: float, quality: float | None = None) -> Detections:
    data = {"age": np.array([age]), "age_low": np.array([low]), "age_high": np.array([high])}
    if quality is not None:
        data["quality"] = np.array([quality])
    return Detections(xyxy=np.array([HEAD], float), data=data)


@pytest.mark.parametrize(
    ("name", "faces", "expected_age"),
    [
        ("equal faces: the plain mean", [(30, 25, 35, None), (40, 35, 45, None)], 35.0),
        # half-widths 2 and 8 years: weights 1/4 and 1/64, so 16:1
        ("a sure face outweighs an unsure one", [(30, 28, 32, None), (50, 42, 58, None)], (16 * 30 + 50) / 17),
        # same interval, quality 1.0 vs 0.5: half-widths 5 and 10, weights 4:1
        ("a poor face counts less", [(20, 15, 25, 1.0), (40, 35, 45, 0.5)], (4 * 20 + 40) / 5),
        ("quality is floored at 0.25, so no face is ignored", [(20, 15, 25, 1.0), (40, 35, 45, 0.0)],
         (16 * 20 + 40) / 17),
        ("a gated face (NaN age) does not vote", [(30, 25, 35, None), (math.nan, math.nan, math.nan, None)], 30.0),
        ("identical ages stay exact (no float drift into the bin below)", [(36, 26, 46, None)] * 7, 36.0),
    ],
)
def test_vote_weights(name, faces, expected_age):
    votes = AgeVotes()
    for face in faces:
        out = votes.update(PERSON, _face(*face))
    assert out.data["age"][0] == pytest.approx(expected_age), name
    assert votes.estimate(7).faces == sum(not math.isnan(f[0]) for f in faces)


@pytest.mark.parametrize(
    ("shared", "k", "factor"),
    [
        (0.0, 4, 0.5),  # independent errors: the interval shrinks with sqrt(k)
        (1.0, 4, 1.0),  # one error shared by all faces: more faces do not help
        (0.85, 1, 1.0),  # one face: its own interval
        (0.85, 9, math.sqrt(0.85 + 0.15 / 9)),
    ],
)
def test_visitor_interval_keeps_the_shared_error(shared, k, factor):
    v = combine(np.full(k, 40.0), np.full(k, 6.0), shared)
    assert v.age == pytest.approx(40.0) and v.faces == k
    assert (v.high - v.age) == pytest.approx(6.0 * factor, rel=1e-4)
    assert (v.age - v.low) == pytest.approx(6.0 * factor, rel=1e-4)


def test_visitor_interval_shrinks_with_every_good_face_but_not_below_the_shared_part():
    widths = [combine(np.full(k, 30.0), np.full(k, 5.0)).high - 30.0 for k in range(1, 12)]
    assert all(b < a for a, b in zip(widths, widths[1:], strict=False))
    assert widths[-1] > 5.0 * math.sqrt(SHARED_ERROR_FRACTION)


def test_a_much_poorer_face_barely_moves_the_vote():
    alone = combine(np.array([30.0]), np.array([3.0]))
    v = combine(np.array([30.0, 50.0]), np.array([3.0, 12.0]))
    assert v.age == pytest.approx(30.0 + 20.0 / 17)  # weights 16:1
    assert v.high - v.age < 1.2 * (alone.high - alone.age)


def test_child_interval_is_clipped_at_zero():
    v = combine(np.array([2.0]), np.array([4.0]))
    assert v.low == 0.0 and v.high == pytest.approx(6.0)


def test_half_widths_come_from_the_interval_and_quality_or_a_fallback():
    faces = Detections(
        xyxy=np.zeros((3, 4)),
        data={"age": np.array([30.0, 30.0, 30.0]), "age_low": np.array([26.0, 20.0, np.nan]),
              "age_high": np.array([34.0, 40.0, np.nan]), "quality": np.array([1.0, 0.5, 1.0])},
    )
    np.testing.assert_allclose(face_half_widths(faces), [4.0, 20.0, FALLBACK_HALF_WIDTH])
    bare = Detections(xyxy=np.zeros((2, 4)), data={"age": np.array([30.0, 40.0])})  # e.g. an older stage
    np.testing.assert_allclose(face_half_widths(bare), [FALLBACK_HALF_WIDTH] * 2)


def test_persons_carry_the_visitor_interval_and_pop_ends_the_vote():
    votes = AgeVotes()
    out = votes.update(PERSON, _face(33.0, 29.0, 37.0))
    assert (out.data["age_low"][0], out.data["age"][0], out.data["age_high"][0]) == pytest.approx((29.0, 33.0, 37.0))
    assert votes.pop(7) == pytest.approx(33.0) and math.isnan(votes.age_of(7))
    assert votes.estimate(7).faces == 0


def test_shared_fraction_must_be_a_fraction():
    with pytest.raises(ValueError, match="shared_error_fraction"):
        AgeVotes(1.5)


UNDECIDED = Detections(xyxy=np.array([[100, 100, 160, 300]], float), data={"visitor": np.array([-1])})
STRANGER = Detections(xyxy=np.array([[400, 400, 410, 410]], float))  # a face in nobody's head


@pytest.mark.parametrize(("persons", "votes_before", "max_faces", "expected"), [
    ("decided", 0, 8, True),
    ("decided", 7, 8, True),
    ("decided", 8, 8, False),  # the vote is settled: no more age-model runs for this visitor
    ("decided", 50, 0, True),  # 0 = no limit
    ("undecided", 0, 8, False),  # re-ID has not decided who this is: the age could never be voted
])
def test_age_is_wanted_only_where_it_can_still_move_a_vote(persons, votes_before, max_faces, expected) -> None:
    votes = AgeVotes()
    for _ in range(votes_before):
        votes.update(PERSON, _face(30, 25, 35))
    people = PERSON if persons == "decided" else UNDECIDED
    assert votes.wanted(people, _face(30, 25, 35), max_faces).tolist() == [expected]


def test_a_face_outside_every_person_is_never_wanted() -> None:
    assert AgeVotes().wanted(PERSON, STRANGER, 8).tolist() == [False]


def test_a_skipped_age_is_not_counted_as_a_low_quality_face() -> None:
    """Faces that passed the gate but got no age because the vote was settled are not 'low quality'."""
    votes = AgeVotes()
    face = _face(math.nan, math.nan, math.nan)
    face = face.with_data(quality_ok=np.array([True]))
    votes.update(PERSON, face)
    gated = _face(math.nan, math.nan, math.nan).with_data(quality_ok=np.array([False]))
    votes.update(PERSON, gated)
    assert votes.take_face_counts() == (2, 1)
