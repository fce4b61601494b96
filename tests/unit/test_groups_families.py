"""Groups: arrivals close in time and space; a group with a child is a family visit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_agent.analytics.groups import GroupDetector, GroupResult

NAN = math.nan


@pytest.mark.parametrize(
    ("name", "arrivals", "ages", "expected"),
    [
        # arrivals: (visitor, t seconds, x metres); ages: visitor -> voted age (NaN = unknown)
        ("two adults together", [(1, 0, 0), (2, 1, 1)], {1: 35, 2: 33}, [GroupResult(2, False)]),
        ("parent and child", [(1, 0, 0), (2, 2, 0.5)], {1: 38, 2: 8}, [GroupResult(2, True)]),
        ("same time, far apart", [(1, 0, 0), (2, 1, 9)], {1: 30, 2: 9}, [GroupResult(1, False), GroupResult(1, True)]),
        ("same place, minutes apart", [(1, 0, 0), (2, 60, 0)], {1: 30, 2: 30},
         [GroupResult(1, False), GroupResult(1, False)]),
        ("a chain of arrivals is one group", [(1, 0, 0), (2, 3, 1.5), (3, 6, 3)], {1: 40, 2: 41, 3: NAN},
         [GroupResult(3, False)]),
        ("unknown ages are not children", [(1, 0, 0), (2, 1, 1)], {1: NAN, 2: NAN}, [GroupResult(2, False)]),
        ("13 is not a child", [(1, 0, 0), (2, 1, 1)], {1: 40, 2: 13.0}, [GroupResult(2, False)]),
    ],
)
def test_groups(name: str, arrivals: list, ages: dict, expected: list[GroupResult]) -> None:
    groups = GroupDetector(gap_s=4, distance_m=2, child_age=13)
    for vid, t, x in arrivals:
        groups.arrive(vid, t, np.array([x, 0.0]))
    results = []
    for vid, age in ages.items():
        results += groups.close(vid, age, staff=False, now=1000)
    assert sorted(results, key=lambda r: (r.size, r.family)) == sorted(expected, key=lambda r: (r.size, r.family)), name


def test_group_waits_for_every_member_to_close() -> None:
    groups = GroupDetector(gap_s=4, distance_m=2, child_age=13)
    groups.arrive(1, 0, np.zeros(2))
    groups.arrive(2, 1, np.zeros(2))
    assert groups.close(1, 40, staff=False, now=100) == []
    assert groups.close(2, 6, staff=False, now=100) == [GroupResult(2, True)]


def test_staff_members_do_not_make_a_group() -> None:
    groups = GroupDetector(gap_s=4, distance_m=2, child_age=13)
    groups.arrive(1, 0, np.zeros(2))
    groups.arrive(2, 1, np.zeros(2))
    groups.close(1, 30, staff=True, now=100)
    assert groups.close(2, 30, staff=False, now=100) == [GroupResult(1, False)]


def test_flush_judges_open_groups() -> None:
    groups = GroupDetector(gap_s=4, distance_m=2, child_age=13)
    groups.arrive(1, 0, np.zeros(2))
    groups.arrive(2, 1, np.zeros(2))
    groups.close(1, 9, staff=False, now=2)
    assert groups.flush(now=3) == [GroupResult(2, True)]
