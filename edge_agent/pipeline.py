"""One camera's edge pipeline: frames in, AggregateWindows out. `CameraPipeline` wires the stages;
each stage keeps its own state.

persons -> tracking -> re-ID (visitor identity) -> faces + age vote -> scene (staff, lines, zones,
heatmap) -> visit lifecycle (unique visitors, visits, groups) -> windows.
The edge service and `storelens analyze` call only `CameraPipeline.from_config`, `process` and
`flush`; the edge service also `PipelineFactory.rebuild` after a stage failure. Frames, crops
and embeddings stay inside this object.

Every stage runs inside `times.stage(name)`: an exception in one leaves `process`/`flush` as a
StageFailure naming the stage and carrying the windows that call had already closed, so a caller
that recovers (edge_agent/supervise.py) loses none.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import numpy as np

from edge_agent.aggregate import WindowCounts, Windower
from edge_agent.analytics.homography import FloorMapper
from edge_agent.analytics.scene import FrameResult, SceneAnalytics
from edge_agent.analytics.visit_lifecycle import VisitEvents, VisitLifecycle
from edge_agent.attributes.visibility import FaceSummary, RecentFaces, measure
from edge_agent.sources.frame import Frame
from edge_agent.timing import StageFailure, StageTimes
from edge_agent.tracking.faces import AgeVotes
from edge_agent.tracking.gallery import ReidGallery
from edge_agent.tracking.identity import VisitorIdentity
from edge_agent.tracking.lifecycle import TrackEvents, TrackLifecycle
from edge_agent.tracking.tracker import PersonTracker
from edge_agent.types import Detections
from storelens.agebands import band_edges, band_index, band_labels
from storelens.config import StorelensConfig
from storelens.config.edge import for_camera
from storelens.config.sources import CameraConfig
from storelens.wire import AggregateWindow

log = logging.getLogger(__name__)


def build_gallery(cfg: StorelensConfig) -> ReidGallery:
    """A gallery; pass one to every camera's pipeline for store-level re-ID."""
    reid = cfg.edge.reid
    return ReidGallery(reid.ttl_s, reid.match_threshold, ambiguity_margin=reid.ambiguity_margin)


class PipelineFactory:
    """Builds each camera's pipeline (one gallery shared by all with `edge.reid.store_level`) and
    rebuilds one after a stage failure, keeping its open window and its gallery."""

    def __init__(self, cfg: StorelensConfig, *, cpu_persons: bool = True, cpu_faces: bool = True) -> None:
        self.cfg = cfg
        self._shared = build_gallery(cfg) if cfg.edge.reid.store_level else None
        self._cpu = {"cpu_persons": cpu_persons, "cpu_faces": cpu_faces}  # False: an accelerator detects

    def build(self, camera: CameraConfig) -> CameraPipeline:
        return CameraPipeline.from_config(self.cfg, camera, self._shared, **self._cpu)

    def rebuild(self, old: CameraPipeline) -> CameraPipeline:
        """Fresh stages for `old`'s camera. Its visits close into the open window first (best effort:
        the failed stage may fail again), then the new pipeline carries on that window."""
        try:
            old.retire()
        except StageFailure as exc:
            log.debug("camera %s: visits could not be closed before the rebuild: %s", old.camera.id, exc)
        new = CameraPipeline.from_config(self.cfg, old.camera, old.gallery, **self._cpu)
        new.adopt_windows(old)
        return new


def pipelines_for(cfg: StorelensConfig, *, cpu_persons: bool = True, cpu_faces: bool = True
                  ) -> dict[str, CameraPipeline]:
    """A pipeline per configured camera; with `edge.reid.store_level` they share one gallery.
    `cpu_persons`/`cpu_faces` False: no CPU detector is built (DeepStream passes its detections)."""
    factory = PipelineFactory(cfg, cpu_persons=cpu_persons, cpu_faces=cpu_faces)
    return {cam.id: factory.build(cam) for cam in cfg.edge.cameras}


