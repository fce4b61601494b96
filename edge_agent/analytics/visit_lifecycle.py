"""The visit lifecycle of one camera, as one stage: from a visitor's decision to the end of the visit.

A visitor counts once, in `unique_visitors` of the window in which the re-ID stage decided they are
new (storelens/wire.py says which window carries what), so the day's visitors rise with its
entries. Their visit (first to last sighting here) closes when the gallery forgets them (TTL) or
at shutdown; the dwell, the voted age, the zones they spent time in and the group they came with
go into the window in which it closes. Only the camera that first decided a visitor (owns them) reports their visit: with a
store-level gallery a visitor walking past three cameras is one visitor.

Staff. A visitor already recognised as staff when decided is never counted. One recognised later
(staff zone, presence limit) is taken back out of `unique_visitors` while the window that counted
them is still open. Once that window has closed it may already be on its way to the cloud, and
counts never go negative, so the arrival stays counted there; their dwell, age and group are
still left out when the visit closes (zone visits too: they wait for the visit's end). The presence limit is minutes long, so a clerk who stays
is counted at most once per gallery identity.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from edge_agent.analytics.groups import GroupDetector, GroupResult
from edge_agent.analytics.scene import FrameResult, ZoneStay
from edge_agent.analytics.visits import Visit, VisitBook
from edge_agent.tracking.faces import AgeVotes
from edge_agent.tracking.gallery import ReidGallery
from edge_agent.types import Detections
from storelens.config.analytics import AnalyticsConfig

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0  # how often (stream time) to look for visitors the gallery forgot; its TTL is minutes


@dataclass
class VisitEvents:
    """What the lifecycle adds to the open window for one frame (or a shutdown)."""

    counted: int = 0  # visitors decided new here: unique_visitors of this window
    uncounted: int = 0  # counted earlier in this same window, now known to be staff
    visits: list[Visit] = field(default_factory=list)  # closed customer visits this camera owns
    groups: list[GroupResult] = field(default_factory=list)
    zone_visits: list[ZoneStay] = field(default_factory=list)  # of visits closed here (any camera's visitor)
    closed: list[int] = field(default_factory=list)  # every visitor whose visit closed here


class VisitLifecycle:
    """`update(...)` per frame and `flush(...)` at shutdown, each returning `VisitEvents`."""

    def __init__(self, cfg: AnalyticsConfig, gallery: ReidGallery, ages: AgeVotes,
                 is_staff: Callable[[int], bool]) -> None:
        self._gallery = gallery
        self._ages = ages
        self._is_staff = is_staff
        self._book = VisitBook()
        self._groups = GroupDetector(cfg.group_gap_s, cfg.group_distance_m, cfg.child_age)
        self._owned: set[int] = set()  # decided new by this camera: it reports their visit
        self._counted_in: dict[int, datetime] = {}  # visitor -> start of the window that counted them
        self._zones: dict[int, list[ZoneStay]] = {}  # visitor -> zone visits waiting for the visit to close
        self._next_check = -math.inf

    def update(self, tracks: Detections, new_visitors: list[int], scene: FrameResult, now: float,
               window: datetime) -> VisitEvents:
        """Sightings, arrivals and decisions of one frame; closes visits the gallery has forgotten.

        `window` is the start of the open window; `scene` was computed on this frame (staff known)."""
        self._book.update(tracks, now)
        for arrival in scene.arrivals:
            self._groups.arrive(arrival.visitor, now, arrival.point)
        events = VisitEvents(counted=self._count(new_visitors, window), uncounted=self._uncount(scene.new_staff, window))
        self._hold_zones(scene.zone_visits, events)
        # Not every frame: the gallery's TTL is half an hour. A clock stepped back checks at once.
        if now >= self._next_check or now < self._next_check - 2 * CHECK_EVERY_S:
            self._next_check = now + CHECK_EVERY_S
            self._close(events, now, everyone=False)
        return events

    def flush(self, new_visitors: list[int], zone_visits: list[ZoneStay], now: float, window: datetime
              ) -> VisitEvents:
        """Shutdown: count the last decisions, close every visit and judge every open group."""
        events = VisitEvents(counted=self._count(new_visitors, window))
        self._hold_zones(zone_visits, events)
        self._close(events, now, everyone=True)
        events.groups += self._groups.flush(now)
        return events

    def _count(self, new_visitors: list[int], window: datetime) -> int:
        counted = 0
        for vid in new_visitors:
            self._owned.add(vid)
            if not self._is_staff(vid):
                self._counted_in[vid] = window
                counted += 1
        return counted

    def _uncount(self, new_staff: list[int], window: datetime) -> int:
        """Staff found out while the window that counted them is still open come back out of it."""
        taken = [vid for vid in new_staff if self._counted_in.get(vid) == window]
        for vid in taken:
            del self._counted_in[vid]
            log.debug("visitor %s is staff: no longer counted in the window of %s", vid, window.isoformat())
        return len(taken)

    def _hold_zones(self, stays: list[ZoneStay], events: VisitEvents) -> None:
        for stay in stays:
            if stay.visitor < 0:  # nobody's visit to wait for
                events.zone_visits.append(stay)
            elif not self._is_staff(stay.visitor):
                self._zones.setdefault(stay.visitor, []).append(stay)

    def _close(self, events: VisitEvents, now: float, *, everyone: bool) -> None:
        self._gallery.expire(now)
        for vid in self._book.open_visitors:
            if everyone or not self._gallery.knows(vid):
                self._close_one(vid, now, events)

    def _close_one(self, vid: int, now: float, events: VisitEvents) -> None:
        age, staff = self._ages.pop(vid), self._is_staff(vid)
        visit = self._book.close(vid, age, staff)
        events.groups += self._groups.close(vid, age, staff, now)
        if visit is not None and not staff and vid in self._owned:
            events.visits.append(visit)
        zones = self._zones.pop(vid, [])
        if not staff:  # this camera's zones: reported here whichever camera owns the visitor
            events.zone_visits += zones
        self._owned.discard(vid)
        self._counted_in.pop(vid, None)
        events.closed.append(vid)
