"""Audit building blocks: MOTChallenge ground truth (flags, bad files), count accuracy, line counts of
ground-truth trajectories, and distractor handling in the tracking score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent.audit.crossings import gt_line_counts
from edge_agent.audit.groundtruth import load_ground_truth
from edge_agent.audit.report import count_accuracy
from edge_agent.audit.scoring import score
from storelens.config.analytics import LineConfig
from storelens.errors import InputError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gt.txt"
    path.write_text(text)
    return path


def test_flags_are_honoured_as_motchallenge_does(tmp_path: Path) -> None:
    gt = load_ground_truth(_write(tmp_path, "\n".join([
        "1,1,10,20,30,60,1,1,1.0",    # pedestrian
        "1,2,50,20,30,60,0,1,1.0",    # conf 0: ignored
        "1,3,90,20,30,60,1,7,0.8",    # static person: a distractor
        "1,4,130,20,30,60,1,3,1.0",   # a car: ignored
        "1,5,170,20,30,60,1,-1,-1",   # class unknown: a pedestrian
        "2,1,12,20,30,60,1,1,1.0",
    ])))
    assert gt.frame(1).ids.tolist() == [1, 5] and gt.identities == {1, 5}
    assert gt.frame(1).distractors.tolist() == [[90, 20, 120, 80]]
    assert gt.frame(2).xyxy.tolist() == [[12, 20, 42, 80]] and gt.last_frame == 2
    assert len(gt.frame(3).ids) == 0  # a frame nobody is in


def test_mot15_world_coordinates_are_not_classes(tmp_path: Path) -> None:
    gt = load_ground_truth(_write(tmp_path, "1,1,10,20,30,60,1,7.5,3.2,0\n1,2,60,20,30,60,1,-1,-1,-1\n"))
    assert gt.frame(1).ids.tolist() == [1, 2]  # 7.5 is a world x, not class 7


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("1,1,10,20,30,60,1\nfoo,bar\n", 2, "fields"),
        ("1,1,10,20,30,60,1\n2,1,ten,20,30,60,1\n", 2, "not a number"),
        ("0,1,10,20,30,60,1\n", 1, "start at 1"),
        ("1,-1,10,20,30,60,1\n", 1, "detection file"),
        ("1,1,10,20,0,60,1\n", 1, "positive"),
        ("1,1,10,20,30,60,1\n1,1,15,20,30,60,1\n", 2, "twice"),
        ("1,1,10,20,30,60,1,1,1\n2,1,10,20,30,60,1\n", 2, "columns"),
        ("1,1,10,20,nan,60,1\n", 1, "finite"),
    ],
)
def test_bad_ground_truth_names_file_and_line(tmp_path: Path, text: str, line: int, why: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_ground_truth(path)
    message = str(err.value)
    assert f"{path}:{line}:" in message and why in message and "\n" not in message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "1,1,10,20,30,60,0,1,1\n"])
def test_ground_truth_without_people_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(InputError, match="no pedestrian boxes"):
        load_ground_truth(_write(tmp_path, text))


def test_missing_or_binary_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_ground_truth(tmp_path / "nope.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InputError, match="cannot read"):
        load_ground_truth(tmp_path / "bin.txt")


@pytest.mark.parametrize(
    ("expected", "counted", "accuracy"),
    [((10, 5), (10, 5), 1.0), ((10, 5), (9, 5), 1 - 1 / 15), ((10, 5), (11, 4), 1 - 2 / 15),
     ((2, 0), (10, 0), 0.0), ((0, 0), (0, 0), 1.0), ((0, 0), (1, 0), 0.0)],
)
def test_count_accuracy(expected, counted, accuracy) -> None:
    assert count_accuracy(*expected, *counted) == pytest.approx(accuracy)


def test_ground_truth_trajectories_go_through_the_product_counter(tmp_path: Path) -> None:
    # Person 1 walks right across x = 100, person 2 walks left across it, person 3 stays left.
    rows = []
    for f in range(1, 11):
        rows += [f"{f},1,{40 + 10 * f - 10},100,20,60,1", f"{f},2,{160 - 10 * f - 10},100,20,60,1",
                 f"{f},3,20,100,20,60,1"]
    gt = load_ground_truth(_write(tmp_path, "\n".join(rows)))
    door = LineConfig(name="door", start=(100, 0), end=(100, 300), in_side="left", band_px=5)
    (tally,) = gt_line_counts(gt, [door])
    assert (tally.entries, tally.exits) == (1, 1)
    (early,) = gt_line_counts(gt, [door], last_frame=3)  # nobody is past the band yet
    assert (early.entries, early.exits) == (0, 0)


def test_a_track_on_a_distractor_is_neither_hit_nor_false_positive(tmp_path: Path) -> None:
    gt = load_ground_truth(_write(tmp_path, "1,1,0,0,20,60,1,1,1\n1,2,100,0,20,60,1,8,1\n"
                                            "2,1,2,0,20,60,1,1,1\n2,2,100,0,20,60,1,8,1\n"))
    person = np.array([[0, 0, 20, 60]], float)
    both = {1: (np.array([7, 9]), np.array([[0, 0, 20, 60], [100, 0, 120, 60]], float)),
            2: (np.array([7, 9]), np.array([[2, 0, 22, 60], [100, 0, 120, 60]], float))}
    only_person = {1: (np.array([7]), person), 2: (np.array([7]), person + [2, 0, 2, 0])}
    s_both, s_person = score(both, gt, 2), score(only_person, gt, 2)
    assert s_both.mota == pytest.approx(1.0) and s_both.mota == s_person.mota
    assert s_both.idf1 == pytest.approx(1.0) and s_both.id_switches == 0 and s_both.gt_ids == 1
