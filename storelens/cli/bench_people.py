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
    reid = common(sub.add_parser("reid", help="re-ID separation: Market-1501 pair and TUD-Campus ground truth (ROC)"))
    reid.add_argument("--model", action="append", help="re-ID model name (repeatable; default edge.reid.model)")
    reid.add_argument("--color-order", action="append", choices=["bgr", "rgb"],
                      help="channel order fed to NHWC retail models (repeatable; default both)")
    reid.add_argument("--k", type=int, nargs="+",
                      help="crops per track-level vector (default: edge.reid.embeddings_to_decide and 4)")
    reid.set_defaults(func=lambda args: _reid(args, media))
    track = common(sub.add_parser("tracking", help="ID switches, MOTA, IDF1 on TUD-Campus ground truth"))
    track.set_defaults(func=lambda args: _tracking(args, media))


def _config(args: argparse.Namespace):
    from edge_agent.samples import get_sample, sample_config_path
    from storelens.config import load_config

    return load_config(getattr(args, "config", None) or sample_config_path(get_sample()))


def _pipeline(args: argparse.Namespace, media: Callable) -> int:
    from devkit.bench.pipeline import bench_pipeline
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

    from edge_agent.detect.persons import build_person_detector
    from edge_agent.tracking.embedder import ReidEmbedder
    from edge_agent.tracking.evaluate import load_mot_gt

    cfg = _config(args)
    reid, root = cfg.edge.reid, media(args)
    pair = tuple(cv2.imread(str(p)) for p in sorted((root / "reid").glob("*.jpg"))[:2])
    frames = [cv2.imread(str(p)) for p in sorted((root / "persons").glob("*.jpg"))]
    detector = build_person_detector(cfg.edge.persons, cfg.models)
    gt = load_mot_gt(root / "gt" / "TUD-Campus.gt.txt")
    ks = args.k or [reid.embeddings_to_decide, 4]
    print(f"Market: same = the {root / 'reid'} pair (two cameras); different = every pair of detected people "
          f"(>= 60 px) within each of {len(frames)} frames in {root / 'persons'}")
    print("TUD-Campus ground truth: same = one id >= 20 frames apart; different = two ids in view at once; "
          f"'usable' = crops the identity stage embeds; track = mean of k usable crops, every "
          f"{reid.pending_every_frames} frames; threshold in use {reid.match_threshold}")
    for name in args.model or [reid.model]:
        for order in args.color_order or ["bgr", "rgb"]:
            embedder = ReidEmbedder.from_config(name, cfg.models, order)
            _market_report(f"{name} {order}", embedder, pair, frames, detector, reid.match_threshold)
            _tud_report(f"{name} {order}", embedder, root, gt, ks, reid)
    return 0


def _market_report(label: str, embedder, pair, frames, detector, threshold: float) -> None:
    import numpy as np

    from edge_agent.tracking.evaluate import reid_separation

    s = reid_separation(embedder, pair, frames, detector)
    d = np.asarray(s.different)
    print(f"{label} Market: same {s.same:.3f}; different n={len(d)} mean {d.mean():.3f} p95 "
          f"{np.percentile(d, 95):.3f} max {d.max():.3f}; different pairs >= same: {(d >= s.same).mean():.1%}; "
          f"threshold {threshold} accepts same={s.same >= threshold} and {(d >= threshold).mean():.1%} of different",
          flush=True)


def _tud_report(label: str, embedder, root, gt, ks: list[int], reid) -> None:
    from devkit.bench.reid import embed_gt_crops, single_crop_separation, track_separation

    crops = embed_gt_crops(root / "video" / "TUD-Campus.mp4", gt, embedder)
    rows = [("single, all crops", single_crop_separation(crops)),
            (f"single, usable ({int(crops.good.sum())}/{len(crops.good)})", single_crop_separation(crops, good_only=True))]
    rows += [(f"track k={k}", track_separation(crops, k, reid.pending_every_frames)) for k in ks]
    rows.append((f"track k={ks[0]}, all crops", track_separation(crops, ks[0], reid.pending_every_frames, good_only=False)))
    for what, sep in rows:
        print(f"{label} TUD {what}: {_roc_line(sep, reid.match_threshold)}", flush=True)


def _roc_line(sep, threshold: float) -> str:
    import numpy as np

    if len(sep.same) == 0 or len(sep.different) == 0:
        return f"too few pairs (same {len(sep.same)}, different {len(sep.different)})"
    ops = "; ".join(f"TPR {o.tpr:.2f} at FPR {o.fpr:.0%} (threshold {o.threshold:.3f})"
                    for o in (sep.at_fpr(0.01), sep.at_fpr(0.05)))
    tpr, fpr = sep.tpr_at(threshold)
    return (f"same n={len(sep.same)} mean {sep.same.mean():.3f} p5 {np.percentile(sep.same, 5):.3f}; different "
            f"n={len(sep.different)} mean {sep.different.mean():.3f} p99 {np.percentile(sep.different, 99):.3f}; "
            f"margin p5-p99 {sep.margin:+.3f}; {ops}; at {threshold}: TPR {tpr:.2f} FPR {fpr:.1%}")


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
