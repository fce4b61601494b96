"""One camera's edge pipeline: frames in, AggregateWindows out.

persons -> tracking -> re-ID (visitor identity) -> faces + age vote -> analytics -> windows.
The edge service and `storelens analyze` call only `CameraPipeline.from_config`, `process`
and `flush`. Frames, crops and embeddings stay inside this object.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from edge_agent.aggregate import WindowCounts, Windower
from edge_agent.analytics.homography import FloorMapper
from edge_agent.analytics.scene import FrameResult, SceneAnalytics
from edge_agent.attributes.visibility import FaceSummary, RecentFaces, measure
from edge_agent.sources.frame import Frame
from edge_agent.timing import StageTimes
from edge_agent.tracking.faces import AgeVotes
from edge_agent.tracking.gallery import ReidGallery
from edge_agent.tracking.identity import VisitorIdentity
from edge_agent.tracking.lifecycle import TrackEvents, TrackLifecycle
from edge_agent.tracking.tracker import PersonTracker
from edge_agent.types import Detections
from storelens.agebands import band_edges, band_names
from storelens.config import StorelensConfig
from storelens.config.edge import for_camera
from storelens.config.sources import CameraConfig
from storelens.wire import AggregateWindow

log = logging.getLogger(__name__)


def build_gallery(cfg: StorelensConfig) -> ReidGallery:
    """A gallery; pass one to every camera's pipeline for store-level re-ID."""
    return ReidGallery(cfg.edge.reid.ttl_s, cfg.edge.reid.match_threshold)


def pipelines_for(cfg: StorelensConfig) -> dict[str, CameraPipeline]:
    """A pipeline per configured camera; with `edge.reid.store_level` they share one gallery."""
    shared = build_gallery(cfg) if cfg.edge.reid.store_level else None
    return {cam.id: CameraPipeline.from_config(cfg, cam, shared) for cam in cfg.edge.cameras}


