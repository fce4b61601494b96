"""`storelens bench pipeline|reid|tracking`: people-analytics benchmarks (added to the `bench` parser)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable


def add_parsers(sub: argparse._SubParsersAction, common: Callable, media: Callable) -> None:
    pipe = common(sub.add_parser("pipeline", help="full edge pipeline fps per resolution, per-stage ms, peak memory"))
    pipe.add_argument("--frames", type=int, default=200, help="timed frames per resolution (after 10 warm-up)")
    pipe.add_argument("--sizes", nargs="+", default=["native", "1280x720"], help="'native' or WxH (upscaled frames)")
    pipe.add_argument("--threads", type=int, help="ONNX Runtime threads per model (overrides models.intra_op_threads)")
    pipe.set_defaults(func=lambda args: _pipeline(args, media))
    reid = common(sub.add_parser("reid", help="re-ID separation: same-person pair vs different people (cosine)"))
    reid.add_argument("--model", action="append", help="re-ID model name (repeatable; default edge.reid.model)")
    reid.set_defaults(func=lambda args: _reid(args, media))
    track = common(sub.add_parser("tracking", help="ID switches, MOTA, IDF1 on TUD-Campus ground truth"))
    track.set_defaults(func=lambda args: _tracking(args, media))


def _config(args: argparse.Namespace):
    from edge_agent.samples import get_sample, sample_config_path
    from storelens.config import load_config

    return load_config(args.config or sample_config_path(get_sample()))


def _pipeline(args: argparse.Namespace, media: Callable) -> int:
    from edge_agent.pipeline_bench import bench_pipeline
    from edge_agent.samples import fetch_sample, get_sample

    cfg = _config(args)
    if args.threads is not None:
        cfg = cfg.model_copy(update={"models": cfg.models.model_copy(update={"intra_op_threads": args.threads})})
    video = fetch_sample(get_sample(), str(media(args) / "video"))
    print(f"full pipeline on {video.name}: persons, tracking, re-ID, faces (every "
          f"{cfg.edge.pipeline.faces_every_frames}) + age, analytics; {args.frames} timed frames")
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work on the box slows every stage)")
    for spec in args.sizes:
        size = None if spec == "native" else tuple(int(v) for v in spec.lower().split("x"))
        r = bench_pipeline(cfg, video, size, args.frames)
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r.stage_ms.items())
        print(f"{r.size[0]}x{r.size[1]}: {r.fps:.1f} fps ({1000 / r.fps:.1f} ms/frame); stage ms/frame: {stages}; "
              f"decode+resize {r.decode_ms:.1f} ms (not included); peak RSS {r.peak_rss_mb:.0f} MiB", flush=True)
    return 0


def _reid(args: argparse.Namespace, media: Callable) -> int:
    import cv2
    import numpy as np

    from edge_agent.detect.persons import build_person_detector
    from edge_agent.tracking.embedder import ReidEmbedder
    from edge_agent.tracking.evaluate import reid_separation

    cfg = _config(args)
    root = media(args)
    pair = tuple(cv2.imread(str(p)) for p in sorted((root / "reid").glob("*.jpg"))[:2])
    frames = [cv2.imread(str(p)) for p in sorted((root / "persons").glob("*.jpg"))]
    detector = build_person_detector(cfg.edge.persons, cfg.models)
    print(f"same person: {root / 'reid'} pair; different: every pair of detected people (>= 60 px) "
          f"within each of {len(frames)} frames in {root / 'persons'}")
    for name in args.model or [cfg.edge.reid.model]:
        s = reid_separation(ReidEmbedder.from_config(name, cfg.models), pair, frames, detector)
        d = np.asarray(s.different)
        print(f"{name}: same {s.same:.3f}; different n={len(d)} mean {d.mean():.3f} p95 {np.percentile(d, 95):.3f} "
              f"max {d.max():.3f}; different pairs >= same: {(d >= s.same).mean():.1%}; "
              f"threshold {cfg.edge.reid.match_threshold} accepts same={s.same >= cfg.edge.reid.match_threshold} "
              f"and {(d >= cfg.edge.reid.match_threshold).mean():.1%} of different pairs")
    return 0


def _tracking(args: argparse.Namespace, media: Callable) -> int:
    from edge_agent.detect.persons import build_person_detector
    from edge_agent.tracking.evaluate import load_mot_gt, score_tracks, track_video
    from edge_agent.tracking.tracker import PersonTracker

    cfg = _config(args)
    root = media(args)
    tracks = track_video(root / "video" / "TUD-Campus.mp4", build_person_detector(cfg.edge.persons, cfg.models),
                         PersonTracker(cfg.edge.tracking))
    s = score_tracks(tracks, load_mot_gt(root / "gt" / "TUD-Campus.gt.txt"))
    print(f"TUD-Campus ({s.frames} frames, {s.gt_ids} people in ground truth): {s.id_switches} ID switches, "
          f"MOTA {s.mota:.3f}, IDF1 {s.idf1:.3f}, {s.track_ids} track ids ({cfg.edge.persons.type} + ByteTrack)")
    return 0