class CameraPipeline:
    def __init__(self, cfg: StorelensConfig, camera: CameraConfig, *, detector, faces, embedder,
                 gallery: ReidGallery, mapper: FloorMapper | None) -> None:
        edge = cfg.edge
        self.camera = camera
        self.gallery = gallery
        self._ids = (cfg.store_id, cfg.device_id, camera.id)
        self._detector = detector
        self._faces = faces
        self._faces_every = edge.pipeline.faces_every_frames
        self._max_age_faces = edge.age.max_faces_per_visitor
        self._tracker = PersonTracker(edge.tracking)
        self._track_events = TrackLifecycle(edge.tracking.track_buffer_frames)
        self._identity = VisitorIdentity(edge.reid, camera.id, gallery, embedder)
        self._ages = AgeVotes()
        self._recent_faces = RecentFaces(edge.quality.min_face_px)  # live face health: numbers only
        self.scene = SceneAnalytics(edge.analytics, mapper)
        self._visits = VisitLifecycle(edge.analytics, gallery, self._ages, self.scene.is_staff)
        self._band_edges = band_edges(edge.age.bands)
        self._band_labels = np.array([*band_labels(self._band_edges), ""], dtype=object)  # "" = no age yet
        self._windower = Windower(edge.window_minutes)
        self.model_versions = _model_versions(cfg)
        self.times = StageTimes()
        self.next_seq = 0
        self.floor_mapper = mapper
        self._last_ts: datetime | None = None
        self._frame_size: tuple[int, int] | None = None  # (width, height): the pixel floor's extent
        self.last_tracks = Detections.empty()

    @classmethod
    def from_config(cls, cfg: StorelensConfig, camera: CameraConfig, gallery: ReidGallery | None = None, *,
                    cpu_persons: bool = True, cpu_faces: bool = True) -> CameraPipeline:
        from edge_agent.detect.persons import build_person_detector
        from edge_agent.tracking.embedder import ReidEmbedder

        cfg = for_camera(cfg, camera)
        edge = cfg.edge
        embedder = ReidEmbedder.from_config(edge.reid.model, cfg.models) if edge.reid.enabled else None
        mapper = FloorMapper.calibrate(edge.analytics.homography) if edge.analytics.homography else None
        detector = build_person_detector(edge.persons, cfg.models) if cpu_persons else None
        return cls(cfg, camera, detector=detector, faces=_build_faces(cfg) if cpu_faces else None,
                   embedder=embedder, gallery=gallery or build_gallery(cfg), mapper=mapper)

    def process(self, frame: Frame, *, persons: Detections | None = None,
                faces: Detections | None = None) -> list[AggregateWindow]:
        """Run every stage on one frame; return the windows this frame's time closed.

        An accelerator that already detected (DeepStream, hardware/analytics_sink.py) passes
        `persons` and/or `faces` and those detectors are skipped; tracking, re-ID and the age vote
        still run here. Given faces carry data age, age_confidence, age_low, age_high (NaN rows: no age).
        """
        closed = self._advance(frame)
        try:
            tracks, events = self._track(frame, persons)
            with self.times.stage("faces"):
                tracks = self._faces_and_ages(frame, tracks, faces)
            self._analyse(frame, tracks, events, self._windower.current)
        except StageFailure as failure:
            failure.windows = closed  # already closed before the stage failed: nothing is lost
            raise
        self.last_tracks = tracks  # for in-process tools (calibration view, tests); never exported
        return closed

    def skip(self, frame: Frame) -> list[AggregateWindow]:
        """A frame that is not analysed (the camera is backing off after stage failures): its time
        moves the windows on and counts as gap seconds. Returns the windows it closed."""
        return self._move_to(frame, gap_since=self._last_ts or frame.ts)

    def _advance(self, frame: Frame) -> list[AggregateWindow]:
        """Move the windows to this frame's time and count it; build the ones it closed."""
        gap_since = frame.ts - timedelta(seconds=frame.gap_s) if frame.gap_s > 0 else None
        closed = self._move_to(frame, gap_since)
        self._windower.current.add("frames", 1)
        self.times.frames += 1
        return closed

    def _move_to(self, frame: Frame, gap_since: datetime | None) -> list[AggregateWindow]:
        """The windows at this frame's time, [gap_since, frame time) as gap seconds; the closed ones built."""
        closed = self._windower.advance(frame.ts)
        if gap_since is not None:
            self._windower.add_gap(gap_since, frame.ts, closed)
        self._last_ts = frame.ts
        self._frame_size = (frame.image.shape[1], frame.image.shape[0])
        self.scene.ensure_heatmap(*self._frame_size)  # before a window is built
        return [self._build(w) for w in closed]

    def _track(self, frame: Frame, persons: Detections | None = None) -> tuple[Detections, TrackEvents]:
        if persons is None:
            with self.times.stage("persons"):
                persons = self._detector(frame.image)
        with self.times.stage("tracking"):
            tracks = self._tracker.update(persons)
            events = self._track_events.update(tracks)
        with self.times.stage("reid"):
            tracks = self._identity.update(frame.image, tracks, frame.ts)
        return tracks, events

    def _faces_and_ages(self, frame: Frame, tracks: Detections, given: Detections | None = None) -> Detections:
        faces = given
        # No tracked person, no one to give an age to: skip the face pipeline on empty scenes.
        if faces is None and self._faces is not None and len(tracks) and frame.index % self._faces_every == 0:
            faces = self._faces(frame.image, age_wanted=lambda found: self._ages.wanted(
                tracks, found, self._max_age_faces))
        # An accelerator without a pixel copy sends a size-only frame: no visibility numbers then.
        seen = measure(frame.image, faces) if faces is not None and frame.image.size else None
        self._recent_faces.add(frame.ts.timestamp(), seen)
        return self._ages.update(tracks, Detections.empty() if faces is None else faces)

    def face_health(self) -> FaceSummary:
        """How well this camera has seen faces lately (size, backlight): aggregates for live health."""
        return self._recent_faces.summary()

    def _analyse(self, frame: Frame, tracks: Detections, events: TrackEvents, window: WindowCounts) -> None:
        now = frame.ts.timestamp()
        # Decisions are taken off the identity stage only once counted, so a failing stage loses none.
        new = list(self._identity.new_visitors)
        with self.times.stage("analytics"):
            result = self.scene.update(tracks, now, self._bands(tracks), new)
            result.zone_visits += self.scene.end_tracks(events.ended)
        with self.times.stage("reid"):
            self._identity.end(events.ended, frame.ts)  # may decide more: counted on the next frame
        with self.times.stage("visits"):
            visits = self._visits.update(tracks, new, result, now, window.start)
            del self._identity.new_visitors[:len(new)]
            self.scene.forget_visitors(visits.closed)
            self._count(window, result, visits)

    def _new_visitors(self) -> list[int]:
        """Every visitor the identity stage decided is new and nobody counted yet."""
        new, self._identity.new_visitors = self._identity.new_visitors, []
        return new

    def _bands(self, tracks: Detections) -> list[str]:
        return self._band_labels[band_index(tracks.data["age"], self._band_edges)].tolist()

    def _count(self, window: WindowCounts, result: FrameResult, visits: VisitEvents) -> None:
        window.peak("occupancy_max", result.customers)
        window.add("entries", sum(c.direction == "in" for c in result.crossings))
        window.add("exits", sum(c.direction == "out" for c in result.crossings))
        window.add("unique_visitors", visits.counted - visits.uncounted)
        for stay in visits.zone_visits:  # zone visits count when their visit closes, as dwell does
            window.zone_dwell.setdefault(stay.zone, []).append(stay.dwell_s)
        for visit in visits.visits:
            window.add_closed_visit(visit.dwell_s, visit.age)
        window.add("group_visits", sum(g.size >= 2 for g in visits.groups))
        window.add("family_visits", sum(g.size >= 2 and g.family for g in visits.groups))
        seen, low = self._ages.take_face_counts()
        window.add("faces_seen", seen)
        window.add("faces_low_quality", low)
        window.add_heat(*self.scene.take_heat())

    def retire(self, now: datetime | None = None) -> list[AggregateWindow]:
        """End every track and visit into the open window, which stays open; returns the windows
        `now` (if given) closed first. Part of `flush`, and of a rebuild after a stage failure."""
        closed = [self._build(w) for w in self._windower.advance(now)] if now is not None else []
        window = self._windower.current
        if window is None:
            return closed
        end = now or self._last_ts or window.start
        try:
            with self.times.stage("visits"):
                result = FrameResult()
                stays = self.scene.end_all()
                ended = self._track_events.end_all().ended
                self.scene.end_tracks(ended)
                self._identity.end(ended, end)  # tracks still undecided decide now
                visits = self._visits.flush(self._new_visitors(), stays, end.timestamp(), window.start)
                self.scene.forget_visitors(visits.closed)
                self._count(window, result, visits)
        except StageFailure as failure:
            failure.windows = closed
            raise
        return closed

    def flush(self, now: datetime | None = None) -> list[AggregateWindow]:
        """Shutdown: end every track and visit and close the current (partial) window."""
        try:
            closed = self.retire(now)
        except StageFailure as failure:
            failure.windows += self.close_windows()  # the counts so far still leave
            raise
        return closed + self.close_windows()

    def close_windows(self) -> list[AggregateWindow]:
        """The open window, built as it stands (no stage runs)."""
        window = self._windower.close()
        return [] if window is None else [self._build(window)]

    def adopt_windows(self, old: CameraPipeline) -> None:
        """Carry on `old`'s open window and window sequence (after a rebuild): its counts are kept,
        and so are its stage times and error counts (metrics keep counting up)."""
        self._windower, self.next_seq, self._last_ts = old._windower, old.next_seq, old._last_ts
        self.times = old.times
        self._frame_size = old._frame_size
        if self._frame_size is not None:  # its heat cells lie on that floor grid, even before a new frame
            self.scene.ensure_heatmap(*self._frame_size)

    def _build(self, counts: WindowCounts) -> AggregateWindow:
        window = counts.build(self._ids, self.next_seq, self.scene.heat_shape(), self.model_versions)
        self.next_seq += 1
        return window


def _model_versions(cfg: StorelensConfig) -> dict[str, str]:
    from edge_agent.attributes.age_stage import age_version_suffix
    from edge_agent.models import get_spec

    edge = cfg.edge
    names = {"persons": edge.persons.model}
    if edge.reid.enabled:
        names["reid"] = edge.reid.model
    if edge.pipeline.faces:
        names.update(faces=edge.faces.model, age=edge.age.model)
    versions = {role: f"{name}:{get_spec(name).sha256[:8]}" for role, name in names.items()}
    if "age" in versions:
        versions["age"] += age_version_suffix(edge.age)  # the calibration table changes what it reports
    return versions


def _build_faces(cfg: StorelensConfig):
    """The faces engineer's FacePipeline (faces, quality, age per face), or None when turned off."""
    if not cfg.edge.pipeline.faces:
        return None
    from edge_agent.faces import FacePipeline

    return FacePipeline.from_config(cfg)