class CameraPipeline:
    def __init__(self, cfg: StorelensConfig, camera: CameraConfig, *, detector, faces, embedder,
                 gallery: ReidGallery, mapper: FloorMapper | None) -> None:
        edge = cfg.edge
        self._ids = (cfg.store_id, cfg.device_id, camera.id)
        self._detector = detector
        self._faces = faces
        self._faces_every = edge.pipeline.faces_every_frames
        self._tracker = PersonTracker(edge.tracking)
        self._lifecycle = TrackLifecycle(edge.tracking.track_buffer_frames)
        self.identity = VisitorIdentity(edge.reid, camera.id, gallery, embedder)
        self._ages = AgeVotes()
        self._recent_faces = RecentFaces(edge.quality.min_face_px)  # live face health: numbers only
        self.scene = SceneAnalytics(edge.analytics, mapper)
        self._band_edges = band_edges(edge.age.bands)
        self._windower = Windower(edge.window_minutes)
        self._owned: set[int] = set()  # visitors first seen by this camera: it counts them
        self.model_versions = _model_versions(cfg)
        self.times = StageTimes()
        self.next_seq = 0
        self.floor_mapper = mapper
        self._last_ts: datetime | None = None
        self.last_tracks = Detections.empty()

    @classmethod
    def from_config(cls, cfg: StorelensConfig, camera: CameraConfig, gallery: ReidGallery | None = None
                    ) -> CameraPipeline:
        from edge_agent.detect.persons import build_person_detector
        from edge_agent.tracking.embedder import ReidEmbedder

        cfg = for_camera(cfg, camera)
        edge = cfg.edge
        embedder = ReidEmbedder.from_config(edge.reid.model, cfg.models) if edge.reid.enabled else None
        mapper = FloorMapper.calibrate(edge.analytics.homography) if edge.analytics.homography else None
        return cls(cfg, camera, detector=build_person_detector(edge.persons, cfg.models),
                   faces=_build_faces(cfg), embedder=embedder, gallery=gallery or build_gallery(cfg), mapper=mapper)

    def process(self, frame: Frame, *, persons: Detections | None = None,
                faces: Detections | None = None) -> list[AggregateWindow]:
        """Run every stage on one frame; return the windows this frame's time closed.

        An accelerator that already detected (DeepStream, hardware/analytics_sink.py) passes
        `persons` and/or `faces` and those detectors are skipped; tracking, re-ID and the age vote
        still run here. Given faces carry data age, age_confidence, age_probs (NaN rows: no age).
        """
        closed = self._windower.advance(frame.ts)
        if frame.gap_s > 0:
            self._windower.add_gap(frame.ts - timedelta(seconds=frame.gap_s), frame.ts, closed)
        window = self._windower.current
        window.frames += 1
        self._last_ts = frame.ts
        self.times.frames += 1
        tracks, events = self._track(frame, persons)
        with self.times.stage("faces"):
            tracks = self._faces_and_ages(frame, tracks, faces)
        with self.times.stage("analytics"):
            self._analyse(frame, tracks, events, window)
        self.last_tracks = tracks  # for in-process tools (calibration view, tests); never exported
        return [self._build(w) for w in closed]

    def _track(self, frame: Frame, persons: Detections | None = None) -> tuple[Detections, TrackEvents]:
        if persons is None:
            with self.times.stage("persons"):
                persons = self._detector(frame.image)
        with self.times.stage("tracking"):
            tracks = self._tracker.update(persons)
            events = self._lifecycle.update(tracks)
        with self.times.stage("reid"):
            tracks = self.identity.update(frame.image, tracks, frame.ts)
        return tracks, events

    def _faces_and_ages(self, frame: Frame, tracks: Detections, given: Detections | None = None) -> Detections:
        faces = given
        # No tracked person, no one to give an age to: skip the face pipeline on empty scenes.
        if faces is None and self._faces is not None and len(tracks) and frame.index % self._faces_every == 0:
            faces = self._faces(frame.image)
        # An accelerator without a pixel copy sends a size-only frame: no visibility numbers then.
        seen = measure(frame.image, faces) if faces is not None and frame.image.size else None
        self._recent_faces.add(frame.ts.timestamp(), seen)
        return self._ages.update(tracks, Detections.empty() if faces is None else faces)

    def face_health(self) -> FaceSummary:
        """How well this camera has seen faces lately (size, backlight): aggregates for live health."""
        return self._recent_faces.summary()

    def _analyse(self, frame: Frame, tracks: Detections, events: TrackEvents, window: WindowCounts) -> None:
        now = frame.ts.timestamp()
        self.scene.ensure_heatmap(frame.image.shape[1], frame.image.shape[0])
        new = self.identity.new_visitors
        self._owned.update(new)
        self.scene.arrivals_without_lines(new, tracks, now)
        self.identity.new_visitors = []
        result = self.scene.update(tracks, now, self._bands(tracks))
        result.zone_visits += self.scene.end_tracks(events.ended)
        self.identity.end(events.ended, frame.ts)
        self._close_visits(result, now, everyone=False)
        self._count(result, window)

    def _bands(self, tracks: Detections) -> list[str]:
        return [str(b) for b in band_names(tracks.data["age"], self._band_edges)]

    def _close_visits(self, result: FrameResult, now: float, everyone: bool) -> None:
        """Close visits the gallery has forgotten (TTL ran out), or all of them at shutdown."""
        self.identity.gallery.expire(now)
        for vid in self.scene.visits.open_visitors:
            if everyone or not self.identity.gallery.knows(vid):
                visit, groups = self.scene.close_visit(vid, self._ages.pop(vid), now)
                if visit is not None and not visit.staff and vid in self._owned:
                    result.visits.append(visit)
                self._owned.discard(vid)
                result.groups += groups
        if everyone:
            result.groups += self.scene.groups.flush(now)

    def _count(self, result: FrameResult, window: WindowCounts) -> None:
        window.occupancy_max = max(window.occupancy_max, result.customers)
        window.entries += sum(c.direction == "in" for c in result.crossings)
        window.exits += sum(c.direction == "out" for c in result.crossings)
        for zv in result.zone_visits:
            window.zone_dwell.setdefault(zv.zone, []).append(zv.dwell_s)
        for visit in result.visits:
            window.add_visit(visit.dwell_s, visit.age)
        window.group_visits += sum(g.size >= 2 for g in result.groups)
        window.family_visits += sum(g.size >= 2 and g.family for g in result.groups)
        seen, low = self._ages.take_face_counts()
        window.faces_seen += seen
        window.faces_low_quality += low
        window.add_heat(*self.scene.heatmap.take())

    def flush(self, now: datetime | None = None) -> list[AggregateWindow]:
        """Shutdown: end every track and visit and close the current (partial) window."""
        closed = self._windower.advance(now) if now is not None else []
        window = self._windower.current
        if window is None:
            return [self._build(w) for w in closed]
        end = now or self._last_ts or window.start
        result = FrameResult(zone_visits=self.scene.zones.end_all())
        ended = self._lifecycle.end_all().ended
        self.scene.end_tracks(ended)
        self.identity.end(ended, end)
        self._owned.update(self.identity.new_visitors)  # tracks still undecided at shutdown decide in end()
        self.identity.new_visitors = []
        self._close_visits(result, end.timestamp(), everyone=True)
        self.scene.ensure_heatmap(1, 1)  # only when no frame ever arrived
        self._count(result, window)
        return [self._build(w) for w in [*closed, self._windower.close()]]

    def _build(self, counts: WindowCounts) -> AggregateWindow:
        heat = self.scene.heatmap
        shape = (heat.cell_m, heat.width_cells, heat.height_cells) if heat else (self.scene.cfg.heatmap_cell_m, 0, 0)
        window = counts.build(self._ids, self.next_seq, shape, self.model_versions)
        self.next_seq += 1
        return window


def _model_versions(cfg: StorelensConfig) -> dict[str, str]:
    from edge_agent.models import get_spec

    edge = cfg.edge
    names = {"persons": edge.persons.model}
    if edge.reid.enabled:
        names["reid"] = edge.reid.model
    if edge.pipeline.faces:
        names.update(faces=edge.faces.model, age=edge.age.model)
    return {role: f"{name}:{get_spec(name).sha256[:8]}" for role, name in names.items()}


def _build_faces(cfg: StorelensConfig):
    """The faces engineer's FacePipeline (faces, quality, age per face), or None when turned off."""
    if not cfg.edge.pipeline.faces:
        return None
    from edge_agent.faces import FacePipeline

    return FacePipeline.from_config(cfg)
