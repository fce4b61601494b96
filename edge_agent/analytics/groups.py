"""Groups: people who arrive together (close in time and on the floor). A group with a child is a
family visit. Ages are only final when a visit closes, so a group is judged once all its members'
visits have closed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)


@dataclass(eq=False)  # a group is itself: never compare field by field (the points are numpy arrays)
class _Group:
    last_arrival: float
    points: list[np.ndarray] = field(default_factory=list)
    members: set[int] = field(default_factory=set)
    ages: dict[int, float] = field(default_factory=dict)  # closed members -> voted age
    staff: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class GroupResult:
    size: int
    family: bool


class GroupDetector:
    """`arrive(visitor, now, floor_point)` on each entry; `close(visitor, age, staff)` on each visit end."""

    def __init__(self, gap_s: float, distance_m: float, child_age: float) -> None:
        self._gap_s = gap_s
        self._distance_m = distance_m
        self._child_age = child_age
        self._groups: list[_Group] = []

    def arrive(self, visitor: int, now: float, point: np.ndarray) -> None:
        if any(visitor in g.members for g in self._groups):
            return  # a returning visitor stays in the group they came with
        for group in self._groups:
            near = any(np.linalg.norm(point - p) <= self._distance_m for p in group.points)
            if now - group.last_arrival <= self._gap_s and near:
                group.members.add(visitor)
                group.points.append(point)
                group.last_arrival = now
                return
        self._groups.append(_Group(now, [point], {visitor}))

    def close(self, visitor: int, age: float, staff: bool, now: float) -> list[GroupResult]:
        """Record a member's final age; return the groups this completes."""
        for group in self._groups:
            if visitor in group.members:
                group.ages[visitor] = age
                if staff:
                    group.staff.add(visitor)
        return self._complete(now)

    def _complete(self, now: float, force: bool = False) -> list[GroupResult]:
        done, still_open = [], []
        for g in self._groups:
            complete = (force or now - g.last_arrival > self._gap_s) and len(g.ages) == len(g.members)
            (done if complete else still_open).append(g)
        self._groups = still_open
        return [r for r in (self._judge(g) for g in done) if r is not None]

    def _judge(self, group: _Group) -> GroupResult | None:
        customers = [v for v in group.members if v not in group.staff]
        if not customers:
            return None
        ages = [group.ages.get(v, math.nan) for v in customers]
        return GroupResult(len(customers), any(a < self._child_age for a in ages if not math.isnan(a)))

    def flush(self, now: float) -> list[GroupResult]:
        for group in self._groups:
            for v in group.members:
                group.ages.setdefault(v, math.nan)
        return self._complete(now, force=True)
