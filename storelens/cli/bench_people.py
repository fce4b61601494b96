"""`storelens bench pipeline|reid|tracking|persons`: people-analytics benchmarks (added to the `bench` parser)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable


def add_parsers(sub: argparse._SubParsersAction, common: Callable, media: Callable) -> None:
    pipe = common(sub.add_parser("pipeline", help="full edge pipeline fps with decode, against decode + models "
                                                  "only on the same frames; per-stage ms, peak memory"))
    pipe.add_argument("--video", help="any video file (default: a 1280x720 crowd built from the PETS sample)")
    pipe.add_argument("--size", default="1280x720", help="WxH of the crowd built from PETS when no --video")
    pipe.add_argument("--frames", type=int, default=300, help="timed frames (after 10 warm-up)")
    pipe.add_argument("--threads", type=int, help="ONNX Runtime threads per model (overrides models.intra_op_threads)")
    pipe.set_defaults(func=lambda args: _pipeline(args, media))
    reid = common(sub.add_parser("reid", help="re-ID separation: Market-1501 pair and TUD-Campus ground truth (ROC)"))
    reid.add_argument("--model", action="append", help="re-ID model name (repeatable; default edge.reid.model)")
    reid.add_argument("--color-order", action="append", choices=["bgr", "rgb"],
                      help="channel order fed to NHWC retail models (repeatable; default both)")
    reid.add_argument("--k", type=int, nargs="+",
                      help="crops per track-level vector (default: edge.reid.embeddings_to_decide and 4)")
    reid.set_defaults(func=lambda args: _reid(args, media))
    track = common(sub.add_parser(
        "tracking", help="ID switches, MOTA, IDF1 on TUD-Campus; the audit on derived scenarios; PETS sanity"))
    track.add_argument("--lines", help="line config for the scenario audits (default tests/data/audit/"
                                       "tud_campus_lines.yaml)")
    track.add_argument("--scenarios", nargs="+", help="only these scenarios (original flip reverse half-fps "
                                                      "scale-0.6 scale-2 crop)")
    track.set_defaults(func=lambda args: _tracking(args, media))
    persons = common(sub.add_parser(
        "persons", help="person recall per detector option on hand-annotated crowd frames, with ms/frame"))
    persons.add_argument("--repeat", type=int, default=5, help="timed runs per frame (median reported)")
    persons.add_argument("--only", nargs="+", help="only options whose name contains one of these words")
    persons.set_defaults(func=lambda args: _persons(args, media))


def _config(args: argparse.Namespace):
    from edge_agent.samples import get_sample, sample_config_path
    from storelens.config import load_config

    return load_config(getattr(args, "config", None) or sample_config_path(get_sample()))


def _pipeline(args: argparse.Namespace, media: Callable) -> int:
    from pathlib import Path

    from devkit.bench.pipeline import bench_pipeline

    cfg, video, what = _pipeline_input(args, media)
    if args.threads is not None:
        cfg = cfg.model_copy(update={"models": cfg.models.model_copy(update={"intra_op_threads": args.threads})})
    every = cfg.edge.pipeline.faces_every_frames
    print(f"video: {video} ({what})")
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: fps move with other work on the box, "
          "the ratio much less (both are timed frame by frame in the same loop)")
    r = bench_pipeline(cfg, Path(video), args.frames)
    stages = ", ".join(f"{k} {v:.1f}" for k, v in r.stage_ms.items())
    print(f"{r.size[0]}x{r.size[1]}, {r.frames} frames, {r.people_per_frame:.1f} tracked people per frame")
    print(f"full pipeline, decode included:       {r.fps:6.1f} fps ({1000 / r.fps:.1f} ms/frame)")
    print(f"decode + models only (persons every frame, faces every {every}): {r.bound_fps:6.1f} fps "
          f"({1000 / r.bound_fps:.1f} ms/frame)")
    print(f"ratio full / models-only:             {r.ratio:6.2f} (target >= 0.80)")
    print(f"stage ms/frame: decode {r.decode_ms:.1f}, {stages}; peak RSS {r.peak_rss_mb:.0f} MiB", flush=True)
    return 0


def _pipeline_input(args: argparse.Namespace, media: Callable):
    """(config, video, what it is): the given video with the given (or default) config, else the PETS
    crowd at --size with the PETS scene config scaled to that size."""
    from devkit.bench.pipeline import crowd_video, scaled_scene
    from edge_agent.samples import fetch_sample, get_sample
    from storelens.config import load_config, locate_config
    from storelens.errors import InputError
    from storelens.paths import data_dir

    if args.video:
        return load_config(locate_config(getattr(args, "config", None))), args.video, "as given"
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise InputError(f"--size {args.size!r}: expected WxH, e.g. 1280x720") from None
    sample = fetch_sample(get_sample(), str(media(args) / "video"))
    cfg = _config(args)
    cfg = scaled_scene(cfg, width / 480, height / 360)
    video = crowd_video(sample, data_dir() / "samples", (width, height))
    return cfg, video, f"PETS 2009 480x360 upscaled to {width}x{height}, H.264; its scene config scaled to match"


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
    from storelens.extras import require
    from storelens.progress import Progress

    require("motmetrics")  # scores the tracks: say so before tracking the whole video
    cfg = _config(args)
    root = media(args)
    with Progress("bench tracking TUD-Campus", 71) as progress:
        tracks = track_video(root / "video" / "TUD-Campus.mp4", build_person_detector(cfg.edge.persons, cfg.models),
                             PersonTracker(cfg.edge.tracking), progress=progress)
    s = score_tracks(tracks, load_mot_gt(root / "gt" / "TUD-Campus.gt.txt"))
    print(f"TUD-Campus ({s.frames} frames, {s.gt_ids} people in ground truth): {s.id_switches} ID switches, "
          f"MOTA {s.mota:.3f}, IDF1 {s.idf1:.3f}, {s.track_ids} track ids ({cfg.edge.persons.type} + "
          f"{cfg.edge.tracking.type} tracker)", flush=True)
    _scenario_table(args, cfg, root)
    _pets_sanity(cfg, root)
    return 0


def _scenario_table(args: argparse.Namespace, cfg, root) -> None:
    """The audit (full pipeline, lines from --lines) on TUD-Campus and its derived variants."""
    from pathlib import Path

    import yaml

    from devkit.bench.tracking import audit_scenarios, header, row
    from storelens.paths import PROJECT_ROOT

    lines = Path(args.lines) if args.lines else PROJECT_ROOT / "tests" / "data" / "audit" / "tud_campus_lines.yaml"
    names = [ln["name"] for ln in yaml.safe_load(lines.read_text())["edge"]["analytics"]["lines"]]
    print(f"\naudit per scenario (storelens audit on each; lines {lines.name}; accuracy per line, 'all lines' "
          "adds up every line's own errors; visitors counted/ground truth; IDSW and IDF1 of person tracks, then "
          "IDF1 with tracks joined by re-ID)")
    print(header(names))
    results = []
    for result in audit_scenarios(root / "video" / "TUD-Campus.mp4", root / "gt" / "TUD-Campus.gt.txt", lines,
                                  cfg.models, args.scenarios):
        results.append(result)
        print(row(result, names), flush=True)
    acc = [r.report.total.accuracy for r in results]
    err = [abs(r.report.visitors.error) for r in results if r.report.visitors.error is not None]
    print(f"mean over {len(results)} scenarios: all-lines count accuracy {sum(acc) / len(acc):.3f}, "
          f"unique-visitor |error| {100 * sum(err) / max(len(err), 1):.1f} %")


def _pets_sanity(cfg, root) -> None:
    """PETS 2009 has no ground truth here: print what fragmentation would show (visitors vs tracks vs crossings)."""
    from devkit.bench.tracking import pets_sanity

    r = pets_sanity(root / "video" / "vtest_pets2009_480x360.avi", cfg.models)
    print(f"\nPETS 2009 sample ({r.frames} frames, sample scene config): {r.tracks} person tracks, "
          f"{r.visitors} unique visitors, entries/exits {r.entries}/{r.exits} on line 'path' (hand-made crossing "
          f"list {r.expected_in}/{r.expected_out}: count accuracy {r.accuracy:.3f}), occupancy max "
          f"{r.occupancy_max}; tracks whose colours change part-way (one person's track taken over by another): "
          f"{r.impure} of {r.long_tracks} tracks of 30+ frames")


def _persons(args: argparse.Namespace, media: Callable) -> int:
    from devkit.bench.persons import REFERENCE, load_reference, options, score_option
    from storelens.cli import load_cli_config

    cfg = load_cli_config(args)
    refs = load_reference()
    root = media(args)
    print(f"person recall (IoU >= 0.5) on {len(refs)} frames of {root / 'persons'}, hand-annotated reference "
          f"{REFERENCE.name}; ms/frame = median of {args.repeat} runs on this box, provisional under load "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for name, option in options().items():
        if args.only and not any(word in name for word in args.only):
            continue
        scores = score_option(option, cfg.models, root, refs, args.repeat)
        found, people = sum(s.found for s in scores), sum(s.people for s in scores)
        cells = "; ".join(f"{s.image.split('.')[0]} {s.found}/{s.people} fp {s.false_positives} {s.ms:.0f} ms"
                          for s in scores)
        print(f"{name:<40} recall {found / people:.3f} ({found}/{people}) | {cells}", flush=True)
    return 0

